"""One run directory per run: how stages find each other's files.

Layout (every stage reads only files here; nothing is passed in memory between notebooks):

    outputs/<run>/
        run.json                     run metadata: dataset, seed, run mode, encoders used
        01_preprocess/
            posts.jsonl              cleaned posts (hashtag_kit.data.posts manifest)
            splits.json              {"random": {"train": [ids], "val": [...], "test": [...]},
                                      "user_disjoint": {...}}
            vocab.json               {"hashtags": [...], "counts": {...}, "min_freq": int, ...}
            report.json              what loading/cleaning skipped or repaired
            metrics.json
        features/<encoder-id>/       feature cache shards (hashtag_kit.features.cache)
        02_encoder_decoder_hashtags/ model.keras, metrics.json, figures ...
        03_attention_baseline/ ...
        04_caption_decoder/ ...
        05_comparison/ report.html ...

Example:
    >>> rd = RunDir("outputs/default")
    >>> rd.stage("01_preprocess").name
    '01_preprocess'
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import re
import threading
import time
from pathlib import Path

from hashtag_kit import files
from hashtag_kit.data.posts import Post, read_posts

PREPROCESS = "01_preprocess"
ENCODER_DECODER = "02_encoder_decoder_hashtags"
ATTENTION = "03_attention_baseline"
CAPTION = "04_caption_decoder"
COMPARISON = "05_comparison"
STAGES = (PREPROCESS, ENCODER_DECODER, ATTENTION, CAPTION, COMPARISON)

#: bumped when the layout of a run directory changes incompatibly
RUN_FORMAT_VERSION = 1


class RunFormatError(ValueError):
    """A run directory's run.json is unreadable or from an incompatible kit version."""


def run_dir_for(run: str) -> Path:
    """A run's folder: a bare name means `outputs/<name>` (in the working directory, a
    checkout's root), anything with a slash is a path."""
    p = Path(run)
    return p if (len(p.parts) > 1 or p.is_absolute()) else Path("outputs") / run


def write_json(path: str | Path, obj) -> Path:
    """Write JSON atomically (`hashtag_kit.files`: unique temp file, then rename), creating
    parent folders; numpy arrays, paths and sets are converted."""
    return files.write_json(path, obj, default=_jsonable)


class JSONFileError(ValueError):
    """A run file that is not the JSON it should be: not a regular file, not UTF-8 text, not
    valid JSON, or not the expected type (names the file)."""


class MissingFeaturesError(RuntimeError):
    """Cached features a run needs are not in its store (never computed, lost or corrupt); the
    message names the command that computes them. The command line reports it in one line."""


