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


# -- AttentionHashtagClassifier ---------------------------------------------------------------
def _classifier_inputs(n=3, regions=4, region_dim=6, words=3):
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 10, size=(n, words)).astype("int32")
    tokens[-1] = 0  # a post without text
    return {
        "regions": rng.normal(size=(n, regions, region_dim)).astype("float32"),
        "tokens": tokens,
    }


SMALL = dict(n_tags=5, vocab_size=10, units=8, embedding_dim=4)
# region_proj 6*8+8, image LSTM 4*(8*16+8), embedding 10*4, Bi-LSTM 2*4*(4*8+4), classifier
_IMAGE = 56 + 544 + 144  # + image attention (values 8*8+8, query 8*8, score 8)
_TEXT = 40 + 288 + 80  # + text self-attention (values 8*8+8, score 8)


@pytest.mark.parametrize(
    "modality,n_params",
    [("both", _IMAGE + _TEXT + 16 * 5 + 5), ("image", _IMAGE + 8 * 5 + 5), ("text", _TEXT + 45)],
)
def test_attention_classifier_shared_check(modality, n_params):
    from hashtag_kit.models.attention_classifier import AttentionHashtagClassifier

    keras.utils.set_random_seed(0)
    x = _classifier_inputs()
    if modality == "image":
        x = {"regions": x["regions"]}
    elif modality == "text":
        x = {"tokens": x["tokens"]}
    check_layer(AttentionHashtagClassifier(modality=modality, **SMALL), x, (3, 5), n_params)


def test_attention_classifier_co_attention_shared_check():
    from hashtag_kit.models.attention_classifier import AttentionHashtagClassifier

    keras.utils.set_random_seed(0)
    co = (8 * 8 + 8 + 8 * 8 + 8) * 2  # both attentions: values, query, score
    n = 56 + 544 + 40 + 288 + co + 16 * 5 + 5
    model = AttentionHashtagClassifier(fusion="co_attention", **SMALL)
    check_layer(model, _classifier_inputs(), (3, 5), n)


def test_attention_classifier_attention_weights_and_errors():
    from hashtag_kit.models.attention_classifier import AttentionHashtagClassifier

    keras.utils.set_random_seed(0)
    x = _classifier_inputs()
    probs, att = AttentionHashtagClassifier(**SMALL)(x, return_attention=True)
    assert np.all((np.asarray(probs) > 0) & (np.asarray(probs) < 1))
    np.testing.assert_allclose(np.asarray(att["image"]).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(att["text"])[-1], 0.0)  # no text: no weight
    with pytest.raises(ValueError, match="modality"):
        AttentionHashtagClassifier(modality="audio", **SMALL)
    with pytest.raises(ValueError, match="co_attention' needs"):
        AttentionHashtagClassifier(modality="image", fusion="co_attention", **SMALL)


