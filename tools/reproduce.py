"""Run the whole study: notebooks 01 -> 05 with papermill, into one run directory.

    python -m hashtag_kit reproduce --run default --mode full      # what `make reproduce` does
    python -m hashtag_kit reproduce --run smoke --mode smoke --only 01 02
    python -m hashtag_kit reproduce --run flickr8k --dataset flickr8k --data-dir DIR

The studies after 05 (`STUDIES`: 06 the fusion seed study, 07 the TweetEval evaluation) run
only when named (`--only 06`; `make evaluate-fusion`, `make evaluate-tweets`): they retrain
for several seeds or need the real TweetEval data, and `make reproduce` stays the 01-05 job.

A real dataset (`--dataset`, `--data-dir`) runs every notebook with that dataset's preset
(`DATASET_PRESETS`: the official split, model sizes for real photos); the embedded default
keeps each notebook's own parameters.

It runs from a checkout's root, as `make reproduce` does: the notebooks (`notebooks/`) and this
runner (the repository's tooling, `tools/`) are not installed with the package, and a bare run
name means `outputs/<run>` there.

Each executed notebook is written to `outputs/<run>/executed/`, wall times to
`outputs/<run>/timings.json`. The run stops at the first failing notebook and prints the failing
cell and error. Caches (the generated embedded dataset, the feature cache) are reused and the
runner says which it found.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hashtag_kit.cli import UserError, parser
from hashtag_kit.data.embedded import default_root
from hashtag_kit.files import describe_os_error
from hashtag_kit.library_logs import filtered_stderr
from hashtag_kit.run import (
    COMPARISON,
    ENCODER_DECODER,
    STAGES,
    RunDir,
    read_json,
    run_dir_for,
    write_json,
)

#: the checkout's notebooks, relative to the working directory (the checkout's root)
NOTEBOOKS = Path("notebooks")
FUSION_STUDY = "06_fusion_seed_study"
TWEETEVAL = "07_tweeteval"
#: notebooks after 05 that `reproduce` runs only when `--only` names them
STUDIES = (FUSION_STUDY, TWEETEVAL)


#: per dataset, the notebook parameters that differ from the notebooks' embedded defaults
#: (papermill parameters, by stage). Flickr8k: the release's official split (train / dev; the
#: test list when its photos are present), Flickr8k-tags (`hashtag_kit.data.flickr8k`), and
#: notebook 04's captioners sized for 6,000 real training photos (Xu et al. 2015's settings
#: where they pay on CPU: dropout, doubly stochastic attention, vocabulary threshold, early
#: stopping on dev, beam search; and a length penalty on the beam's final choice).
DATASET_PRESETS: dict[str, dict[str, dict]] = {
    "flickr8k": {
        # a 14x14 grid for Show-Attend-Tell (Xu et al.'s 196 regions): +0.009 BLEU-4 on dev
        # over the 7x7 grid, at 4x the extraction cost (docs/results.md)
        "01_preprocess": {
            "DATASET": "flickr8k",
            "MIN_TAG_FREQ": 5,
            "IMAGE_ENCODER": "efficientnet_lite0_448",
        },
        "02_encoder_decoder_hashtags": {"SPLIT": "official", "EPOCHS": 12, "BATCH_SIZE": 64},
        "03_attention_baseline": {
            "SPLIT": "official",
            "HARRISON_DIR": "none",
            "EPOCHS": 8,
            "BATCH_SIZE": 64,
        },
        "04_caption_decoder": {
            "EPOCHS": 5,  # Show-Attend-Tell: 4.7 min an epoch on 2 cores (1.7 on a 7x7 grid)
            "PATIENCE": 2,
            "UNITS": 384,
            "EMBED_DIM": 256,
            "ATTENTION_UNITS": 256,
            "BATCH_SIZE": 64,
            "MIN_WORD_COUNT": 5,
            "DROPOUT": 0.5,
            "ATTENTION_REG": 1.0,
            "LENGTH_PENALTY": 0.5,  # chosen on dev among 0, 0.5, 1 (docs/results.md)
            "N_SAMPLES": 6,
        },
    },
}


#: parameters every headless run gives a notebook: papermill has no widget front end, so
#: notebook 02 prints its hashtag panel's scripted interaction instead of showing the widgets
#: (`hashtag_kit.panel`); `-p` parameters still override them
HEADLESS_PARAMETERS: dict[str, dict] = {ENCODER_DECODER: {"INTERACTIVE": False}}


def stage_parameters(stage: str, dataset: str | None, data_dir: str | None) -> dict:
    """The papermill parameters of one stage for a dataset (its preset plus `DATA_DIR`)."""
    if dataset in (None, "embedded"):
        return {}
    if dataset not in DATASET_PRESETS:
        raise ValueError(
            f"reproduce has no preset for dataset {dataset!r}; known: "
            f"{['embedded', *DATASET_PRESETS]} (notebooks take any dataset by parameters)"
        )
    params = dict(DATASET_PRESETS[dataset].get(stage, {}))
    if stage == "01_preprocess":
        if not data_dir:
            raise ValueError(f"--dataset {dataset} needs --data-dir, the dataset's folder")
        params["DATA_DIR"] = str(Path(data_dir).resolve())
    return params


def notebook_path(stage: str) -> Path:
    return NOTEBOOKS.resolve() / f"{stage}.ipynb"


def _say_reused(run_dir: Path) -> None:
    emb = default_root()
    if emb.is_dir() and any(emb.iterdir()):
        versions = ", ".join(sorted(p.name for p in emb.iterdir() if p.is_dir()))
        print(f"generated embedded data in {emb}: {versions} (a missing version is generated)")
    feats = run_dir / "features"
    if feats.is_dir():
        n = sum(1 for _ in feats.rglob("*") if _.is_file())
        print(
            f"feature cache in {feats} ({n} files): only missing shards are computed; notebook "
            "01 prints how many features it reused"
        )
    shared = os.environ.get("HASHTAG_KIT_FEATURE_CACHE")
    if shared:
        print(f"shared feature cache: {shared}")


def kernel_config():
    """The notebook kernel's configuration: its channels encrypted with CurveZMQ when pyzmq and
    the kernel support it (jupyter_client's `transport_encryption="auto"`; otherwise plain
    TCP on localhost, as before, and ipykernel warns at every start that it is unencrypted)."""
    # lazy: only notebook runs need it
    import zmq
    from traitlets.config import Config

    return Config({"KernelManager": {"transport_encryption": "auto"}} if zmq.has("curve") else {})


def execute(
    stage: str, run_dir: Path, run_mode: str, extra: dict | None = None, log_output: bool = False
) -> float:
    """Execute one notebook with papermill; returns wall seconds. Raises on a failing cell."""
    # lazy: only notebook runs need it
    import papermill as pm

    out_dir = run_dir / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {
        "RUN_DIR": str(run_dir.resolve()),
        "RUN_MODE": run_mode,
        **HEADLESS_PARAMETERS.get(stage, {}),
        **(extra or {}),
    }
    t0 = time.perf_counter()
    with filtered_stderr():  # the kernel's TensorFlow start-up lines, at TF_CPP_MIN_LOG_LEVEL
        pm.execute_notebook(
            str(notebook_path(stage)),
            str(out_dir / f"{stage}.ipynb"),
            parameters=params,
            kernel_name="python3",
            cwd=str(notebook_path(stage).parent),
            progress_bar=False,
            log_output=log_output,
            config=kernel_config(),
        )
    return time.perf_counter() - t0


_OS_ERRORS = {
    "OSError",
    "IOError",
    "PermissionError",
    "FileNotFoundError",
    "IsADirectoryError",
    "NotADirectoryError",
}


def describe_failure(exc: BaseException) -> str:
    """The failing cell's index, error and the last lines of its traceback; a file error
    (disk full, permission, read-only) in a cell or in the runner itself is one line."""
    if isinstance(exc, OSError):
        return f"error: {describe_os_error(exc)}"
    cell = getattr(exc, "cell_index", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    if ename in _OS_ERRORS and "No space left" in str(evalue):
        return f"error: {ename}: {evalue}; free disk space and run again (earlier stages are kept)"
    lines = [f"failing cell: {cell}" if cell is not None else "failing cell: unknown"]
    source = getattr(exc, "source", None)
    if source:
        lines += ["--- cell source ---", source.rstrip(), "---"]
    lines.append(f"{ename}: {evalue}")
    return "\n".join(lines)


def reproduce(
    run: str,
    run_mode: str,
    only: list[str] | None = None,
    extra=None,
    dataset: str | None = None,
    data_dir: str | None = None,
) -> int:
    """Execute the stages in order; returns 0, or 1 after printing the first failure."""
    run_dir = run_dir_for(run)
    unknown = [o for o in only or () if not any(s.startswith(o) for s in STAGES + STUDIES)]
    if only is not None and (unknown or not only):
        what = f"no stage starts with {', '.join(unknown)}" if unknown else "no stage named"
        print(
            f"error: --only: {what}; name stages by prefix (e.g. --only 01 02) of: "
            f"{', '.join(STAGES + STUDIES)}"
        )
        return 2
    stages = [s for s in STAGES + STUDIES if any(s.startswith(o) for o in only)] if only else STAGES
    if not NOTEBOOKS.is_dir():
        print(
            f"error: no {NOTEBOOKS}/ folder in {Path.cwd()}: run from the project's root (the "
            "notebooks are not installed with the package)"
        )
        return 2
    try:
        mine = declared_params(extra, stages)
        params = {s: {**stage_parameters(s, dataset, data_dir), **mine[s]} for s in stages}
    except ValueError as e:
        print(f"error: {e}")
        return 2
    run_dir.mkdir(parents=True, exist_ok=True)
    RunDir(run_dir).update_meta(run_mode=run_mode)
    _say_reused(run_dir)
    timings_path = run_dir / "timings.json"
    timings = read_json(timings_path) if timings_path.exists() else {}
    total = time.perf_counter()
    for stage in stages:
        print(f"[{stage}] running ({run_mode}) ...", flush=True)
        try:
            seconds = execute(stage, run_dir, run_mode, params[stage])
        except Exception as e:  # papermill's PapermillExecutionError and friends
            print(
                f"[{stage}] FAILED after running earlier stages; executed notebook with the error:"
            )
            print(f"  {run_dir / 'executed' / (stage + '.ipynb')}")
            print(describe_failure(e))
            return 1
        timings[stage] = round(seconds, 1)
        write_json(timings_path, timings)
        print(f"[{stage}] done in {seconds:.0f} s", flush=True)
    print(f"all {len(stages)} notebook(s) done in {time.perf_counter() - total:.0f} s")
    report = run_dir / COMPARISON / "report.html"
    if report.exists():
        print(f"report: {report}")
    return 0


def parse_params(items: list[str]) -> dict:
    """`["EPOCHS=3", "04:DROPOUT=0.5"]` -> `{"EPOCHS": 3, "04:DROPOUT": 0.5}`.

    A `STAGE:` prefix scopes the parameter to the stages whose name starts with STAGE (see
    `for_stage`).
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        stage, _, name = key.rpartition(":")
        if not sep or not name.isidentifier():
            raise ValueError(f"--param takes [STAGE:]NAME=VALUE, got {item!r}")
        if stage and not any(s.startswith(stage) for s in STAGES + STUDIES):
            raise ValueError(
                f"--param {item!r}: no stage starts with {stage!r}; stages: {STAGES + STUDIES}"
            )
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def for_stage(extra: dict | None, stage: str) -> dict:
    """The parameters of `parse_params` that apply to one stage: unscoped ones, then the ones
    scoped to it (`"04:EPOCHS"`), which win."""
    extra = extra or {}
    out = {k: v for k, v in extra.items() if ":" not in k}
    for key, value in extra.items():
        prefix, sep, name = key.rpartition(":")
        if sep and stage.startswith(prefix):
            out[name] = value
    return out


