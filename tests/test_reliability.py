"""Fault classes from the trust-and-crash audit (issue 19): hostile weight files, ...

Each test asserts what a user sees: one clear error naming the file and the reason, nothing
executed, nothing corrupted, identical results after recovery.
"""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import torch_files

from hashtag_kit.encoders import efficientnet_lite as effl
from hashtag_kit.encoders.torch_weights import (
    UnsafeWeightsError,
    WeightFileError,
    load_state_dict,
)
from hashtag_kit.files import file_sha256

# -- weight files: every tensor checked against its storage before memory is touched ----------
STORAGES = {"s": np.arange(12)}
GOOD = {"w": ("s", 0, (3, 4), (4, 1)), "b": ("s", 8, (4,), (1,))}


def _refused(path, *match):
    with pytest.raises(WeightFileError) as err:
        load_state_dict(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message, message
    for m in match:
        assert m in message, message
    return message


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
@pytest.mark.parametrize(
    "tensor, match",
    [
        (("s", 11, (3,), (-5,)), "negative"),  # reads before the storage: refused, not a crash
        (("s", 0, (3, 4), (-1, 1)), "negative"),
        (("s", -4, (4,), (1,)), "offset"),
        (("s", 9, (4,), (1,)), "reads element 12 of a storage of 12"),
        (("s", 0, (3, 4), (5, 1)), "reads element"),  # strides walk past the end
        (("s", 0, (3, 4), (1,)), "rank"),
        (("s", 0, (3, 4), (4.0, 1)), "integers"),
        (("s", 0, (1 << 20, 1 << 20), (0, 0)), "elements"),  # a 1e12-element broadcast view
        (("nope", 0, (1,), (1,)), "nope"),  # a storage the file does not have
    ],
)
def test_crafted_tensor_headers_are_refused_naming_the_file(tmp_path, fmt, tensor, match):
    path = tmp_path / f"crafted.{fmt}.pth"
    write = torch_files.legacy_file if fmt == "legacy" else torch_files.zip_file
    path.write_bytes(write({"w": tensor, "b": GOOD["b"]}, STORAGES))
    _refused(path, match)


@pytest.mark.parametrize(
    "numel, match",
    [(-1, "claims -1 elements"), (1 << 40, "bytes left"), (13, "bytes left")],
)
def test_crafted_storage_counts_are_refused(tmp_path, numel, match):
    """A negative count once made `f.read(-8)` read the whole rest of the file; a huge one was
    a bare MemoryError."""
    path = tmp_path / "count.pth"
    path.write_bytes(torch_files.legacy_file(GOOD, STORAGES, numel={"s": numel}))
    _refused(path, match)


@pytest.mark.parametrize("keys", [["s", "z"], ["s", "s"]])
def test_unknown_or_repeated_storage_keys_are_refused(tmp_path, keys):
    path = tmp_path / "keys.pth"
    path.write_bytes(torch_files.legacy_file(GOOD, STORAGES, keys=keys))
    _refused(path, "unknown or listed twice")


def test_zip_bomb_members_are_refused(tmp_path):
    import zipfile

    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", b"\x00" * (300 << 20))  # 300 MB of zeros, ~300 kB stored
    _refused(path, "expands")


def test_missing_and_foreign_files_say_what_they_are(tmp_path):
    _refused(tmp_path / "absent.pth", "not found")
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n")
    _refused(text, "not a")


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_random_byte_flips_never_crash(tmp_path, fmt):
    """Fuzz: 400 copies of a small weight file, each with 1-3 random bytes changed. Every load
    either returns float32 tensors of the state dict's names or refuses with a one-line error
    naming the file; no other exception, no crash (a crash would end the test process)."""
    write = torch_files.legacy_file if fmt == "legacy" else torch_files.zip_file
    original = write(GOOD, STORAGES)
    rng = random.Random(19)
    path = tmp_path / "fuzz.pth"
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(400):
        data = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            sd = load_state_dict(path)
        except (WeightFileError, UnsafeWeightsError) as e:
            assert str(e).startswith(str(path)) and "\n" not in str(e), e
            outcomes["refused"] += 1
        else:
            assert all(isinstance(v, np.ndarray) for v in sd.values())
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 50, outcomes  # the fuzz reaches the checks


def test_a_flipped_weight_byte_is_refused_when_the_digest_is_known(tmp_path):
    """Parsing cannot see a changed weight value; the packaged file's SHA-256 can, so the
    EfficientNet-Lite0 weights are checked against it before they are read."""
    real = effl.weights_path()
    assert file_sha256(real) == effl.IMAGENET_SHA256
    copy = tmp_path / real.name
    shutil.copy(real, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit inside the float data
    copy.write_bytes(bytes(data))
    load_state_dict(copy)  # parses: the structure is intact
    with pytest.raises(WeightFileError, match="SHA-256"):
        load_state_dict(copy, sha256=effl.IMAGENET_SHA256)


# -- checkpoints: verified on resume, a damaged one falls back to the previous epoch ------------
@pytest.fixture(scope="module")
def interrupted_training(tmp_path_factory):
    """A 4-epoch training interrupted before its last epoch, checkpointing every epoch
    (checkpoints of epochs 1 and 2 kept), and the same training uninterrupted."""
    from test_training import Crash, small_training_data

    from hashtag_kit.training import TrainConfig, train
    from hashtag_kit.training.fit import CHECKPOINT_EVERY_ENV

    tr, va, tokens = small_training_data()
    cfg = TrainConfig(units=8, embed_dim=4, epochs=4, batch_size=16, seed=3)
    straight = train(cfg, tr, va, len(tokens))
    ckpt = tmp_path_factory.mktemp("interrupted") / "ckpt"
    with pytest.MonkeyPatch.context() as mp, pytest.raises(KeyboardInterrupt):
        mp.setenv(CHECKPOINT_EVERY_ENV, "0")
        train(cfg, tr, va, len(tokens), checkpoint_dir=ckpt, callbacks=[Crash(3)])

    def resume(folder):
        return train(cfg, tr, va, len(tokens), checkpoint_dir=folder)

    return ckpt, straight, resume


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _best_file(folder, epoch):
    import json

    return json.loads((folder / f"epoch_{epoch:04d}.json").read_text())["best_file"]


def _reshape_first_array(folder, epoch):
    """Rewrite epoch `epoch`'s variables with the first array given a leading axis of 1, and
    record the new file's SHA-256 in its state (so only the shapes tell)."""
    import json

    from hashtag_kit.files import file_sha256

    state_file = folder / f"epoch_{epoch:04d}.json"
    state = json.loads(state_file.read_text())
    path = folder / state["file"]
    with np.load(path) as z:
        arrays = [z[f"arr_{i}"] for i in range(len(z.files))]
    arrays[0] = arrays[0][None]
    with open(path, "wb") as f:
        np.savez(f, *arrays)
    state["sha256"] = file_sha256(path)
    state_file.write_text(json.dumps(state))


@pytest.mark.parametrize(
    "damage",
    [
        "variables truncated",
        "state truncated",
        "state not JSON",
        "best flipped",
        "arrays of other shapes",
        "all",
    ],
)
def test_a_damaged_checkpoint_is_reported_and_training_ends_as_uninterrupted(
    interrupted_training, tmp_path, damage
):
    ckpt, straight, resume = interrupted_training
    folder = tmp_path / "ckpt"
    shutil.copytree(ckpt, folder)
    assert sorted(p.name for p in folder.glob("epoch_*.json")) == [
        "epoch_0001.json",
        "epoch_0002.json",
    ]
    if damage == "variables truncated":
        _truncate(folder / "epoch_0002.npz")
    elif damage == "state truncated":
        _truncate(folder / "epoch_0002.json")
    elif damage == "state not JSON":
        (folder / "epoch_0002.json").write_text("[1, 2")
    elif damage == "best flipped":
        _flip(folder / _best_file(folder, 2))
    elif damage == "arrays of other shapes":  # passes its digest, yet is not this model's
        _reshape_first_array(folder, 2)
    else:
        for p in folder.iterdir():
            _truncate(p)
    result = resume(folder)
    notes = result.checkpoint_notes
    assert notes and all(str(folder) in n and "\n" not in n for n in notes), notes
    assert "epoch_0002 skipped" in notes[0]
    if damage == "arrays of other shapes":
        assert "does not fit the model" in notes[0] and "array of shape (1," in notes[0]
    if damage == "all":
        assert result.resumed_from_epoch == 0 and "starts over" in notes[-1]
    elif damage == "best flipped" and _best_file(ckpt, 1) == _best_file(ckpt, 2):
        assert result.resumed_from_epoch == 0  # both states name the damaged best weights
    else:
        assert result.resumed_from_epoch == 2  # after epoch 1, the previous checkpoint
    np.testing.assert_allclose(result.history["loss"], straight.history["loss"], rtol=1e-5)
    for a, b in zip(result.model.get_weights(), straight.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# -- writes: atomic, cleaned up on failure, safe with concurrent writers, one-line errors -------
def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    from hashtag_kit.files import atomic_open, write_json

    target = write_json(tmp_path / "index.json", {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target) as f:
        f.write('{"v": 2, "half')
        raise RuntimeError("disk gone mid-write")
    assert target.read_text() == '{\n  "v": 1\n}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json"]


def test_stale_temps_of_dead_writers_are_swept_live_ones_kept(tmp_path):
    import os
    import subprocess
    import sys

    from hashtag_kit.files import sweep_stale_temps, temp_path

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    stale = [
        tmp_path / f".shard-a.tmp-{pid}-0123abcd.npz",
        tmp_path / f"shard-b.npz.tmp-{pid}",  # the name the kit used before
    ]
    live = temp_path(tmp_path / "shard-c.npz")  # this process: a writer still at work
    for p in [*stale, live, tmp_path / "shard-d.npz"]:
        p.write_bytes(b"x" * 10)
    assert str(os.getpid()) in live.name
    assert sorted(sweep_stale_temps(tmp_path)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "shard-d.npz"])


_WRITER = """
import sys
from hashtag_kit.run import RunDir
rd, name = RunDir(sys.argv[1]), sys.argv[2]
for i in range(120):
    rd.update_meta(**{f"{name}_{i}": i, "padding": "x" * 20000})
"""


def test_concurrent_writers_never_expose_a_partial_run_json(tmp_path):
    """Two processes update one run.json 120 times each while this one reads it: every read
    parses (the audit saw 4-9% truncated reads), and no update is lost (the lock)."""
    import subprocess
    import sys

    from hashtag_kit.run import RunDir

    rd = RunDir(tmp_path)
    rd.update_meta(start=True)
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), name])
        for name in ("a", "b")
    ]
    reads = 0
    while any(w.poll() is None for w in writers):
        assert isinstance(rd.meta(), dict)  # raises on a truncated file
        reads += 1
    assert all(w.returncode == 0 for w in writers)
    meta = rd.meta()
    assert all(f"{n}_{i}" in meta for n in "ab" for i in range(120))
    assert reads > 20
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]


