"""Folders of Instagram posts as Instaloader saves them (the raw form of MM-INS, which was
crawled with Instaloader, one folder per query hashtag such as `#beach/`).

Layout (Instaloader's default file names; one folder per hashtag or profile):

    <data_dir>/#beach/2019-03-02_14-25-31_UTC.jpg        the image
                                                         (carousels: ..._UTC_1.jpg, _2, ...)
    <data_dir>/#beach/2019-03-02_14-25-31_UTC.txt        the caption
    <data_dir>/#beach/2019-03-02_14-25-31_UTC.json(.xz)  metadata (optional): shortcode, owner

`data_dir` may also be one such folder. One post per caption file: hashtags are extracted from
the caption and removed from the text; the image is the post's first picture (`meta["images"]`
lists all); `id` is the metadata's shortcode (else `<folder>/<stem>`); `user` the owner's
username (else id) from the metadata; `meta["query"]` the folder name without `#`. Posts whose
caption is not UTF-8, whose metadata cannot be read (counted; the post is kept without it), or
that repeat a shortcode are counted; videos without a picture keep `image=None` (counted).

Example:
    >>> from hashtag_kit.report import RunReport
    >>> posts = load_instaloader("mm-ins", RunReport())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import lzma
from pathlib import Path

from hashtag_kit.data.loaders import DatasetNotFoundError, image_path, text_and_tags
from hashtag_kit.data.posts import Post
from hashtag_kit.files import BAD_JSON
from hashtag_kit.report import RunReport
from hashtag_kit.text import clean_str

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
SKIP_TXT_SUFFIXES = ("_comments.txt", "_location.txt")


def _caption_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.glob("*_UTC*.txt")
        if p.is_file() and not p.name.endswith(SKIP_TXT_SUFFIXES)
    )


def is_instaloader_folder(path: str | Path) -> bool:
    """True when `path` (or one of its sub-folders) holds Instaloader caption files."""
    path = Path(path)
    if not path.is_dir():
        return False
    if _caption_files(path):
        return True
    return any(d.is_dir() and _caption_files(d) for d in path.iterdir())


def _metadata(stem_path: Path, report: RunReport, where: str) -> dict:
    for suffix, opener in ((".json.xz", lzma.open), (".json", open)):
        f = stem_path.with_name(stem_path.name + suffix)
        if f.is_file():
            try:
                with opener(f, "rt", encoding="utf-8") as fh:
                    data = json.load(fh)
                return data.get("node", data) if isinstance(data, dict) else {}
            except (OSError, EOFError, lzma.LZMAError, *BAD_JSON) as e:
                report.note("unreadable_metadata", where, f"{f.name}: {e}")
    return {}


def load_instaloader(
    data_dir: str | Path,
    report: RunReport,
    *,
    limit: int | None = None,
    require_hashtags: bool = True,
) -> list[Post]:
    """Posts from Instaloader download folders (see the module doc).

    Args:
        data_dir: a folder of hashtag/profile folders, or one such folder.
        report, limit: counts every skipped or repaired record; stop after `limit` posts.
        require_hashtags: skip (and count) posts whose caption has no hashtag.
    """
    root = Path(data_dir)
    folders = [root] if _caption_files(root) else sorted(d for d in root.iterdir() if d.is_dir())
    folders = [d for d in folders if _caption_files(d)]
    if not folders:
        raise DatasetNotFoundError(
            f"posts: no Instaloader caption files (*_UTC.txt) in {root} or its sub-folders"
        )
    posts: list[Post] = []
    seen: set[str] = set()
    for folder in folders:
        query = folder.name.lstrip("#＃") or None
        pictures: dict[str, list[str]] = {}  # stem -> its pictures (`stem`, `stem_1`, ...)
        for p in sorted(folder.iterdir()):  # once: a glob per post took 4,000 posts 24 s
            if p.suffix.lower() in IMAGE_SUFFIXES:
                pictures.setdefault(p.stem, []).append(p.name)
                base, _, n = p.stem.rpartition("_")
                if base and n.isdigit():
                    pictures.setdefault(base, []).append(p.name)
        for cap in _caption_files(folder):
            stem = cap.with_suffix("")
            where = str(cap)
            try:
                raw = cap.read_text(encoding="utf-8")
            except UnicodeDecodeError as e:
                report.skip("malformed_line", where, f"caption not UTF-8 ({e.reason})")
                continue
            meta_node = _metadata(stem, report, where)
            default = f"{folder.name}/{stem.name}"
            pid = clean_str(meta_node.get("shortcode"), report, where) or default
            label = f"{where} (post {pid})"
            if pid in seen:
                report.skip("duplicate_id", label, "post saved twice; kept first")
                continue
            text, tags = text_and_tags(clean_str(raw, report, label))
            if not tags and require_hashtags:
                report.skip("post_without_hashtags", label)
                continue
            images = []
            for name in pictures.get(stem.name, []):
                if (path := image_path(folder, name, report, label)) is not None:
                    images.append(str(path))
            if not images:
                report.note("image_not_available", label, "no picture (video post?)")
            if text is None and not images:
                report.skip("post_without_content", label, "no caption text and no picture")
                continue
            if text is None:
                report.note("empty_text", label, "caption is empty or only hashtags")
            owner = meta_node.get("owner") if isinstance(meta_node.get("owner"), dict) else {}
            user = clean_str(owner.get("username") or owner.get("id"), report, label)
            seen.add(pid)
            meta = {"query": query, "images": images, "file": cap.name}
            image = images[0] if images else None
            posts.append(Post(id=pid, hashtags=tags, user=user, image=image, text=text, meta=meta))
            if limit is not None and len(posts) >= limit:
                return posts
    return posts
