"""Image encoders: restricted torch unpickler, EfficientNet-Lite0 port with its real ImageNet
weights (a real cat photo), InceptionV3 path with a locally built stand-in, offline `auto`.
"""

from __future__ import annotations

import collections
import os
import pickle
import socket
import sys
import zipfile

import keras
import numpy as np
import pytest
import skimage.data
import torch_files

from hashtag_kit.encoders import efficientnet_lite as effl
from hashtag_kit.encoders import image as image_mod
from hashtag_kit.encoders.image import (
    WeightsUnavailableError,
    centre_crop_resize,
    get_image_encoder,
    resolve_image_encoder,
    top_labels,
)
from hashtag_kit.encoders.torch_weights import UnsafeWeightsError, load_state_dict
from hashtag_kit.files import file_digest
from hashtag_kit.recommender import EncoderMismatchError, _check_same_encoder

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


# -- restricted unpickler ----------------------------------------------------------------------
def test_real_weight_file_reads_without_torch():
    sd = load_state_dict(effl.weights_path())
    assert "torch" not in sys.modules
    assert len(sd) == 296
    floats = sum(v.size for v in sd.values() if v.dtype == np.float32)
    assert floats == 4_694_024  # 4.69M parameters (+ 49 BatchNorm step counters)
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert sd["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert np.isfinite(sd["_fc.weight"]).all() and sd["_fc.weight"].std() > 0.01


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _legacy_file(state_pickle: bytes) -> bytes:
    return torch_files.legacy_header() + state_pickle


def test_malicious_pickles_are_refused(tmp_path):
    target = tmp_path / "pwned"
    evil = pickle.dumps(collections.OrderedDict(w=_Evil(target)), 2)
    legacy = tmp_path / "evil.pth"
    legacy.write_bytes(_legacy_file(evil))
    with pytest.raises(UnsafeWeightsError, match="posix.system|os.system"):
        load_state_dict(legacy)
    zipped = tmp_path / "evil_zip.pth"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("archive/data.pkl", evil)
    with pytest.raises(UnsafeWeightsError, match="refusing"):
        load_state_dict(zipped)
    assert not target.exists()
    # builtins are refused too (eval/exec/getattr are the classic gadgets)
    gadget = b"\x80\x02cbuiltins\neval\nq\x00X\x06\x00\x00\x001+1==2q\x01\x85q\x02Rq\x03."
    legacy.write_bytes(_legacy_file(gadget))
    with pytest.raises(UnsafeWeightsError, match="builtins.eval"):
        load_state_dict(legacy)


def test_legacy_format_round_trip_with_views(tmp_path):
    tensors = {
        "whole": ("7", 0, (3, 4), (4, 1)),
        "transposed": ("7", 0, (4, 3), (1, 4)),  # a non-contiguous view
        "tail": ("7", 8, (4,), (1,)),  # offset into the shared storage
    }
    storages = {"7": np.arange(12)}
    path = tmp_path / "tiny.pth"
    ref = np.arange(12, dtype="float32").reshape(3, 4)
    for data in (
        torch_files.legacy_file(tensors, storages),
        torch_files.zip_file(tensors, storages),
    ):
        path.write_bytes(data)
        sd = load_state_dict(path)
        assert "torch" not in sys.modules
        np.testing.assert_array_equal(sd["whole"], ref)
        np.testing.assert_array_equal(sd["transposed"], ref.T)
        np.testing.assert_array_equal(sd["tail"], [8, 9, 10, 11])
    path.write_bytes(torch_files.legacy_file(tensors, storages)[:-8])  # truncated storage
    with pytest.raises(ValueError, match="truncated"):
        load_state_dict(path)


# -- EfficientNet-Lite0 port -------------------------------------------------------------------
def test_real_cat_photo_ranks_a_cat_first():
    enc = get_image_encoder("efficientnet_lite0")
    labels = top_labels([skimage.data.chelsea()], k=5, encoder=enc)[0]
    names = image_mod.imagenet_label_names()
    assert names.index(labels[0][0]) in CAT_CLASSES, labels
    assert "cat" in labels[0][0]
    assert sum(p for _, p in labels) <= 1.0 + 1e-5 and labels[0][1] > 0.2
    # a coffee cup is not a cat: the head discriminates
    coffee = top_labels([skimage.data.coffee()], k=1, encoder=enc)[0][0][0]
    assert names.index(coffee) not in CAT_CLASSES
    # pooled features and grid from the same forward pass, pooled = mean over regions
    x = np.stack([enc.prepare(skimage.data.chelsea()), enc.prepare(skimage.data.coffee())])
    pooled, grid = enc.encode(x)
    assert pooled.shape == (2, 1280) and pooled.dtype == np.float32
    assert grid.shape == (2, 49, 1280) and grid.dtype == np.float16
    np.testing.assert_allclose(grid.astype("float32").mean(axis=1), pooled, atol=2e-2)
    info = enc.info()
    assert info["name"] == "efficientnet_lite0" and info["dim"] == 1280
    assert info["grid_shape"] == [7, 7, 1280] and len(info["digest"]) == 64
    assert enc.model.count_params() == 4_694_024 - 1_281_000  # backbone without the classifier


def test_lite0_at_448_is_the_same_network_on_a_finer_grid():
    small, big = (
        get_image_encoder("efficientnet_lite0"),
        get_image_encoder("efficientnet_lite0_448"),
    )
    info = big.info()
    assert info["name"] == "efficientnet_lite0_448" and info["input_size"] == 448
    assert info["grid_shape"] == [14, 14, 1280] and info["dim"] == 1280
    # the same weights, but features of another input size are never mistaken for its own
    assert info["digest"] == small.info()["digest"] and big.id != small.id
    assert big.model.count_params() == small.model.count_params()
    pooled, grid = big.encode(np.stack([big.prepare(skimage.data.chelsea())]))
    assert pooled.shape == (1, 1280) and grid.shape == (1, 196, 1280)
    labels = top_labels([skimage.data.chelsea()], k=1, encoder=big)[0]
    assert image_mod.imagenet_label_names().index(labels[0][0]) in CAT_CLASSES, labels
    # a run made at one size refuses the encoder of the other (same weight digest)
    with pytest.raises(EncoderMismatchError, match="448 px input.*224 px"):
        _check_same_encoder("image", info, small)
    _check_same_encoder("image", info, big)


def test_port_architecture_facts():
    model = effl.EfficientNetLite0(include_top=False, weights=None)
    assert model.output_shape == (None, 7, 7, 1280)
    layers = [layer.name for layer in model.layers]
    assert sum(n.endswith("_dwconv") for n in layers) == 16  # 16 MBConv blocks
    assert not any("se_" in n or "squeeze" in n for n in layers)  # no squeeze-excite
    bns = [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)]
    assert bns and all(b.epsilon == 1e-3 for b in bns)
    relus = [la for la in model.layers if isinstance(la, keras.layers.ReLU)]
    assert relus and all(float(r.max_value) == 6.0 for r in relus)


