"""Writing files so that a crash, a full disk or a second process never leaves a partial one.

Every file the kit writes (run metadata, manifests, feature shards, stage models, checkpoints)
goes through `atomic_path`: the content is written to a temporary file with a unique name in
the target's folder, flushed to disk, and renamed over the target (`os.replace`, atomic on
POSIX and Windows within one filesystem). On any failure the temporary file is removed and the
old target, if any, is left untouched. Two processes writing the same target at once each
write their own temporary file; a reader sees one complete version or the other, never a mix.

Temporary names are `.<name>.tmp-<pid>-<8 hex><suffix>` (the suffix kept, since `model.save`
and `np.savez` choose the format by it). A process killed mid-write cannot clean up, so
`sweep_stale_temps` removes such files whose process is gone; stores call it when they open.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_open(d / "a.txt") as f:
    ...     _ = f.write("hello")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('hello', ['a.txt'])
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

#: temporary files: `.<name>.tmp-<pid>-<8 hex>[suffix]`, and the older `<name>.tmp-<pid>`
_TEMP = re.compile(r"^\..+\.tmp-(?P<pid>\d+)-[0-9a-f]{8}(\.\w+)?$|^.+\.tmp-(?P<old>\d+)$")
#: a temporary file older than this is stale even if its process id is in use again
STALE_SECONDS = 24 * 3600
#: what `json.loads` raises for text it cannot turn into a value: `json.JSONDecodeError` (a
#: ValueError), a ValueError for an integer of more than 4,300 digits, and RecursionError for
#: arrays or objects nested deeper than the interpreter's stack (a hostile file)
BAD_JSON = (ValueError, RecursionError)


def temp_path(path: str | Path) -> Path:
    """A unique temporary name beside `path`, keeping its suffix."""
    path = Path(path)
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.stem}.tmp-{tag}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write `path`'s new content to; on success it replaces `path`,
    on any exception it is removed (and `path` keeps its old content).

    For writers that take a file name (`model.save`, `np.savez`, `zipfile`)::

        with atomic_path(stage / "model.keras") as tmp:
            model.save(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        if tmp.is_file():
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str = "utf-8"):
    """`open` for writing, atomically (see `atomic_path`); text mode writes UTF-8."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes a new file: mode {mode!r} is not a 'w' mode")
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as f:
            yield f


def write_text(path: str | Path, text: str) -> Path:
    """Write text (UTF-8) atomically; returns the path."""
    with atomic_open(path) as f:
        f.write(text)
    return Path(path)


def write_json(path: str | Path, obj, default=None) -> Path:
    """Write JSON (indented, UTF-8) atomically, creating parent folders; returns the path."""
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=default))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_DIGESTS: dict[tuple, str] = {}


def file_digest(path: str | Path) -> str:
    """`file_sha256`, memoised by path, size and modification time (for weight files hashed
    on every encoder load; verification of untrusted files uses `file_sha256`)."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(path)
    return _DIGESTS[key]


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `<path>.lock` (POSIX `flock`) for a read-modify-write of
    `path` shared by several processes (e.g. two extractions updating one run's run.json).
    Where `fcntl` is missing (Windows) it only serialises nothing: writes stay atomic."""
    try:
        import fcntl  # lazy: POSIX only
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock = Path(path).with_name(Path(path).name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists
        pass
    return True


def sweep_stale_temps(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Remove temporary files left in `folder` by writers that died (their process is gone,
    or they are older than `STALE_SECONDS`); returns what was removed. Files of a live writer
    are kept."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.rglob("*tmp-*") if recursive else folder.glob("*tmp-*"):
        m = _TEMP.match(p.name)
        if not m or not p.is_file():
            continue
        pid = int(m.group("pid") or m.group("old"))
        try:
            old = time.time() - p.stat().st_mtime > STALE_SECONDS
        except FileNotFoundError:
            continue
        if old or not _alive(pid):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


def describe_os_error(e: OSError) -> str:
    """One line for a failed file operation (disk full, permission, read-only filesystem): what,
    where, and what to do, as the command-line tools print it."""
    where = e.filename or "(unknown file)"
    if e.filename2:
        where = f"{where} -> {e.filename2}"
    reason = e.strerror or str(e)
    hint = {
        errno.ENOSPC: "free disk space (or write the run elsewhere) and run the command again; "
        "files written before are intact",
        errno.EDQUOT: "the disk quota is full: free space and run the command again",
        errno.EACCES: "no permission: choose a folder you can write to",
        errno.EPERM: "no permission: choose a folder you can write to",
        errno.EROFS: "the filesystem is read-only: write the run to another folder",
        errno.ENOENT: "check the path",
    }.get(e.errno, "check the path and the disk")
    return f"cannot access {where}: {reason}; {hint}"
