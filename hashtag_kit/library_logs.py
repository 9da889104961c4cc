"""Log lines of the libraries below the kit that their own switches do not reach, held back.

TensorFlow logs through absl. Lines written before absl is initialised, which is while
TensorFlow's libraries load, ignore `TF_CPP_MIN_LOG_LEVEL` (abseil-cpp pull request 1957, open):
on CPUs where oneDNN is on by default (AVX-512, AMX) every process that imports TensorFlow
prints "oneDNN custom operations are on" twice, whatever the level. pycocoevalcap's PTB
tokenizer, a Java process, counts its tokens on standard error at every call, with no switch.
The command line applies `TF_CPP_MIN_LOG_LEVEL` to those lines too: in its own process while
`tensorflow` is first imported (`QuietImport`) and while the tokenizer runs
(`held_back_stderr`), and for the notebook kernels that `reproduce` starts (`filtered_stderr`).
Only those lines below the level are dropped; everything else, a Python traceback or a fatal
error included, passes unchanged.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

#: a C++ log line of absl / glog: severity letter, date, time, thread, file:line]
CPP_LOG_LINE = re.compile(rb"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]]+\] ")
#: the banner absl writes before the first line it logs before being initialised
ABSL_PREINIT = b"WARNING: All log messages before absl::InitializeLog() is called"
#: lines of tools with no switch for them that tell the user nothing, dropped from level 1 like
#: absl's information lines
INFO_LINES = (
    re.compile(rb"^PTBTokenizer tokenized \d+ tokens at [\d.]+ tokens per second\.\s*$"),
    # jupyter_client interrupts (SIGINT) every kernel it shuts down, the notebook finished; a
    # kernel still inside a message handler then logs this line (a race)
    re.compile(rb"^\[IPKernelApp\] ERROR \| KeyboardInterrupt caught in kernel\.?\s*$"),
)


def filter_library_log(text: bytes, min_level: int) -> bytes:
    r"""`text` without the C++ log lines below `min_level` (0 I, 1 W, 2 E, 3 F, as
    TF_CPP_MIN_LOG_LEVEL) and, from level 1, absl's pre-initialisation banner and the
    `INFO_LINES`; other lines (a Python traceback, a fatal error) are kept.

    Example:
        >>> filter_library_log(b"I0000 00:00:1796403575.18   42 port.cc:153] oneDNN on\nkept\n", 1)
        b'kept\n'
    """
    kept = []
    for line in text.splitlines(keepends=True):
        m = CPP_LOG_LINE.match(line)
        if m and "IWEF".index(m[1].decode()) < min_level:
            continue
        if min_level >= 1 and (
            line.startswith(ABSL_PREINIT) or any(p.match(line) for p in INFO_LINES)
        ):
            continue
        kept.append(line)
    return b"".join(kept)


class QuietImport(importlib.abc.MetaPathFinder):
    """A meta path finder: while `name` is first imported, the C++ log lines are held back
    (the import runs inside `held_back_stderr`). Put it first on `sys.meta_path`; it takes
    itself off when the import runs.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._finding = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name or self._finding:
            return None
        self._finding = True  # the normal finders find the module
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _HeldBackLoader(spec.loader, self)
        return spec


class _HeldBackLoader(importlib.abc.Loader):
    def __init__(self, loader, finder: QuietImport) -> None:
        self.loader, self.finder = loader, finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        if self.finder in sys.meta_path:  # the first import only
            sys.meta_path.remove(self.finder)
        try:
            with held_back_stderr():
                self.loader.exec_module(module)
        finally:
            module.__loader__ = module.__spec__.loader = self.loader  # as if never held


@contextlib.contextmanager
def held_back_stderr() -> Iterator[None]:
    """Send file descriptor 2 (this process's and its children's standard error) to a
    temporary file for the `with` block, then write it back through `filter_library_log` at
    `env_level()`, whether the block failed or not. For short calls (an import, a tokenizer
    run): nothing appears until the block ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = filter_library_log(held.read(), env_level())
            if text:
                os.write(2, text)


def env_level() -> int:
    """`TF_CPP_MIN_LOG_LEVEL` as a number (0 when unset or not a number)."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip()
    return int(level) if level.isdigit() else 0


@contextlib.contextmanager
def filtered_stderr(min_level: int | None = None) -> Iterator[None]:
    """Pass this process's file descriptor 2, which child processes inherit, through
    `filter_library_log` for the `with` block (default level: `env_level()` on entry).

    For a parent whose children load TensorFlow (papermill's notebook kernels): a thread
    forwards each line as it ends, so the parent's own messages keep their order. A child
    still holding the pipe when the block ends is given a few seconds to close it.
    """
    level = env_level() if min_level is None else min_level
    if level < 1:  # nothing to drop
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                kept = filter_library_log(line, level)
                if kept:
                    os.write(saved, kept)

    pump = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer here closes; the thread reads to its end
        pump.join(timeout=5)
        if not pump.is_alive():
            os.close(saved)