def test_centre_crop_resize():
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 100:] = 255
    out = centre_crop_resize(img, 50)
    assert out.shape == (50, 50, 3) and out.dtype == np.uint8
    assert out[:, :20].max() == 0 and out[:, 30:].min() == 255  # centred on the middle
    gray = centre_crop_resize(np.full((64, 64), 7, np.uint8), 56, crop_fraction=0.875)
    assert gray.shape == (56, 56, 3) and (gray == 7).all()
    with pytest.raises(ValueError, match="shape"):
        centre_crop_resize(np.zeros((4, 4, 5)), 8)


# -- InceptionV3 path and auto -----------------------------------------------------------------
@pytest.fixture()
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_inception_v3_from_a_local_h5_and_auto(tmp_path, monkeypatch, no_network):
    keras.utils.set_random_seed(0)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    # nothing cached: explicit inception_v3 fails saying how to provide weights, auto falls back
    with pytest.raises(WeightsUnavailableError, match=r"~/.keras/models.*weights="):
        get_image_encoder("inception_v3")
    name, _, reason = resolve_image_encoder("auto")
    assert name == "efficientnet_lite0" and "not cached" in reason
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        get_image_encoder("inception_v3", weights=str(tmp_path / "nope.h5"))

    stand_in = keras.applications.InceptionV3(weights=None)  # with its classifier top
    path = tmp_path / "inception_v3_standin.h5"
    stand_in.save(path)
    enc = get_image_encoder("inception_v3", weights=str(path))
    assert (enc.input_size, enc.dim, enc.grid_shape) == (299, 2048, (8, 8, 2048))
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (1, 299, 299, 3), dtype=np.uint8)
    pooled, grid = enc.encode(batch)
    assert pooled.shape == (1, 2048) and grid.shape == (1, 64, 2048)
    np.testing.assert_allclose(grid.astype("float32").mean(axis=1), pooled, atol=1e-2)
    # the stand-in's own classifier weights, applied to our pooled vector, give our labels
    w, b = stand_in.get_layer("predictions").get_weights()
    logits = pooled @ w + b
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    got = enc.predict_labels(batch, k=1)
    np.testing.assert_allclose(got[0][0][1], probs.max(), rtol=1e-4)
    assert enc.info()["digest"] == file_digest(path)

    # a file where Keras caches downloads makes auto choose InceptionV3, as in the papers
    models = tmp_path / "keras_home" / "models"
    models.mkdir(parents=True)
    os.link(path, models / image_mod.INCEPTION_NOTOP_FILE)
    name, weights, reason = resolve_image_encoder("auto")
    assert name == "inception_v3" and weights.endswith(image_mod.INCEPTION_NOTOP_FILE)
    assert "cached" in reason


