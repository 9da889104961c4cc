"""The one post form every loader produces and every stage reads (`Post`), and its manifests:
JSON Lines files of posts, one object per line (`write_posts`, `iter_posts`).

Example:
    >>> p = Post(id="p1", hashtags=["beach", "sunset"], text="golden hour", user="u7")
    >>> Post.from_dict(p.to_dict()) == p
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hashtag_kit.files import BAD_JSON, atomic_open


@dataclass
class Post:
    """One post.

    Args:
        id: unique identifier within a dataset (string, kept as the source wrote it).
        hashtags: normalised hashtags without the leading `#`, in the order the post gave them.
        user: author id, or None when the dataset has no users.
        image: path to the image file (absolute, or relative to the dataset root), or None.
        text: the caption or post text with hashtags removed, or None when missing.
        captions: reference captions of the image (captioning datasets), possibly empty.
        paragraph: reference paragraph description (Stanford image-paragraph), or None.
        meta: anything else the source carried (license, query tag, split, ...).
    """

    id: str
    hashtags: list[str] = field(default_factory=list)
    user: str | None = None
    image: str | None = None
    text: str | None = None
    captions: list[str] = field(default_factory=list)
    paragraph: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def has_text(self) -> bool:
        return bool(self.text and self.text.strip())

    @property
    def has_image(self) -> bool:
        return bool(self.image)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Post:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def write_posts(path: str | Path, posts: Iterable[Post]) -> int:
    """Write posts as JSON Lines (atomically: temp file then rename). Returns the count."""
    n = 0
    with atomic_open(path) as f:
        for p in posts:
            f.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


def iter_posts(path: str | Path) -> Iterator[Post]:
    """Read a manifest written by `write_posts`; a malformed line raises naming file and line."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a FIFO or device would hang or never end
        raise ValueError(f"{path} is not a regular file")
    with open(path, encoding="utf-8") as f:
        lineno = 0
        try:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield Post.from_dict(json.loads(line))
                except (*BAD_JSON, TypeError) as e:
                    raise ValueError(f"{path}:{lineno}: not a post manifest line ({e})") from e
        except UnicodeDecodeError as e:
            where = f" after line {lineno}" if lineno else ""
            raise ValueError(f"{path}: not UTF-8 text{where} ({e.reason})") from None


def read_posts(path: str | Path) -> list[Post]:
    return list(iter_posts(path))