def test_a_newer_or_broken_run_json_is_one_clear_error(tmp_path):
    from hashtag_kit.run import RunDir, RunFormatError, write_json

    write_json(tmp_path / "run.json", {"format_version": 99})
    with pytest.raises(RunFormatError, match="format_version 99.*update hashtag_kit"):
        RunDir(tmp_path).meta()
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(RunFormatError, match="not a JSON object"):
        RunDir(tmp_path).meta()


def test_disk_full_during_extraction_is_one_line_and_the_retry_works(tmp_path, monkeypatch, capsys):
    """ENOSPC while a feature shard is written: the command prints one line naming the file
    and what to do, exits 1, leaves no temp file; run again with space, it completes."""
    import errno

    from hashtag_kit.__main__ import main
    from hashtag_kit.data.posts import Post, write_posts
    from hashtag_kit.features import cache

    manifest = tmp_path / "posts.jsonl"
    write_posts(manifest, [Post(id=f"p{i}", text=f"a walk on the beach {i}") for i in range(5)])
    run = tmp_path / "run"
    store = tmp_path / "store"
    argv = ["features", str(run), "--kind", "text", "--posts", str(manifest)]
    argv += ["--cache-dir", str(store), "--no-progress"]
    real_header = cache.npy_format.write_array_header_1_0

    def full_disk(member, header):
        real_header(member, header)
        raise OSError(errno.ENOSPC, "No space left on device", str(store / "shard"))

    monkeypatch.setattr(cache.npy_format, "write_array_header_1_0", full_disk)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "free disk space" in err[0]
    assert not [p for p in store.rglob("*") if "tmp" in p.name]
    monkeypatch.setattr(cache.npy_format, "write_array_header_1_0", real_header)
    assert main(argv) == 0
    assert cache.load_features(run, "text").mask.all()