def test_inception_v3_from_a_no_top_weight_file(tmp_path, no_network):
    """The form Keras caches (`..._notop.h5`: weights only, no classifier): the backbone is
    built without its top and loads exactly the file's weights."""
    keras.utils.set_random_seed(1)
    stand_in = keras.applications.InceptionV3(weights=None, include_top=False)
    path = tmp_path / "inception_v3_notop.weights.h5"
    stand_in.save_weights(path)
    enc = get_image_encoder("inception_v3", weights=str(path))
    assert enc.classifier is None and enc.grid_shape == (8, 8, 2048)
    batch = np.random.default_rng(1).integers(0, 256, (2, 299, 299, 3), dtype=np.uint8)
    pooled, grid = enc.encode(batch)
    want = np.asarray(stand_in.predict_on_batch(enc.preprocess(batch)))  # (2, 8, 8, 2048)
    np.testing.assert_allclose(grid.astype("float32"), want.reshape(2, 64, 2048), atol=2e-2)
    np.testing.assert_allclose(pooled, want.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="no ImageNet classifier head"):
        enc.predict_labels(batch)


@pytest.mark.realdata
def test_real_coco_photos_through_the_cache(real_data, tmp_path, monkeypatch):
    """Real COCO JPEGs -> cached EfficientNet-Lite0 features -> ImageNet head: photos annotated
    with a cat or dog get a cat/dog class in their top 5 far more often than the others."""
    from hashtag_kit.data import load_dataset
    from hashtag_kit.features.cache import extract_features
    from hashtag_kit.report import RunReport

    monkeypatch.delenv("HASHTAG_KIT_FEATURE_CACHE", raising=False)
    posts = load_dataset("coco", real_data / "coco-mini", RunReport())
    animal = [p for p in posts if {"cat", "dog"} & set(p.hashtags)]
    other = [p for p in posts if "animal" not in p.hashtags][:20]
    assert len(animal) >= 8 and len(other) == 20
    report = RunReport()
    fs = extract_features(tmp_path, animal + other, "image", "efficientnet_lite0", report=report)
    assert fs.mask.all() and report.n_skipped == 0
    probs = get_image_encoder("efficientnet_lite0").classifier.predict_on_batch(fs.pooled)
    top5 = np.argsort(-np.asarray(probs), axis=1)[:, :5]
    pets = set(range(151, 269)) | set(range(281, 288))  # ImageNet dog breeds, cats, lynx
    hit = np.array([bool(pets & set(row.tolist())) for row in top5])
    rate_animal, rate_other = hit[: len(animal)].mean(), hit[len(animal) :].mean()
    assert rate_animal >= 0.5 and rate_animal > rate_other + 0.3, (rate_animal, rate_other)
