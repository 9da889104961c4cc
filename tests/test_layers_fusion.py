"""Fusion, modality-mask and user-history layers: shared layer check plus behaviour."""

import keras
import numpy as np
import pytest

from hashtag_kit.layers import (
    ConcatFusion,
    GatedFusion,
    ModalityMask,
    SumFusion,
    UserHistoryEncoder,
)
from hashtag_kit.testing import check_layer

RNG = np.random.default_rng(0)
T = RNG.normal(size=(4, 6)).astype("float32")  # text features (batch, d_t)
V = RNG.normal(size=(4, 5)).astype("float32")  # image features (batch, d_v)
M_T = np.array([1, 0, 1, 1], "float32")  # the second post has no text
M_V = np.array([1, 1, 0, 1], "float32")  # the third post has no image


def test_concat_fusion_check_layer():
    # Dense over the 6 + 5 concatenated features: 11 * 3 + 3
    check_layer(ConcatFusion(3), [T, V], (4, 3), expected_trainable_params=36)
    check_layer(ConcatFusion(3), [T, V, M_T, M_V], (4, 3), expected_trainable_params=36)


def test_sum_fusion_check_layer_and_masking():
    check_layer(SumFusion(3), [T, V, M_T, M_V], (4, 3), expected_trainable_params=(6 + 5 + 2) * 3)
    layer = SumFusion(3)
    p = keras.ops.convert_to_numpy(layer([T, V, M_T, M_V]))
    image_only = keras.ops.convert_to_numpy(layer.image_projection(V))
    np.testing.assert_allclose(p[1], image_only[1], atol=1e-6)  # missing text adds nothing


def test_gated_fusion_check_layer():
    units, hidden = 3, 4
    params = (6 + 1) * units + (5 + 1) * units  # projections
    params += 2 * (2 * units)  # BatchNorm gamma/beta on concat(t, v)
    params += (2 * units + 1) * hidden + 2 * hidden + (hidden + 1) * units
    check_layer(
        GatedFusion(units, hidden_units=hidden),
        [T, V, M_T, M_V],
        (4, units),
        expected_trainable_params=params,
    )


def test_gated_fusion_is_a_gated_mix_and_uses_only_present_modalities():
    layer = GatedFusion(3, return_gate=True)
    p, w = (keras.ops.convert_to_numpy(x) for x in layer([T, V, M_T, M_V], training=False))
    t = keras.ops.convert_to_numpy(layer.text_projection(T))
    v = keras.ops.convert_to_numpy(layer.image_projection(V))
    assert np.all((w > 0) & (w < 1))
    np.testing.assert_allclose(p, (1 - w) * t * M_T[:, None] + w * v * M_V[:, None], atol=1e-6)
    np.testing.assert_allclose(p[1], w[1] * v[1], atol=1e-6)  # no text: from the image alone
    np.testing.assert_allclose(p[2], (1 - w[2]) * t[2], atol=1e-6)  # no image: from the text
    # the text of a text-less post is ignored, whatever values its (zero) features hold
    noisy = T.copy()
    noisy[1] = 100.0
    p2 = keras.ops.convert_to_numpy(layer([noisy, V, M_T, M_V], training=False)[0])
    np.testing.assert_allclose(p2[1], p[1], atol=1e-6)


def test_modality_mask_check_layer_and_eval_mode():
    out_shapes = [(4, 6), (4, 5), (4,), (4,)]
    check_layer(ModalityMask(0.5, seed=1), [T, V, M_T, M_V], out_shapes, train=False)
    text, image, m_t, m_v = (
        keras.ops.convert_to_numpy(x) for x in ModalityMask(0.9)([T, V, M_T, M_V], training=False)
    )
    np.testing.assert_array_equal(m_v, M_V)
    np.testing.assert_array_equal(m_t, M_T)
    assert not text[1].any() and not image[2].any()
    np.testing.assert_allclose(text[0], T[0])


def test_modality_dropout_drops_one_modality_of_complete_posts_only():
    n = 4000
    img, txt = np.ones((n, 2), "float32"), np.ones((n, 3), "float32")
    ones = np.ones(n, "float32")
    no_text = np.zeros(n, "float32")
    layer = ModalityMask(0.4, seed=3)
    _, _, m_t, m_v = (
        keras.ops.convert_to_numpy(x) for x in layer([txt, img, ones, ones], training=True)
    )
    assert np.all(m_v + m_t >= 1)  # never both dropped
    assert abs((1 - m_t).mean() - 0.2) < 0.03 and abs((1 - m_v).mean() - 0.2) < 0.03
    # a post already missing its text keeps its image
    _, _, m_t, m_v = (
        keras.ops.convert_to_numpy(x) for x in layer([txt, img, no_text, ones], training=True)
    )
    assert m_v.min() == 1 and m_t.max() == 0
    with pytest.raises(ValueError, match="rate"):
        ModalityMask(1.5)


def test_user_history_encoder_check_layer_and_cold_start():
    hist = np.array([[4, 5, 0], [0, 0, 0], [7, 0, 0], [9, 8, 6]], "int32")
    q = RNG.normal(size=(4, 5)).astype("float32")
    vocab, emb, units = 10, 4, 3
    params = vocab * emb + 5 * emb + (emb + 1) * units + units
    check_layer(
        UserHistoryEncoder(vocab, emb, units),
        [q, hist],
        (4, units),
        expected_trainable_params=params,
    )
    layer = UserHistoryEncoder(vocab, emb, units)
    u = keras.ops.convert_to_numpy(layer([q, hist]))
    layer.no_history.assign(np.array([0.5, -0.5, 0.25], "float32"))
    u = keras.ops.convert_to_numpy(layer([q, hist]))
    np.testing.assert_allclose(u[1], [0.5, -0.5, 0.25])  # cold start -> learned fallback
    assert np.all(np.isfinite(u))
    # padding never contributes: appending zeros changes nothing
    u_pad = keras.ops.convert_to_numpy(layer([q, np.pad(hist, ((0, 0), (0, 4)))]))
    np.testing.assert_allclose(u_pad, u, atol=1e-6)
    # a different history changes the user vector
    other = hist.copy()
    other[0] = [2, 3, 0]
    assert not np.allclose(keras.ops.convert_to_numpy(layer([q, other]))[0], u[0])
