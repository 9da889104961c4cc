"""Text encoders: USE multilingual v3 (real, offline), USE v4 path with a tiny SavedModel of the
same string-in / vector-out signature, and offline `auto`.
"""

from __future__ import annotations

import socket

import keras
import numpy as np
import pytest
import tensorflow as tf

from hashtag_kit.data.posts import Post
from hashtag_kit.encoders import text as text_mod
from hashtag_kit.encoders.image import WeightsUnavailableError
from hashtag_kit.encoders.text import get_text_encoder, resolve_text_encoder
from hashtag_kit.encoders.universal_sentence_encoder import UniversalSentenceEncoder
from hashtag_kit.features.cache import extract_features, load_features
from hashtag_kit.report import RunReport


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_use_multilingual_similarity():
    enc = get_text_encoder("use_multilingual_v3")
    v = enc.encode(["a cat on a sofa", "a kitten sleeping on a couch", "stock market crash"])
    assert v.shape == (3, 512) and v.dtype == np.float32
    assert _cos(v[0], v[1]) > _cos(v[0], v[2]) + 0.3
    # multilingual: the same sentence in German lands near the English one
    de = enc.encode(["eine Katze auf einem Sofa"])[0]
    assert _cos(v[0], de) > _cos(v[2], de)
    assert enc.info()["name"] == "use_multilingual_v3" and len(enc.digest) == 64
    assert enc.encode([]).shape == (0, 512)


