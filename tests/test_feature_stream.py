"""Streaming cached features through tf.data: exact values, order, one pass per epoch, no grid
unless asked; extraction memory bounded by the shards in flight; `bench scale` at tiny sizes."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from hashtag_kit.features import cache
from hashtag_kit.features.cache import open_features
from hashtag_kit.features.stream import CYCLE, MAX_BLOCK, feature_dataset, fit_inputs, load_inputs
from tools.bench import scale

N = 700  # three shards of 256 and a partial one; every 50th post has no image


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "run"
    scale.write_synthetic(path, N, scale.TINY)
    return path


def _sources(run, grid=True):
    img, txt = open_features(run, "image"), open_features(run, "text")
    src = {"image": (img, "pooled"), "image_mask": (img, "mask"), "text": (txt, "pooled")}
    return {**src, "regions": (img, "grid")} if grid else src


def _collect(ds):
    xs, ys = [], []
    for x, y in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    return {k: np.concatenate([x[k] for x in xs]) for k in xs[0]}, np.concatenate(ys)


def test_streamed_features_equal_the_cache_in_order(run):
    src = _sources(run)
    img, txt = src["image"][0], src["text"][0]
    ids = img.ids[::3][::-1] + img.ids[1:40]  # a subset, out of shard order, across shards
    rows = np.arange(len(ids))
    ds = feature_dataset(src, ids, {"row": rows}, rows * 2, batch_size=64)
    assert ds.cardinality().numpy() == -(-len(ids) // 64)
    x, y = _collect(ds)
    expect_img, expect_txt = img.load(ids, grid=True), txt.load(ids)
    np.testing.assert_array_equal(x["row"], rows)  # order of `ids` without shuffling
    np.testing.assert_array_equal(y, rows * 2)
    np.testing.assert_array_equal(x["image"], expect_img.pooled)
    np.testing.assert_array_equal(x["regions"], expect_img.grid)
    assert x["regions"].dtype == np.float16 and x["regions"].shape[1:] == (4, 16)
    np.testing.assert_array_equal(x["image_mask"], expect_img.mask.astype("float32"))
    assert 0 < x["image_mask"].sum() < len(ids)  # posts without an image: mask 0, zeros
    assert not x["regions"][x["image_mask"] == 0].any()
    np.testing.assert_array_equal(x["text"], expect_txt.pooled)
    # the in-memory counterpart gives the same arrays
    mem = load_inputs(src, ids, {"row": rows})
    for k in x:
        np.testing.assert_array_equal(mem[k], x[k])


def test_shuffled_stream_gives_every_post_once_per_epoch(run):
    src = _sources(run, grid=False)
    ids = src["image"][0].ids
    rows = np.arange(N)
    expect = src["image"][0].load(ids).pooled

    def targets(pos):  # a function of the positions, called block by block
        return np.stack([pos, pos % 7], axis=1)

    ds = feature_dataset(src, ids, {"row": rows}, targets, batch_size=50, shuffle=True, seed=3)
    orders = []
    for _ in range(2):
        x, y = _collect(ds)
        assert sorted(x["row"].tolist()) == list(range(N))  # each post exactly once
        np.testing.assert_array_equal(y[:, 0], x["row"])
        np.testing.assert_array_equal(x["image"], expect[x["row"]])  # values follow the post
        orders.append(x["row"])
    assert not np.array_equal(orders[0], orders[1])  # a new order each epoch
    assert not np.array_equal(orders[0], rows)  # mixed across shards
    again = _collect(
        feature_dataset(src, ids, {"row": rows}, targets, batch_size=50, shuffle=True, seed=3)
    )
    np.testing.assert_array_equal(again[0]["row"], orders[0])  # same seed, same order


def test_the_grid_is_not_read_unless_a_source_asks(run, monkeypatch):
    reads = []
    real = cache.read_shard

    def spy(path, grid):
        reads.append(grid)
        return real(path, grid)

    monkeypatch.setattr(cache, "read_shard", spy)
    src = _sources(run, grid=False)
    ids = src["image"][0].ids
    _collect(feature_dataset(src, ids, targets=np.zeros(N), batch_size=128))
    x = load_inputs(src, ids)
    assert reads and not any(reads)  # shards read, never their grids
    assert "regions" not in x and cache.load_features(run, "image", grid=False).grid is None
    reads.clear()
    _collect(feature_dataset(_sources(run), ids, targets=np.zeros(N), batch_size=128))
    assert any(reads)


def test_fit_inputs_chooses_memory_or_stream_by_size_and_logs(run, caplog):
    src = _sources(run)
    ids = src["image"][0].ids
    y = np.zeros(N, "float32")
    with caplog.at_level(logging.INFO, logger="hashtag_kit.encoders"):
        small = fit_inputs(src, ids, targets=y, batch_size=32)
        big = fit_inputs(src, ids, targets=y, batch_size=32, budget=1000)
    assert set(small) == {"x", "y", "batch_size", "shuffle"} and small["x"]["regions"].shape[0] == N
    assert set(big) == {"x"} and big["x"].cardinality().numpy() == -(-N // 32)
    assert "held in memory" in caplog.text and "streamed from the cache's shards" in caplog.text


def test_fit_streams_per_epoch_datasets_and_resumes_to_the_same_end(run, tmp_path):
    """`training.fit` over `feature_dataset`s built per epoch (seeded by the epoch, inputs from
    a function of positions): an interrupted training resumes where an uninterrupted one ends."""
    import keras

    from hashtag_kit.training.fit import fit

    img = open_features(run, "image")
    src, ids = {"image": (img, "pooled"), "image_mask": (img, "mask")}, img.ids

    def batches_of(epoch):
        def label(pos):  # per-epoch inputs: a function of the positions (and of the epoch)
            return ((pos + epoch) % 2).astype("float32")[:, None]

        arrays = {"flag": label}
        return feature_dataset(src, ids, arrays, label, batch_size=100, shuffle=True, seed=epoch)

    def build():
        keras.utils.set_random_seed(0)
        image = keras.Input((img.dim,), name="image")
        mask = keras.Input((), name="image_mask")
        flag = keras.Input((1,), name="flag")
        both = keras.layers.Concatenate()([image, flag, keras.ops.expand_dims(mask, -1)])
        model = keras.Model([image, mask, flag], keras.layers.Dense(1, "sigmoid")(both))
        model.compile("adam", "binary_crossentropy")
        return model

    straight = fit(build, batches_of, epochs=3)
    assert straight.epochs_run == 3 and straight.history["loss"][-1] < straight.history["loss"][0]
    folder = tmp_path / "ckpt"
    fit(build, batches_of, epochs=1, checkpoint_dir=folder)  # "interrupted" after epoch 0
    resumed = fit(build, batches_of, epochs=3, checkpoint_dir=folder)
    assert resumed.resumed_from_epoch == 1
    np.testing.assert_allclose(resumed.history["loss"], straight.history["loss"], rtol=1e-5)
    for a, b in zip(resumed.model.get_weights(), straight.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_streamed_memory_does_not_grow_with_n(tmp_path):
    """What the stream's reader holds (numpy buffers, traced by tracemalloc) is bounded by the
    windows in flight: the same at 4x the posts, and a small part of the whole dataset. Both
    sizes hold more windows than are in flight (`READERS` + 1 of `CYCLE` blocks of at most
    `MAX_BLOCK` posts): at 4,096 posts the whole dataset fitted in flight, so its peak was
    bounded by the data instead, and the ratio failed when scheduling let more windows be
    alive at 16,384 (13.9 vs 21.4 MB in one CI run)."""
    import tracemalloc

    dims = {**scale.TINY, "image": 256, "grid": (2, 2, 256)}  # 3 KB of features per post
    peaks = {}
    for n in (8192, 32768):
        run = tmp_path / f"n{n}"
        scale.write_synthetic(run, n, dims)
        img = open_features(run, "image")
        src = {"image": (img, "pooled"), "regions": (img, "grid"), "mask": (img, "mask")}

        def targets(pos):
            return pos.astype("float32")

        ds = feature_dataset(src, img.ids, targets=targets, batch_size=64, shuffle=True, seed=0)
        tracemalloc.start()
        seen = sum(len(y) for _, y in ds.as_numpy_iterator())
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert seen == n
    post = 256 * 4 + 4 * 256 * 2  # bytes of features per post
    whole, window = 32768 * post, CYCLE * MAX_BLOCK * post  # 100 MB; 6.3 MB
    # measured 16.6-23.7 MB at either size (2-4 windows alive, as scheduling goes); a reader
    # holding what it has read would take 4x at 4x the posts
    assert peaks[32768] < 2 * peaks[8192], peaks
    assert max(peaks.values()) < min(6 * window, whole / 2), (peaks, window)


EXTRACT = """
import resource, sys
import keras, numpy as np
from PIL import Image
from hashtag_kit.features.cache import extract_features
from hashtag_kit.encoders.image import ImageEncoder
from hashtag_kit.data.posts import Post

