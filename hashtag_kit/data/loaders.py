"""Helpers every dataset loader of `hashtag_kit.data` shares, so its checks are the same everywhere:

* `require_file` / `require_dir`: a `DatasetNotFoundError` saying what is expected and where to
  get it;
* `check_text_encoding` / `iter_lines` / `read_json_file`: UTF-16/32 files are refused
  (`EncodingError`, naming the file); a line with a NUL or an undecodable byte is skipped and
  counted with its line number; a whole file that is not JSON is an error naming it;
* `image_path`: an image path inside the data folder, or None (counted) when it escapes it;
* `text_and_tags`: a text without its hashtags, and the hashtags found in it.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from hashtag_kit.data.images import ImageError, resolve_image_path
from hashtag_kit.files import BAD_JSON
from hashtag_kit.report import RunReport
from hashtag_kit.text import hashtag_spans, strip_hashtags


class DatasetNotFoundError(FileNotFoundError):
    """A missing dataset folder or file; the message says what is expected and where to get it."""


def require_file(path: Path, dataset: str, get_it: str) -> Path:
    """`path` if it is a file, else `DatasetNotFoundError` naming it and where to get the data."""
    if not path.is_file():
        raise DatasetNotFoundError(
            f"{dataset}: expected file {path} (not found). {get_it}".rstrip()
        )
    return path


def require_dir(path: str | Path | None, dataset: str, get_it: str) -> Path:
    if path is None or str(path) == "":
        raise DatasetNotFoundError(f"{dataset}: no data folder given (data_dir). {get_it}")
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetNotFoundError(f"{dataset}: data folder {p} does not exist. {get_it}")
    return p


def image_path(root: str | Path, rel: str, report: RunReport, where: str) -> Path | None:
    """`resolve_image_path(root, rel)`, or None when the path escapes `root` (counted in `report`
    as `unsafe_image_path_dropped`)."""
    try:
        return resolve_image_path(root, rel)
    except ImageError as e:
        report.note("unsafe_image_path_dropped", where, e.reason)
        return None


def text_and_tags(raw: str | None) -> tuple[str | None, list[str]]:
    """(text with hashtags removed or None, hashtags found in it)."""
    if not raw:
        return None, []
    spans = hashtag_spans(raw)
    tags = list(dict.fromkeys(s.tag for s in spans if s.tag))
    return (strip_hashtags(raw, spans) or None), tags


_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
)


class EncodingError(ValueError):
    """A text file is not UTF-8 as a whole (UTF-16/32); the message names the file and what to
    do. Single bad lines are skipped and counted instead."""


def check_text_encoding(path: Path) -> None:
    """Raise `EncodingError` for a UTF-16/32 file (byte-order mark, or NUL bytes in most
    positions): read as UTF-8 it would turn into garbage records."""
    with open(path, "rb") as f:
        head = f.read(4096)
    for bom, name in _BOMS:
        if head.startswith(bom):
            raise EncodingError(
                f"{path}: the file is {name} text (byte-order mark); the kit reads UTF-8: "
                f"re-save it as UTF-8 (e.g. `iconv -f {name.split()[0]} -t UTF-8`)"
            )
    if len(head) >= 8 and head.count(0) > len(head) // 4:
        raise EncodingError(
            f"{path}: {head.count(0)} of the first {len(head)} bytes are NUL: UTF-16 or UTF-32 "
            "text without a byte-order mark (or a binary file); re-save it as UTF-8"
        )


def read_json_file(path: Path, what: str = "a JSON file"):
    """A dataset's whole JSON file (UTF-8, a byte-order mark allowed). Raises `EncodingError`
    (UTF-16/32) or a ValueError naming the file ("<path>: not <what> (...)")."""
    check_text_encoding(path)
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except BAD_JSON as e:  # UnicodeDecodeError is a ValueError too
        raise ValueError(f"{path}: not {what} ({e})") from None


#: the longest line read, in bytes with its line end (the real datasets' longest has 228): a
#: longer one is skipped and counted, read in pieces of this size (one CSV line of 100 MB took
#: 2.8 GB, one JSON line 0.5 GB)
MAX_LINE_BYTES = 10_000_000


def iter_lines(path: Path, report: RunReport, keepends: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 text file.

    A line that is not UTF-8, holds a NUL byte or is longer than `MAX_LINE_BYTES` is skipped and
    counted in `report` (`malformed_line`, with file, line and column); the rest of the file is
    read. A UTF-8 byte-order mark is dropped; line ends are stripped unless `keepends`.

    Raises:
        EncodingError: the whole file is UTF-16/32 (see `check_text_encoding`).
    """
    check_text_encoding(path)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), 1):
            where = f"{path}:{lineno}"
            if len(raw) > MAX_LINE_BYTES:
                while raw and not raw.endswith(b"\n"):  # the rest of the line, not kept
                    raw = f.readline(MAX_LINE_BYTES)
                report.skip("malformed_line", where, f"longer than {MAX_LINE_BYTES:,} bytes")
                continue
            if b"\x00" in raw:
                col = raw.index(b"\x00") + 1
                report.skip("malformed_line", where, f"NUL byte at column {col}")
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                byte = raw[e.start : e.start + 1].hex()
                why = f"not UTF-8: byte 0x{byte} at column {e.start + 1} ({e.reason})"
                report.skip("malformed_line", where, why)
                continue
            if lineno == 1:
                line = line.lstrip("\ufeff")
            yield lineno, line if keepends else line.rstrip("\r\n")


def count_lines(path: Path) -> int:
    """Number of lines of a file (a last line without a newline counts)."""
    check_text_encoding(Path(path))
    data = Path(path).read_bytes()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def normalise_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().lower().replace("-", "_").replace(" ", "_")