def test_word_vocabulary_and_inputs():
    from types import SimpleNamespace

    from hashtag_kit.data.posts import Post
    from hashtag_kit.models.attention_classifier import (
        WordVocabulary,
        classifier_inputs,
        multi_hot,
    )

    v = WordVocabulary.fit(["a red boat", "a boat", "a cat"], min_count=2)
    assert v.tokens[4:] == ["a", "boat"] and v.size == 6
    assert v.encode(["boat a cat", None, ""], 4).tolist() == [
        [5, 4, 3, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ]
    posts = [Post("p1", ["x", "y"], text="a boat"), Post("p2", ["z"], image="i.png")]
    np.testing.assert_array_equal(multi_hot(posts, ["y", "z"]), [[1, 0], [0, 1]])
    fs = SimpleNamespace(
        ids=["p2", "p1"], grid=np.ones((2, 4, 3), "float16"), mask=np.array([True, False])
    )
    x = classifier_inputs(posts, fs, v, max_len=3)
    assert x["regions"].dtype == np.float16 and x["regions"].shape == (2, 4, 3)  # as stored
    assert x["regions"][0].sum() == 0 and x["regions"][1].sum() == 12  # p1 masked, p2 present
    assert x["tokens"].tolist() == [[4, 5, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="grid=True"):
        classifier_inputs(posts, SimpleNamespace(ids=[], grid=None, mask=[]), v)


# -- CNN-RNN ----------------------------------------------------------------------------------
def test_cnn_rnn_shared_check():
    from hashtag_kit.models.cnn_rnn import CNNRNNTagger

    keras.utils.set_random_seed(0)
    x = {
        "image": RNG.normal(size=(3, 6)).astype("float32"),
        "tags_in": np.array([[1, 3, 4], [1, 5, 0], [1, 0, 0]], "int32"),
    }
    # tag embedding 9*8, LSTM 4*(8*16+8), rnn->joint 8*8+8, image->joint 6*8+8, output bias 9
    n = 72 + 544 + 72 + 56 + 9
    check_layer(CNNRNNTagger(n_tags=5, joint_dim=8, units=8), x, (3, 3, 9), n)


def test_tag_sequences_order_and_padding():
    from hashtag_kit.data.posts import Post
    from hashtag_kit.models.cnn_rnn import END, START, tag_sequences

    tags = ["sea", "sun", "cat"]
    x, y = tag_sequences(
        [Post("a", ["cat", "sea", "zzz"]), Post("b", []), Post("c", ["cat", "sun", "sea"])],
        tags,
        max_tags=2,
    )
    assert x.tolist() == [[START, 4, 6], [START, 0, 0], [START, 4, 5]]
    assert y.tolist() == [[4, 6, END], [END, 0, 0], [4, 5, END]]


def test_cnn_rnn_learns_tag_sets_and_beam_search_never_repeats():
    from hashtag_kit.data.posts import Post
    from hashtag_kit.models.cnn_rnn import (
        CNNRNNTagger,
        compile_cnn_rnn,
        recommend_cnn_rnn,
        tag_sequences,
    )

    keras.utils.set_random_seed(0)
    tags = ["a", "b", "c", "d", "e", "f"]
    groups = [["a", "c"], ["b", "d", "e"], ["f"]]
    posts = [Post(f"p{i}", groups[i % 3]) for i in range(60)]
    image = np.eye(3, dtype="float32")[[i % 3 for i in range(60)]]
    x, y = tag_sequences(posts, tags, max_tags=3)
    model = compile_cnn_rnn(CNNRNNTagger(len(tags), joint_dim=16, units=16), 0.02)
    model.fit({"image": image, "tags_in": x}, y, epochs=40, batch_size=20, verbose=0)
    ranked = recommend_cnn_rnn(model, image[:3], tags, k=4, beam_width=2, max_tags=3)
    for r, g in zip(ranked, groups, strict=True):
        assert set(r[: len(g)]) == set(g)
        assert len(r) == 4 and len(set(r)) == 4
    seqs, first = model.decode(image[:3], beam_width=2, max_tags=3)
    assert seqs.shape == (3, 2, 3) and first.shape == (3, 10)
    for beams in seqs:
        for s in beams:
            real = [t for t in s if t]
            assert len(real) == len(set(real))
    assert recommend_cnn_rnn(model, image[:1], tags, 2, exclude=[{"a"}])[0][0] != "a"


def _toy_posts_and_features(n=24):
    from types import SimpleNamespace

    from hashtag_kit.data.posts import Post

    rng = np.random.default_rng(0)
    tags = ["sea", "cat", "love"]
    posts = [
        Post(f"p{i}", ["love", "sea" if i % 2 else "cat"], text="waves" if i % 2 else "meow")
        for i in range(n)
    ]
    grid = rng.normal(size=(n, 4, 6)).astype("float16")
    fs = SimpleNamespace(ids=[p.id for p in posts], grid=grid, mask=np.ones(n, bool))
    fs.pooled = grid.astype("float32").mean(1)
    return posts, tags, fs


def test_train_attention_classifier_starts_from_tag_log_odds():
    from hashtag_kit.models.attention_classifier import WordVocabulary, predict_attention
    from hashtag_kit.training.classifiers import train_attention_classifier

    posts, tags, fs = _toy_posts_and_features()
    words = WordVocabulary.fit([p.text for p in posts], min_count=1)
    model, info = train_attention_classifier(
        posts[:20], posts[20:], tags, fs, words, units=4, embedding_dim=4, epochs=1,
        learning_rate=0.0, batch_size=10,
    )  # fmt: skip
    # with a zero learning rate the bias stays at the training log-odds: sea 1/2, cat 1/2, love ~1
    bias = model.classifier.get_weights()[1]
    np.testing.assert_allclose(bias[:2], 0.0, atol=1e-6)
    assert bias[2] > 9
    assert set(info["history"]) == {"loss", "val_loss"} and info["trainable_params"] > 0
    assert info["ms_per_step"] > 0
    probs, att = predict_attention(model, posts[20:], fs, words)
    assert probs.shape == (4, 3) and att["image"].shape == (4, 4) and att["text"].shape == (4, 24)
    with pytest.raises(ValueError, match="needs image_features"):
        train_attention_classifier(posts, [], tags, None, words, modality="both")


def test_train_cnn_rnn_helper_records_history():
    from hashtag_kit.training.classifiers import train_cnn_rnn

    posts, tags, fs = _toy_posts_and_features()
    model, info = train_cnn_rnn(
        posts[:20], posts[20:], tags, fs.pooled[:20], fs.pooled[20:], joint_dim=4, units=4,
        epochs=2, batch_size=10,
    )  # fmt: skip
    assert len(info["history"]["loss"]) == len(info["history"]["val_loss"]) == 2
    assert info["trainable_params"] == model.count_params()


@pytest.mark.parametrize("family", ["concat", "co_attention", "cnn_rnn"])
def test_interrupted_classifier_training_resumes_to_the_same_end(tmp_path, family):
    """Through `hashtag_kit.training.fit`: a checkpoint each epoch, an exact resume."""
    from test_training import Crash

    from hashtag_kit.models.attention_classifier import WordVocabulary
    from hashtag_kit.training.classifiers import train_attention_classifier, train_cnn_rnn

    posts, tags, fs = _toy_posts_and_features()
    words = WordVocabulary.fit([p.text for p in posts], min_count=1)

    def run(**kw):
        if family == "cnn_rnn":
            return train_cnn_rnn(
                posts[:20],
                posts[20:],
                tags,
                fs.pooled[:20],
                fs.pooled[20:],
                joint_dim=4,
                units=4,
                epochs=3,
                batch_size=6,
                seed=2,
                **kw,
            )
        return train_attention_classifier(posts[:20], posts[20:], tags, fs, words, units=4,
                                          embedding_dim=4, epochs=3, batch_size=6, seed=2,
                                          fusion=family, **kw)  # fmt: skip

    whole, whole_info = run()
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint_dir=tmp_path, callbacks=[Crash(2)])
    (folder,) = list(tmp_path.iterdir())
    resumed, info = run(checkpoint_dir=tmp_path)
    assert info["resumed_from_epoch"] == 2 and not folder.exists()  # removed when finished
    for name in ("loss", "val_loss"):
        assert info["history"][name] == pytest.approx(whole_info["history"][name], rel=1e-5)
    for a, b in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_focal_loss_option_matches_its_formula_and_trains():
    from hashtag_kit.models.attention_classifier import WordVocabulary, compile_classifier
    from hashtag_kit.training.classifiers import train_attention_classifier

    def fixed_model():  # sigmoid(2) and sigmoid(-1) for every input
        inp = keras.Input((1,))
        out = keras.layers.Dense(
            2,
            activation="sigmoid",
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant([2.0, -1.0]),
        )(inp)
        return keras.Model(inp, out)

    x, y = np.zeros((2, 1), "float32"), np.array([[1, 0], [0, 1]], "float32")
    p = 1 / (1 + np.exp(-np.array([2.0, -1.0])))
    # binary focal loss, gamma 2 (Lin et al. 2017): -(1-p)^2 log p for a positive, -p^2 log(1-p)
    focal = -(y * (1 - p) ** 2 * np.log(p) + (1 - y) * p**2 * np.log(1 - p))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    got_focal = compile_classifier(fixed_model(), loss="focal").evaluate(x, y, verbose=0)
    got_bce = compile_classifier(fixed_model(), loss="bce").evaluate(x, y, verbose=0)
    assert got_focal == pytest.approx(focal.mean(), rel=1e-4)
    assert got_bce == pytest.approx(bce.mean(), rel=1e-4) and got_focal < got_bce
    with pytest.raises(ValueError, match="'bce' or 'focal'"):
        compile_classifier(fixed_model(), loss="hinge")

    posts, tags, fs = _toy_posts_and_features()
    words = WordVocabulary.fit([p.text for p in posts], min_count=1)
    model, info = train_attention_classifier(
        posts[:20], posts[20:], tags, fs, words, units=4, embedding_dim=4, epochs=2,
        batch_size=10, loss="focal",
    )  # fmt: skip
    assert isinstance(model.loss, keras.losses.BinaryFocalCrossentropy)
    assert len(info["history"]["loss"]) == 2 and np.isfinite(info["history"]["loss"]).all()