def test_a_text_over_the_limit_is_refused_in_one_line_before_encoding(monkeypatch):
    from hashtag_kit.text import MAX_TEXT_CHARS

    enc = get_text_encoder("use_multilingual_v3")
    assert enc.encode(["cat " * (MAX_TEXT_CHARS // 4)]).shape == (1, 512)  # at the limit
    monkeypatch.setattr(enc, "_fn", lambda texts: pytest.fail("the encoder was reached"))
    with pytest.raises(ValueError, match=r"^text 1 has 20,001 characters; .* at most 20,000"):
        enc.encode(["ok", "x" * (MAX_TEXT_CHARS + 1)])


class _StandInUSE(tf.Module):
    """USE's signature: a batch of strings in, a batch of 512-d vectors out (hashed words)."""

    def __init__(self):
        super().__init__()
        self.table = tf.Variable(tf.random.stateless_normal([97, 512], seed=[1, 2]))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts):
        ids = tf.strings.to_hash_bucket_fast(tf.strings.split(texts), 97)
        return tf.reduce_mean(tf.ragged.map_flat_values(tf.gather, self.table, ids), axis=1)


@pytest.fixture(scope="module")
def use_standin(tmp_path_factory):
    path = tmp_path_factory.mktemp("use") / "use_v4_standin"
    module = _StandInUSE()
    tf.saved_model.save(module, str(path))
    return path, module


@pytest.fixture()
def offline(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("HASHTAG_KIT_USE_V4", raising=False)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "empty_hub_cache"))


def test_use_v4_path_with_a_local_savedmodel(use_standin, offline, monkeypatch):
    path, module = use_standin
    # nothing local: explicit use_v4 explains how to provide it; auto falls back, no download
    with pytest.raises(WeightsUnavailableError, match="HASHTAG_KIT_USE_V4"):
        get_text_encoder("use_v4")
    assert resolve_text_encoder("auto")[0] == "use_multilingual_v3"

    enc = get_text_encoder("use_v4", handle=str(path))
    texts = ["a cat on a sofa", "stock market crash"]
    v = enc.encode(texts)
    assert v.shape == (2, 512) and v.dtype == np.float32
    np.testing.assert_allclose(v, module(tf.constant(texts)).numpy(), rtol=1e-6)
    assert enc.info()["digest"] == text_mod.saved_model_digest(path)

    # found through the environment variable, or in the TF Hub cache folder, auto picks it
    monkeypatch.setenv("HASHTAG_KIT_USE_V4", str(path))
    name, handle, reason = resolve_text_encoder("auto")
    assert (name, handle) == ("use_v4", str(path)) and "SavedModel found" in reason


def test_use_keras_layer_round_trip(use_standin, tmp_path):
    path, module = use_standin
    inp = keras.Input(shape=(), dtype="string")
    layer = UniversalSentenceEncoder(str(path))
    model = keras.Model(inp, layer(inp))
    x = np.array(["a cat on a sofa", "the dog"], dtype=object)
    out = model.predict_on_batch(x)
    assert out.shape == (2, 512)
    np.testing.assert_allclose(out, module(tf.constant(x.astype(str))).numpy(), rtol=1e-6)
    assert not model.trainable_weights
    model.save(tmp_path / "use.keras")
    loaded = keras.saving.load_model(tmp_path / "use.keras")
    np.testing.assert_allclose(loaded.predict_on_batch(x), out, rtol=1e-6)
    assert loaded.layers[-1].get_config()["handle"] == str(path)


def test_text_features_through_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("HASHTAG_KIT_FEATURE_CACHE", raising=False)
    posts = [
        Post(id="a", text="a cat on a sofa"),
        Post(id="b", text=None),
        Post(id="c", text="a kitten sleeping on a couch"),
        Post(id="d", text="odd \ud800 surrogate"),  # not encodable as UTF-8
        Post(id="e", text="emoji 🐱 and זה עברית"),
    ]
    report = RunReport()
    fs = extract_features(
        tmp_path, posts, "text", "use_multilingual_v3", report=report, progress=False
    )
    assert fs.mask.tolist() == [True, False, True, False, True]
    assert report.counts == {"missing_text": 1, "unencodable_text": 1}
    assert "post d" in report.examples["unencodable_text"][0]
    assert fs.encoder["name"] == "use_multilingual_v3"
    direct = get_text_encoder("use_multilingual_v3").encode(["a kitten sleeping on a couch"])
    np.testing.assert_allclose(fs.pooled[2], direct[0], rtol=1e-5, atol=1e-6)
    back = load_features(tmp_path, "text")
    np.testing.assert_array_equal(back.pooled, fs.pooled)


@pytest.mark.parametrize("kind", ["image", "text"])
def test_auto_says_in_one_log_line_which_encoder_and_why(kind, tmp_path, monkeypatch, caplog):
    """`auto` logs exactly one line naming the encoder it chose and the reason, once per
    process (the builders are replaced: this checks the choice and its line, not the weights)."""
    import logging

    import hashtag_kit.encoders.image as image_module
    import hashtag_kit.encoders.text as text_module

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached InceptionV3
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub"))  # no cached USE v4
    monkeypatch.delenv("HASHTAG_KIT_USE_V4", raising=False)
    module = image_module if kind == "image" else text_module
    built = []
    builders = {name: (lambda w, r, n=name: built.append((n, r)) or n) for name in module._BUILDERS}
    monkeypatch.setattr(module, "_BUILDERS", builders)
    monkeypatch.setattr(module, "_ENCODERS", {})
    get = image_module.get_image_encoder if kind == "image" else text_module.get_text_encoder
    expected = "efficientnet_lite0" if kind == "image" else "use_multilingual_v3"
    with caplog.at_level(logging.INFO, logger=module.log.name):
        assert get("auto") == expected
        assert get("auto") == expected  # built once per process: no second line
    lines = [r.getMessage() for r in caplog.records if r.name == module.log.name]
    assert len(lines) == 1 and lines[0].startswith(f"{kind} encoder auto -> {expected}"), lines
    assert lines[0].endswith(built[0][1]) and len(built) == 1  # the line carries the reason
    assert "offline-safe choice" in lines[0] and "no download attempted" in lines[0]  # why


def test_text_encoding_worker_gives_the_encoders_own_vectors():
    """The `recommend` command encodes the caption in a child process (numpy-only encoders):
    the same vectors, name, dim and digest as encoding here; other texts are encoded here."""
    from hashtag_kit.encoders.text import TextEncodingWorker, get_text_encoder

    texts = ["a cat on a sofa", "café au lait ☕"]
    worker = TextEncodingWorker("use_multilingual_v3", texts)
    got = worker.result()
    worker.close()  # harmless once finished
    enc = get_text_encoder("use_multilingual_v3")
    assert got is not None and (got.name, got.dim, got.digest) == (enc.name, enc.dim, enc.digest)
    np.testing.assert_array_equal(got.encode(texts), enc.encode(texts))
    np.testing.assert_array_equal(got.encode(["something else"]), enc.encode(["something else"]))
    with pytest.raises(ValueError, match="TensorFlow"):
        TextEncodingWorker("use_v4", texts)
