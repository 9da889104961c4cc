"""Shared pytest fixtures: the real-data folder (opt-in through HASHTAG_KIT_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run full-size (slow) tests")


def pytest_collection_modifyitems(config, items):
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
