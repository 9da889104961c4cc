"""The encoder-decoder trained from the feature cache's shards (`input_mode="stream"`): the grid
is never read, the choice is logged, it learns as the in-memory path does and resumes exactly."""

from __future__ import annotations

import logging
from dataclasses import replace
from unittest import mock

import numpy as np
import pytest
from test_training import Crash, synthetic, vocab_of

from hashtag_kit.baselines.ranking import PopularityRecommender
from hashtag_kit.data.posts import write_posts
from hashtag_kit.evaluation.ranking import ranking_metrics
from hashtag_kit.features import cache, stream
from hashtag_kit.run import PREPROCESS, RunDir, write_json
from hashtag_kit.training import TrainConfig, evaluate, load_run_data, train

N_TRAIN, N_VAL, N = 300, 30, 360
GRID = (2, 2, 4)  # extracted, never read by this stage
CONFIG = TrainConfig(units=32, embed_dim=16, epochs=10, batch_size=32, history_len=4, max_tags=4)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory: test_training's learnable synthetic posts, their features in the
    cache's format (shards of 64 posts, image grids included), a frozen split and the vocab."""
    path = tmp_path_factory.mktemp("encdec_stream") / "run"
    posts, fi, ft = synthetic(n=N)
    ids = [p.id for p in posts]
    rng = np.random.default_rng(0)
    for kind, fs in (("image", fi), ("text", ft)):
        grid = GRID if kind == "image" else None
        info = {"name": f"fake_{kind}", "weights": "random", "digest": "0" * 64, "kind": kind}
        info.update(dim=fs.pooled.shape[1], grid_shape=grid and list(grid), id=f"fake-{kind}")
        store = cache.ShardStore(path / "features" / info["id"])
        keys = [f"{i:032x}" if fs.mask[i] else None for i in range(N)]
        rows = np.flatnonzero(fs.mask)
        for a in range(0, len(rows), 64):
            r = rows[a : a + 64]
            g = rng.standard_normal((len(r), GRID[0] * GRID[1], GRID[2])).astype("float16")
            store.add([keys[i] for i in r], fs.pooled[r], g if grid else None)
        cache.write_index(path, info, store.path, ids, keys, grid is not None)
    write_posts(path / PREPROCESS / "posts.jsonl", posts)
    parts = {"train": ids[:N_TRAIN], "val": ids[N_TRAIN : N_TRAIN + N_VAL]}
    write_json(
        path / PREPROCESS / "splits.json", {"random": {**parts, "test": ids[N_VAL + N_TRAIN :]}}
    )
    write_json(path / PREPROCESS / "vocab.json", {"hashtags": vocab_of(posts[:N_TRAIN])[4:]})
    return path


@pytest.fixture(scope="module")
def both(run):
    """RunData of the run held in memory and streamed."""
    return {m: load_run_data(run, replace(CONFIG, input_mode=m)) for m in ("memory", "stream")}


def test_load_run_data_never_reads_grids_and_logs_its_choice(run, monkeypatch, caplog):
    spy = mock.Mock(wraps=cache.read_shard)
    monkeypatch.setattr(cache, "read_shard", spy)
    with caplog.at_level(logging.INFO, logger="hashtag_kit.encoders"):
        small = load_run_data(run, CONFIG)  # auto: a few KB -> memory
        monkeypatch.setattr(stream, "MEMORY_BUDGET", 1000)
        big = load_run_data(run, CONFIG)  # auto over the budget -> streamed
    assert small.input_mode == "memory" and big.input_mode == "stream"
    assert "held in memory" in caplog.text and "streamed from the cache's shards" in caplog.text
    grids = [call.args[1] for call in spy.call_args_list]  # read_shard(path, grid)
    assert grids and not any(grids)  # shards read, never a grid
    assert not small.train.streamed and small.train.inputs["image"].shape == (N_TRAIN, 12)
    assert set(big.train.streamed) == {"image", "text"} and "image" not in big.train.inputs
    assert big.train.feature_dim("image") == 12 and big.train.feature_dim("text") == 10
    for key in ("image_mask", "text_mask", "history", "existing"):  # the small inputs are held
        np.testing.assert_array_equal(big.train.inputs[key], small.train.inputs[key])
    assert not big.val.streamed and not big.test.streamed  # evaluation decodes them in memory
    for key, value in small.test.inputs.items():
        np.testing.assert_array_equal(big.test.inputs[key], value)


def test_streamed_training_learns_as_the_in_memory_path_does(run, both):
    results = {}
    for mode, data in both.items():
        result = train(replace(CONFIG, input_mode=mode), data.train, data.val, data.vocab_size)
        loss = result.history["loss"]
        assert len(loss) == CONFIG.epochs and loss[-1] < 0.8 * loss[0], (mode, loss)
        results[mode] = evaluate(result.model, data.test, data.tokens)["f1"]["3"]
    data, test_posts = both["stream"], RunDir(run).split_posts()["test"]
    pop = PopularityRecommender().fit(data.train_posts).recommend(test_posts, 10)
    pop_f1 = ranking_metrics(pop, data.test.truth)["f1"]["3"]
    assert results["stream"] > pop_f1 + 0.2, (results, pop_f1)
    # other batch orders, the same quality: within 0.1 of F1@3 of the in-memory training
    assert abs(results["stream"] - results["memory"]) <= 0.1, results


def test_streamed_training_resumes_to_the_same_end(both, tmp_path):
    data = both["stream"]
    cfg = replace(CONFIG, units=8, embed_dim=4, epochs=3, input_mode="stream")
    straight = train(cfg, data.train, data.val, data.vocab_size)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, data.train, data.val, data.vocab_size, checkpoint_dir=ckpt, callbacks=[Crash(2)])
    resumed = train(cfg, data.train, data.val, data.vocab_size, checkpoint_dir=ckpt)
    assert resumed.resumed_from_epoch == 2
    np.testing.assert_allclose(resumed.history["loss"], straight.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.history["val_loss"], straight.history["val_loss"], rtol=1e-5)
    for a, b in zip(resumed.model.get_weights(), straight.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # an in-memory training is another one: its checkpoint is not resumed by a streamed run
    memory = both["memory"]
    with pytest.raises(ValueError, match="another configuration"):
        train(cfg, memory.train, memory.val, memory.vocab_size, checkpoint_dir=ckpt)
