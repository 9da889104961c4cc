"""TensorFlow's C++ log lines that TF_CPP_MIN_LOG_LEVEL misses (hashtag_kit.library_logs)."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from hashtag_kit.library_logs import (
    QuietImport,
    filter_library_log,
    filtered_stderr,
    held_back_stderr,
)
from tools import reproduce

ABSL_LINES = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1796403575.184966   21180 port.cc:153] oneDNN custom operations are on.\n"
    b"W0000 00:00:1796403575.2   21180 cpu_feature_guard.cc:2] a warning\n"
    b"E0000 00:00:1796403575.3   21180 x.cc:1] an error\n"
    b"Traceback (a line that is not a C++ log line)\n"
)


@pytest.mark.parametrize(
    "level, kept",
    [("0", 5), ("1", 3), ("2", 2), ("3", 1)],
)
def test_quiet_import_filters_what_absl_writes_before_it_is_initialised(
    level, kept, tmp_path, monkeypatch, capfd
):
    """TensorFlow's libraries log through absl before absl is initialised, which ignores
    TF_CPP_MIN_LOG_LEVEL (seen on CPUs with AMX: 'oneDNN custom operations are on' twice on
    every start); the quiet import applies the level to those lines and keeps the rest."""

    (tmp_path / "fake_absl_lib.py").write_text(f"import os\nos.write(2, {ABSL_LINES!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_absl_lib", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    hold = QuietImport("fake_absl_lib")
    monkeypatch.setattr(sys, "meta_path", [hold, *sys.meta_path])
    import fake_absl_lib

    assert hold not in sys.meta_path  # the first import only
    assert type(fake_absl_lib.__loader__).__name__ == "SourceFileLoader"  # as if never held
    err = capfd.readouterr().err.splitlines(keepends=True)
    lines = ABSL_LINES.decode().splitlines(keepends=True)
    assert err == (lines if kept == 5 else lines[-kept:])


def _expected(level: int) -> list[str]:
    lines = ABSL_LINES.decode().splitlines(keepends=True)
    return lines if level == 0 else lines[-{1: 3, 2: 2, 3: 1}[level] :]


def test_child_processes_stderr_goes_through_the_filter(capfd):
    """What a child (a notebook kernel) writes to the inherited descriptor 2 is filtered line
    by line; the parent's own lines pass, in order."""
    code = f"import os; os.write(2, {ABSL_LINES!r})"
    with filtered_stderr(2):
        # to descriptor 2, as a process's stderr writes (capfd points sys.stderr past it)
        os.write(2, b"parent before\n")
        subprocess.run([sys.executable, "-c", code], check=True)
        os.write(2, b"parent after\n")
    print("not filtered any more", file=sys.stderr)
    err = capfd.readouterr().err.splitlines(keepends=True)
    assert err == ["parent before\n", *_expected(2), "parent after\n", "not filtered any more\n"]


def test_reproduce_filters_the_notebook_kernels_start_up_lines(tmp_path, monkeypatch, capfd):
    """A kernel that writes absl's pre-initialisation lines (as TensorFlow does when it loads
    on an AVX-512 / AMX CPU): at level 3 only its other lines reach the terminal."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.setattr(reproduce, "NOTEBOOKS", notebooks)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('RUN_DIR: str = ""\nRUN_MODE: str = "full"')
    params.metadata["tags"] = ["parameters"]
    cell = f"import os\nos.write(2, {ABSL_LINES!r})\nprint('ran')"
    nb.cells = [params, nbformat.v4.new_code_cell(cell)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, notebooks / "01_preprocess.ipynb")
    reproduce.execute("01_preprocess", tmp_path / "run", "smoke")
    err = capfd.readouterr().err
    assert "oneDNN" not in err and "absl::InitializeLog" not in err and "an error" not in err
    assert "Traceback (a line that is not a C++ log line)" in err


def test_the_ptb_tokenizers_token_count_is_held_back_with_the_rest(monkeypatch, capfd):
    """pycocoevalcap's PTB tokenizer (a Java process) prints its token count on standard
    error at every call; from level 1 it is dropped, like absl's information lines."""
    from hashtag_kit.evaluation.captions import java_available, tokenize_captions

    line = b"PTBTokenizer tokenized 6155 tokens at 93705.29 tokens per second.\n"
    code = f"import os; os.write(2, {line + b'kept line' + chr(10).encode()!r})"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    with held_back_stderr():
        subprocess.run([sys.executable, "-c", code], check=True)
    assert capfd.readouterr().err == "kept line\n"
    if not java_available():
        pytest.skip("no Java: the PTB tokenizer is not run here")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    out, name = tokenize_captions({"a": ["A dog runs."]})
    assert (out, name) == ({"a": ["a dog runs"]}, "ptb")
    assert "PTBTokenizer" not in capfd.readouterr().err
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # a level the user set is honoured
    tokenize_captions({"a": ["A dog runs."]})
    assert "PTBTokenizer tokenized" in capfd.readouterr().err


def test_the_kernels_shutdown_interrupt_line_is_dropped_from_level_1():
    """jupyter_client sends SIGINT to every kernel it shuts down; a kernel still in a message
    handler logs it as an error after its notebook finished. Dropped from level 1; a real
    error of the kernel is kept."""
    line = b"[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.\n"
    other = b"[IPKernelApp] ERROR | Exception in message handler:\n"
    assert filter_library_log(line + other, 1) == other
    assert filter_library_log(line, 0) == line
