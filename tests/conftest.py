"""Shared pytest fixtures: the real-data folder (opt-in through HASHTAG_KIT_DATA)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the repository's own tooling (`tools/`: notebook runner, benchmarks, README generator) is not
# installed with the package; tests import it as `tools.<module>` from the checkout
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run full-size (slow) tests")


#: session fixtures that build a run (minutes each): under pytest-xdist the tests using one
#: run on one worker, so each run is built once
_SHARED_RUNS = {
    "flickr8k_smoke_run": "flickr8k_run",
    "smoke_run_dir": "smoke_run",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    # `make test` runs the suite on pytest-xdist workers (`--dist loadgroup`): a test goes with
    # the session run it uses, else with its module (module fixtures are built once)
    for item in items:
        used = [g for name, g in _SHARED_RUNS.items() if name in item.fixturenames]
        group = used[0] if used else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="full-size run: opt in with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real-data folder (`HASHTAG_KIT_DATA`, e.g. ../shared/data); skips when unset."""
    value = os.environ.get("HASHTAG_KIT_DATA")
    if not value:
        pytest.skip("HASHTAG_KIT_DATA is not set: real-data tests need the shared data folder")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"HASHTAG_KIT_DATA={value} is not a folder")
    return path


# -- smoke runs of the notebooks ----------------------------------------------------------------
# One session-scoped run directory: notebook 01 runs once (smoke mode, embedded data) and every
# later notebook's smoke test runs on its outputs, in stage order, each at most once per session.

REPO = Path(__file__).resolve().parent.parent
# features are keyed by content, so test sessions share one cache (gitignored)
os.environ.setdefault("HASHTAG_KIT_FEATURE_CACHE", str(REPO / "data" / "cache" / "features"))
# notebooks run with their own folder as working directory: a relative data path (e.g.
# HASHTAG_KIT_DATA=../shared/data) means the folder as seen from where pytest was started
if os.environ.get("HASHTAG_KIT_DATA"):
    os.environ["HASHTAG_KIT_DATA"] = os.path.abspath(os.environ["HASHTAG_KIT_DATA"])

_executed: dict = {}


def _execute(stage: str, run_dir: Path, params: dict) -> Path:
    from tools.reproduce import execute

    key = (stage, str(run_dir), json.dumps(params, sort_keys=True))
    if key not in _executed:
        execute(stage, run_dir, "smoke", params)
        _executed[key] = run_dir / "executed" / f"{stage}.ipynb"
    return _executed[key]


@pytest.fixture(scope="session")
def smoke_run_dir(tmp_path_factory) -> Path:
    """A run directory with notebook 01's smoke outputs (manifests + cached features)."""
    run_dir = tmp_path_factory.mktemp("smoke_run")
    _execute("01_preprocess", run_dir, {})
    return run_dir


@pytest.fixture(scope="session")
def smoke_notebook(smoke_run_dir):
    """`smoke_notebook(stage, **params)` executes a notebook once per session on the smoke run.

    Returns the stage folder (`<run>/<stage>`). Earlier stages a notebook needs must have been
    executed first (call `smoke_notebook` for them too; repeated calls are free).
    """

    def run(stage: str, **params) -> Path:
        _execute(stage, smoke_run_dir, params)
        return smoke_run_dir / stage

    return run


# -- a finished smoke Flickr8k run ----------------------------------------------------------------
@pytest.fixture(scope="session")
def flickr8k_smoke_run(real_data, tmp_path_factory) -> Path:
    """A finished smoke Flickr8k run (notebooks 01-05 on the first 1,200 photos), made once per
    session with `python -m hashtag_kit reproduce --mode smoke --dataset flickr8k -p
    MAX_POSTS=1200` (several minutes on 2 cores; features are reused from the shared test
    cache).

    `$HASHTAG_KIT_FLICKR8K_RUN`, when set, names a finished run to use instead (a developer's
    `outputs/<run>`), so a test that needs one does not wait for a new run.
    """
    import subprocess
    import sys

    given = os.environ.get("HASHTAG_KIT_FLICKR8K_RUN")
    if given:
        if not (Path(given) / "run.json").is_file():
            pytest.fail(f"HASHTAG_KIT_FLICKR8K_RUN={given} is not a run directory")
        return Path(given).resolve()
    flickr = real_data / "flickr8k"
    if not (flickr / "Flickr8k.token.txt").is_file():
        pytest.skip(f"{flickr}/Flickr8k.token.txt not found: the Flickr8k run needs it")
    run_dir = tmp_path_factory.mktemp("flickr8k_smoke_run")
    cmd = [sys.executable, "-m", "hashtag_kit", "reproduce", "--run", str(run_dir)]
    cmd += ["--mode", "smoke", "--dataset", "flickr8k", "--data-dir", str(flickr)]
    cmd += ["-p", "MAX_POSTS=1200"]  # about 900 training and 150 dev photos
    # the captioners: smoke mode's 8 epochs (the preset's 5 are sized for 6,000 photos)
    cmd += ["-p", "04:EPOCHS=8"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"the smoke Flickr8k run failed ({' '.join(cmd)}):\n{done.stdout[-3000:]}")
    return run_dir