def declared_params(extra: dict | None, stages: list[str]) -> dict[str, dict]:
    """`for_stage` for each stage, keeping the parameters its notebook declares (papermill
    would pass the others on and print "Passed unknown parameter" in each notebook). A parameter
    that no stage of this run declares is a ValueError naming it: a typo would go unused."""
    if not extra:
        return {s: {} for s in stages}
    import papermill as pm  # lazy: only notebook runs need it

    declared = {s: set(pm.inspect_notebook(str(notebook_path(s)))) for s in stages}
    unused = [
        key
        for key in extra
        if not any(
            key.rpartition(":")[2] in declared[s]
            for s in stages
            if s.startswith(key.rpartition(":")[0])
        )
    ]
    if unused:
        raise ValueError(
            f"--param {', '.join(unused)}: no notebook run here ({', '.join(stages)}) has this "
            "parameter; each notebook's parameters cell lists its own"
        )
    return {s: {k: v for k, v in for_stage(extra, s).items() if k in declared[s]} for s in stages}


def main(argv: list[str]) -> int:
    """`python -m hashtag_kit reproduce [options]` (the command line runs it from a checkout)."""
    ap = parser("reproduce", __doc__)
    ap.add_argument("--run", default="default", help="run name (outputs/<name>) or path")
    ap.add_argument("--mode", choices=("smoke", "full"), default="full")
    ap.add_argument(
        "--only", nargs="*", help="stage prefixes to run, e.g. 01 02; 06 and 07 only this way"
    )
    ap.add_argument(
        "--dataset",
        default=None,
        help=f"a real dataset with a preset ({', '.join(DATASET_PRESETS)}); default: embedded",
    )
    ap.add_argument("--data-dir", default=None, help="the dataset's folder (with --dataset)")
    ap.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="[STAGE:]NAME=VALUE",
        help="a notebook parameter, e.g. -p MAX_POSTS=900 (passed to every stage that has it; "
        "one that no stage run has is an error) or -p 04:EPOCHS=8 (only the stages whose name "
        "starts with 04); the value is read as JSON when it parses, else as text",
    )
    args = ap.parse_args(argv)
    try:
        extra = parse_params(args.param)
    except ValueError as e:
        raise UserError(str(e)) from None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return reproduce(
        args.run, args.mode, args.only, extra, dataset=args.dataset, data_dir=args.data_dir
    )