# -- runs are relocatable ----------------------------------------------------------------------
def test_a_moved_run_reads_its_own_feature_shards(tmp_path, monkeypatch):
    """The index names a store inside the run relative to itself: a moved run reads its own
    shards (the audit's moved run read the original's, or failed with "556 cached image
    features missing or corrupt")."""
    import json

    from hashtag_kit.data.posts import Post
    from hashtag_kit.features import cache

    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    posts = [Post(id=f"p{i}", text=f"sunset over the sea {i}") for i in range(4)]
    first = tmp_path / "first"
    extracted = cache.extract_features(first, posts, "text", progress=False)
    (index,) = (first / "features").glob("*/index.json")
    assert json.loads(index.read_text())["store"] == "."
    moved = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(first, moved)
    shutil.rmtree(first)
    again = cache.load_features(moved, "text")
    assert again.mask.all()
    np.testing.assert_array_equal(again.pooled, extracted.pooled)
    # an index written by an older kit (absolute store path, now gone) still finds its shards
    (idx_file,) = (moved / "features").glob("*/index.json")
    old = json.loads(idx_file.read_text())
    old["store"] = str(first / "features" / idx_file.parent.name)
    idx_file.write_text(json.dumps(old))
    np.testing.assert_array_equal(cache.load_features(moved, "text").pooled, extracted.pooled)