def read_json(path: str | Path, expect: type | None = None):
    """A run's JSON file (of type `expect`, e.g. dict, when given). Raises FileNotFoundError
    (missing) or `JSONFileError` (a FIFO, device or folder, which could hang or never end;
    bytes that are not UTF-8; not JSON; another type)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run the stage that writes it first "
            "(notebooks run in order 01 -> 05; `make reproduce` runs them all)"
        )
    if not path.is_file():
        raise JSONFileError(f"{path} is not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise JSONFileError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        value = json.loads(text)
    except files.BAD_JSON as e:
        raise JSONFileError(f"{path}: not valid JSON ({e})") from None
    if expect is not None and not isinstance(value, expect):
        kind = {dict: "JSON object", list: "JSON list"}.get(expect, expect.__name__)
        raise JSONFileError(f"{path}: a {type(value).__name__}, not a {kind}")
    return value


def _jsonable(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, set):
        return sorted(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


class RunDir:
    """Paths and small readers for one run directory (`outputs/<run>`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def stage(self, name: str, create: bool = True) -> Path:
        p = self.path / name
        if create:
            p.mkdir(parents=True, exist_ok=True)
        return p

    # -- metadata ---------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.path / "run.json"

    def meta(self) -> dict:
        """run.json as a dict ({} before the run has one). Raises `RunFormatError` for a file
        that is not a JSON object or was written by a newer, incompatible kit."""
        if not self.meta_path.exists():
            return {}
        try:
            meta = read_json(self.meta_path, dict)
        except JSONFileError as e:
            raise RunFormatError(str(e)) from None
        version = meta.get("format_version", RUN_FORMAT_VERSION)
        if not isinstance(version, int) or version > RUN_FORMAT_VERSION:
            raise RunFormatError(
                f"{self.meta_path}: run format_version {version!r}, this kit reads up to "
                f"{RUN_FORMAT_VERSION}: update hashtag_kit (or re-run the study with this one)"
            )
        return meta

    def update_meta(self, **fields) -> dict:
        """Merge fields into run.json (nested dicts are merged one level deep), under a lock
        so that concurrent writers (two extractions of one run) do not lose each other's
        fields."""
        with files.locked(self.meta_path):
            meta = self.meta()
            meta.setdefault("format_version", RUN_FORMAT_VERSION)
            for k, v in fields.items():
                if isinstance(v, dict) and isinstance(meta.get(k), dict):
                    meta[k].update(v)
                else:
                    meta[k] = v
            write_json(self.meta_path, meta)
        return meta

    # -- preprocess outputs -----------------------------------------------------------------
    def load_posts(self) -> list[Post]:
        return read_posts(self._need(PREPROCESS, "posts.jsonl"))

    def load_splits(self) -> dict:
        return read_json(self._need(PREPROCESS, "splits.json"), dict)

    def load_vocab(self) -> dict:
        return read_json(self._need(PREPROCESS, "vocab.json"), dict)

    def split_posts(self, split: str = "random") -> dict[str, list[Post]]:
        """Posts of each part ('train', 'val', 'test') of a frozen split, in manifest order."""
        splits = self.load_splits()
        if split not in splits:
            raise KeyError(f"{self.path}: no split {split!r}; have {sorted(splits)}")
        parts = splits[split]
        where = f"{self.path / PREPROCESS / 'splits.json'}: split {split!r}"
        if not isinstance(parts, dict) or not all(
            isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in parts.values()
        ):
            raise ValueError(
                f"{where} is not {{part: [post ids]}}; re-run notebook 01 for this run"
            )
        by_id = {p.id: p for p in self.load_posts()}
        missing = [i for ids in parts.values() for i in ids if i not in by_id]
        if missing:
            raise ValueError(
                f"{where} names {len(missing)} post(s) not in posts.jsonl (e.g. {missing[0]!r}); "
                "re-run notebook 01"
            )
        return {part: [by_id[i] for i in ids] for part, ids in parts.items()}

    def metrics(self, stage: str) -> dict:
        return read_json(self.path / stage / "metrics.json")

    def _need(self, stage: str, name: str) -> Path:
        p = self.path / stage / name
        if not p.exists():
            raise FileNotFoundError(
                f"{p} is missing: run notebook {stage} (or `make reproduce`) for this run first"
            )
        return p


#: /proc/cpuinfo flags that change how fast TensorFlow runs on a CPU (oneDNN uses them)
CPU_FEATURES = {"avx2": "AVX2", "avx512f": "AVX-512", "amx_tile": "AMX"}
#: the niceness of the kit's helper threads (feature decoding and writing, checkpoint writing)
BACKGROUND_NICE = 19


def low_priority_thread() -> None:
    """Run the calling helper thread at the lowest scheduling priority (a `ThreadPoolExecutor`
    initializer; a no-op outside Linux, where a thread is a task with its own niceness).

    On 2 cores a network keeps both busy; a helper thread at the same priority preempts one of
    TensorFlow's workers and the whole parallel op waits for it; at nice 19 it fills the gaps.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):
        pass


def cpu(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The processor's name and its vector extensions (Linux), e.g. "Intel(R) Xeon(R)
    Processor (AVX2, AVX-512, AMX)"; elsewhere `platform.processor()`. Speed ratios depend
    on it: with AVX-512 or AMX, TensorFlow turns oneDNN on and the network runs several times
    faster, so the work around it weighs more."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    have = set(flags[1].split()) if flags else set()
    extensions = [label for flag, label in CPU_FEATURES.items() if flag in have]
    label = name[1].strip() if name else platform.processor() or platform.machine()
    return f"{label} ({', '.join(extensions)})" if extensions else label


def environment() -> dict:
    """What a report needs to say about where a run ran."""
    versions = {}
    for pkg in ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas", "nltk", "papermill"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_metrics(stage_dir: str | Path, metrics: dict, run_dir: RunDir | None = None) -> Path:
    """Write a stage's metrics.json, stamped with the run's encoders, dataset, run mode, seed,
    `official_test_part` (so a reader can tell dev figures from test ones:
    `hashtag_kit.data.splits.scored_part`) and environment."""
    stage_dir = Path(stage_dir)
    meta = (run_dir or RunDir(stage_dir.parent)).meta()
    out = {
        "stage": stage_dir.name,
        "encoders": meta.get("encoders", {}),
        "dataset": meta.get("dataset"),
        "run_mode": meta.get("run_mode"),
        "seed": meta.get("seed"),
        "official_test_part": meta.get("official_test_part"),
        **metrics,
        "environment": environment(),
    }
    return write_json(stage_dir / "metrics.json", out)