n, work = int(sys.argv[1]), sys.argv[2]
keras.utils.set_random_seed(0)
inp = keras.Input((32, 32, 3))  # grid 7x7x1024: 100 KB of float16 per post
backbone = keras.Model(inp, keras.layers.Conv2D(1024, 3, strides=5, padding="same")(inp))
enc = ImageEncoder.from_model("big_grid", backbone, 32, lambda b: b / 255.0, "test", "1" * 64)
rng = np.random.default_rng(0)
posts = []
for i in range(n):
    path = f"{work}/{i}.png"
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
    posts.append(Post(id=str(i), image=path))
enc.encode(np.zeros((32, 32, 32, 3), np.uint8))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
extract_features(work, posts, "image", enc, grid=True, load=False, progress=False, shard_size=64)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_extraction_peak_memory_does_not_grow_with_n(tmp_path):
    """Holding the grids of 1,600 posts would add 160 MB; extraction adds about one shard."""
    script = tmp_path / "extract.py"
    script.write_text(EXTRACT)
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop(cache.CACHE_ENV, None)
    growth = {}
    for n in (100, 400, 1600):
        work = tmp_path / f"n{n}"
        work.mkdir()
        out = subprocess.run(
            [sys.executable, str(script), str(n), str(work)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        growth[n] = int(out.stdout.split()[-1]) / 1024  # MiB
        assert len(list((work / "features").glob("*/shard-*.npz"))) == -(-n // 64)
    assert growth[1600] - growth[100] < 60, growth  # 150 MB more if grids were kept


def test_bench_scale_prints_its_table_at_tiny_sizes(capsys):
    assert scale.main(["--tiny"]) == 0
    out = capsys.readouterr().out
    for model in ("encoder-decoder", "attention classifier"):
        for n, mode in ((60, "stream"), (240, "stream"), (240, "memory")):
            assert re_row(out, model, n, mode), out
    assert "extraction (grid)" in out and "targets (smallest -> largest N" in out
    assert "extrapolation to 1,000,000 posts with grids" in out


def re_row(out: str, label: str, n: int, mode: str) -> bool:
    return bool(re.search(rf"{label}\s+{n:,}\s+{mode}\s+[\d.]+ [MG]B\s+[\d.]+\s+[\d.]+", out))