def test_a_copied_run_serves_recommendations(smoke_notebook, smoke_run_dir, tmp_path):
    from hashtag_kit.recommender import Recommender

    smoke_notebook("02_encoder_decoder_hashtags")
    copy = tmp_path / "copied-run"
    shutil.copytree(smoke_run_dir, copy, ignore=shutil.ignore_patterns("executed", "*.ipynb"))
    original = Recommender.load(smoke_run_dir).recommend(text="sunset at the beach", k=5)
    hidden = smoke_run_dir.with_name(smoke_run_dir.name + "-hidden")
    smoke_run_dir.rename(hidden)  # the copy must not read the original
    try:
        copied = Recommender.load(copy).recommend(text="sunset at the beach", k=5)
    finally:
        hidden.rename(smoke_run_dir)
    assert copied.tags == original.tags and len(copied.tags) == 5


# -- a run directory never runs code ------------------------------------------------------------
def test_a_savedmodel_named_by_a_run_is_never_executed(tmp_path, capsys, monkeypatch):
    """The audit shipped a SavedModel inside a run and named it as the run's USE v4 encoder:
    `recommend --run` executed its graph on the caption. Now the recorded path is not loaded;
    the command says in one line how to pass trusted weights, and nothing runs."""
    import tensorflow as tf
    from test_recommender import CONFIG, _hand_weighted_model, write_stage

    from hashtag_kit.__main__ import main

    marker = tmp_path / "pwned"

    class Hostile(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            tf.io.write_file(str(marker), "ran")
            return tf.zeros([tf.shape(texts)[0], 3])

    run = tmp_path / "downloaded-run"
    saved = run / "encoders" / "use_v4"
    tf.saved_model.save(Hostile(), str(saved))
    config = {**CONFIG, "text_encoder": {"name": "use_v4", "weights": str(saved), "dim": 3}}
    write_stage(run / "02_encoder_decoder_hashtags", _hand_weighted_model(), config=config)
    monkeypatch.delenv("HASHTAG_KIT_USE_V4", raising=False)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "no-hub-cache"))
    code = main(["recommend", "--text", "a dog on the beach", "--run", str(run)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not marker.exists()
    assert err.startswith("error:") and "\n" not in err
    assert "never loads" in err and "--use-v4" in err


# -- loaders: encodings, NUL bytes, bad bytes, over-long fields, wrong JSON types ----------------
def _load(name, path, **kw):
    from hashtag_kit.data import load_dataset
    from hashtag_kit.report import RunReport

    report = RunReport()
    return load_dataset(name, path, report, **kw), report


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files_are_named_not_read_as_garbage(tmp_path, encoding):
    from test_loaders import write_harrison

    from hashtag_kit.data.loaders import EncodingError

    harrison = write_harrison(tmp_path / "h", ["instagram_dataset/sea/image_1.jpg"], ["sea"])
    (harrison / "tag_list.txt").write_bytes("sea beach\n".encode(encoding))
    tweets = tmp_path / "t" / "emoji_val_text.txt"
    tweets.parent.mkdir()
    tweets.write_bytes("sunny day #beach\n".encode(encoding))
    posts = tmp_path / "posts.json"
    posts.write_bytes('[{"id": "a", "text": "hi #x"}]'.encode(encoding))
    cases = [("harrison", harrison, harrison / "tag_list.txt"), ("tweets", tweets.parent, tweets)]
    cases.append(("posts", posts, posts))
    for name, folder, bad_file in cases:
        with pytest.raises(EncodingError) as err:
            _load(name, folder)
        message = str(err.value)
        assert message.startswith(str(bad_file)) and "UTF-8" in message, message
        assert ("UTF-16" in message or "UTF-32" in message) and "\n" not in message


def test_a_nul_byte_skips_its_line_not_joined_into_a_tag(tmp_path):
    from test_loaders import write_harrison

    root = write_harrison(
        tmp_path / "h",
        ["instagram_dataset/sea/image_1.jpg", "instagram_dataset/sea/image_2.jpg"],
        [b"sea be\x00ach", b"sea beach"],
    )
    posts, report = _load("harrison", root)
    assert [p.hashtags for p in posts] == [["sea", "beach"]]  # never "seabeach" or "beach"
    assert report.counts["malformed_line"] >= 1
    assert any("tag_list.txt:1" in e and "NUL byte at column 7" in e
               for e in report.examples["malformed_line"])  # fmt: skip


@pytest.mark.parametrize(
    "row, reason",
    [
        (b"b,caf\xe9 #two", "0xe9 at column 6"),  # one latin-1 byte
        (b"b," + b"x" * 140_000 + b" #two", "field larger than field limit"),  # > csv's limit
    ],
)
def test_a_bad_csv_row_skips_that_row_with_its_line_number(tmp_path, row, reason):
    path = tmp_path / "posts.csv"
    path.write_bytes(b"id,text\na,first #one\n" + row + b"\nc,third #three\n")
    posts, report = _load("posts", path)
    assert [p.id for p in posts] == ["a", "c"]
    (example,) = report.examples["malformed_line"]
    assert f"{path}:3" in example and reason in example


def test_coco_ids_of_the_wrong_type_are_skipped_and_counted(tmp_path):
    import json

    from test_loaders import write_coco

    root = write_coco(tmp_path / "coco")
    captions = root / "annotations" / "captions_val2017.json"
    data = json.loads(captions.read_text())
    data["images"].append({"id": [5], "file_name": "x.jpg"})
    data["annotations"].append({"image_id": {"id": 1}, "caption": "a list id"})
    data["annotations"].append({"image_id": 1, "caption": ["not", "text"]})
    captions.write_text(json.dumps(data))
    posts, report = _load("coco", root)
    assert [p.id for p in posts] == ["1", "4"]
    assert all("not" not in c for c in posts[0].captions)
    assert report.counts["malformed_image_record"] == 2
    assert report.counts["malformed_annotation"] == 3
    assert report.counts["empty_caption"] == 2 and report.notes["wrong_type"] == 1


def test_wrong_json_types_in_posts_are_named_never_repr_text(tmp_path):
    import json

    path = tmp_path / "posts.jsonl"
    records = [
        {"id": "a", "text": "user is a list #ok", "user": ["u1"]},
        {"id": {"x": 1}, "text": "id is an object"},
        {"id": "c", "text": ["sunset", "sea"], "hashtags": ["beach"]},
        {"id": "d", "text": "fine #ok"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    posts, report = _load("posts", path)
    assert [(p.id, p.user, p.text) for p in posts] == [
        ("a", None, "user is a list"),
        ("d", None, "fine"),
    ]
    assert report.counts["missing_id"] == 1  # record 2: skipped, its line named
    assert sum(report.counts.values()) == 2  # record 3: no text left, nothing else: skipped
    wrong = report.examples["wrong_type"]
    assert report.notes["wrong_type"] == 3
    assert all(any(f"{path}:{n}" in e for e in wrong) for n in (1, 2, 3)), wrong


#: JSON that `json.loads` refuses with something other than JSONDecodeError
HOSTILE_JSON = {
    "nested": "[" * 100_000,  # RecursionError
    "long integer": '{"id": 1' + "0" * 5000 + "}",  # ValueError: over 4,300 digits
}


@pytest.mark.parametrize("kind", HOSTILE_JSON)
def test_hostile_json_is_a_skipped_line_or_one_error_naming_the_file(tmp_path, kind, capsys):
    import json

    from hashtag_kit.cli import main as cli_main
    from hashtag_kit.data.posts import read_posts
    from hashtag_kit.reporting.comparison import load_run_metrics
    from hashtag_kit.run import JSONFileError, RunDir, read_json

    bad = HOSTILE_JSON[kind]
    # a post file: that line is skipped and counted, the rest is read
    path = tmp_path / "posts.jsonl"
    good = [json.dumps({"id": i, "text": f"post {i} #ok"}) for i in ("a", "b")]
    path.write_text(f"{good[0]}\n{bad}\n{good[1]}\n")
    posts, report = _load("posts", path)
    assert [p.id for p in posts] == ["a", "b"] and report.counts["malformed_line"] == 1
    assert f"{path}:2" in report.examples["malformed_line"][0]
    # the dataset's whole-file JSON, a run's manifest and a run's JSON files: one error
    coco = tmp_path / "captions.json"
    coco.write_text(bad)
    with pytest.raises(ValueError, match="captions.json: not"):
        _load("posts", coco)
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(bad + "\n")
    with pytest.raises(ValueError, match="manifest.jsonl:1: not a post manifest line"):
        read_posts(manifest)
    (tmp_path / "run.json").write_text(bad)
    with pytest.raises(JSONFileError, match="run.json: not valid JSON"):
        read_json(tmp_path / "run.json")
    # a stage's metrics.json: the report names it instead of failing
    stage = tmp_path / "02_encoder_decoder_hashtags"
    stage.mkdir()
    (stage / "metrics.json").write_text(bad)
    metrics = load_run_metrics(RunDir(tmp_path))["02_encoder_decoder_hashtags"]
    assert metrics.status == "unreadable" and metrics.error
    # the command line: one line, exit status 2
    assert cli_main(["features", str(tmp_path), "--posts", str(manifest)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "manifest.jsonl:1" in err and "\n" not in err


def test_disk_full_in_preprocess_is_one_line_and_leaves_no_partial_file(
    tmp_path, monkeypatch, capsys
):
    import errno
    import json

    import hashtag_kit.files as files
    from hashtag_kit.__main__ import main

    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps({"id": f"p{i}", "text": f"t{i} #a #b"}) + "\n"
                             for i in range(30)))  # fmt: skip
    real_fsync = files._fsync

    def full(path):
        if path.name.startswith(".posts"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_fsync(path)

    monkeypatch.setattr(files, "_fsync", full)
    run = tmp_path / "run"
    argv = ["preprocess", "--run", str(run), "--dataset", "posts", "--data-dir", str(posts)]
    argv += ["--min-tag-freq", "1"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0], err
    assert not [p for p in run.rglob("*") if "tmp" in p.name]
    assert not (run / "01_preprocess" / "posts.jsonl").exists()


def test_reproduce_reports_a_full_disk_in_one_line():
    from tools.reproduce import describe_failure

    line = describe_failure(OSError(28, "No space left on device", "/runs/x/run.json"))
    assert line.count("\n") == 0 and "/runs/x/run.json" in line and "free disk space" in line

    class CellError(Exception):  # what papermill raises for a failing cell
        ename, evalue = "OSError", "[Errno 28] No space left on device: '/runs/x/a.npz'"

    line = describe_failure(CellError())
    assert line.count("\n") == 0 and "/runs/x/a.npz" in line


def test_recommend_on_a_run_from_a_newer_kit_is_one_line(tmp_path, capsys):
    from test_recommender import _hand_weighted_model, write_stage

    from hashtag_kit.__main__ import main
    from hashtag_kit.run import write_json

    run = tmp_path / "run"
    write_stage(run / "02_encoder_decoder_hashtags", _hand_weighted_model())
    write_json(run / "run.json", {"format_version": 7})
    assert main(["recommend", "--text", "a dog", "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "format_version 7" in err and "update hashtag_kit" in err
