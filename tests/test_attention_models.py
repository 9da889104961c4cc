import keras
import numpy as np
import pytest

from hashtag_kit.layers.additive_attention import AdditiveAttention
from hashtag_kit.testing import check_layer

RNG = np.random.default_rng(0)
Q = RNG.normal(size=(3, 5)).astype("float32")
V = RNG.normal(size=(3, 7, 16)).astype("float32")
M = np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [0] * 7], dtype="float32")


# -- AdditiveAttention ----------------------------------------------------------------------
def test_additive_attention_shared_check_with_query_and_mask():
    keras.utils.set_random_seed(0)
    # values_proj 16*8+8, query_proj 5*8, score 8
    check_layer(AdditiveAttention(8), [Q, V, M], [(3, 16), (3, 7)], 16 * 8 + 8 + 5 * 8 + 8)


def test_additive_attention_shared_check_without_query():
    keras.utils.set_random_seed(0)
    check_layer(AdditiveAttention(4), V, [(3, 16), (3, 7)], 16 * 4 + 4 + 4)


def test_additive_attention_masking_and_weighted_sum():
    keras.utils.set_random_seed(0)
    att = AdditiveAttention(8)
    ctx, w = att(Q, V, mask=M)
    ctx, w = np.asarray(ctx), np.asarray(w)
    np.testing.assert_allclose(w[:2].sum(-1), 1.0, atol=1e-5)
    assert np.all(w[1, 3:] == 0) and np.all(w[1, :3] > 0)
    np.testing.assert_array_equal(w[2], 0.0)  # everything masked: no weight, zero context
    np.testing.assert_array_equal(ctx[2], 0.0)
    np.testing.assert_allclose(ctx, np.einsum("br,brd->bd", w, V), atol=1e-5)
    # the list form gives the same result; another query gives other weights
    ctx2, w2 = att([Q, V, M])
    np.testing.assert_allclose(np.asarray(w2), w, atol=1e-6)
    _, w3 = att(-3 * Q, V, mask=M)
    assert not np.allclose(np.asarray(w3)[0], w[0])


def test_additive_attention_rejects_missing_values():
    with pytest.raises(ValueError, match="list of 4"):
        AdditiveAttention(4)([Q, V, M, M])


# -- CoAttention ----------------------------------------------------------------------------
def test_co_attention_shared_check():
    from hashtag_kit.layers.co_attention import CoAttention

    keras.utils.set_random_seed(0)
    regions = RNG.normal(size=(3, 9, 12)).astype("float32")
    words = RNG.normal(size=(3, 7, 16)).astype("float32")
    # image attention: values 12*8+8, query (text) 16*8, score 8; text attention: 16*8+8, 12*8, 8
    n = (12 * 8 + 8 + 16 * 8 + 8) + (16 * 8 + 8 + 12 * 8 + 8)
    check_layer(CoAttention(8), [regions, words, M], [(3, 12), (3, 16), (3, 9), (3, 7)], n)


def test_co_attention_text_guides_image_and_masks_words():
    from hashtag_kit.layers.co_attention import CoAttention

    keras.utils.set_random_seed(0)
    regions = RNG.normal(size=(3, 9, 12)).astype("float32")
    words = RNG.normal(size=(3, 7, 16)).astype("float32")
    co = CoAttention(8)
    v, s, a_img, a_txt = (np.asarray(t) for t in co([regions, words, M]))
    np.testing.assert_allclose(a_img.sum(-1), 1.0, atol=1e-5)
    assert np.all(a_txt[1, 3:] == 0) and np.all(a_txt[2] == 0)
    np.testing.assert_allclose(v, np.einsum("br,brd->bd", a_img, regions), atol=1e-5)
    # other words -> another text summary -> other weights over the same regions
    _, _, a_img2, _ = co([regions, words[::-1], M])
    assert not np.allclose(np.asarray(a_img2)[0], a_img[0])
