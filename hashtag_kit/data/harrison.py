"""HARRISON hashtag benchmark (Park et al. 2016) -> image posts with their hashtags.

Files (the HARRISON-Dataset release):

    <data_dir>/data_list.txt     one image path per line: instagram_dataset/<query>/image_N.jpg
    <data_dir>/tag_list.txt      the hashtags of the same line's image, space-separated
    <data_dir>/vocab_index.txt   the 997-tag vocabulary: "<tag> <index>" per line (optional)
    <images_dir>/<path>          the images (the 6 GB archive; optional)

One post per line pair: `id` is the path without the `instagram_dataset/` prefix and the
extension (`sea/image_50`), `hashtags` the normalised tags, `meta["query"]` the folder: the
hashtag the post was collected under (it is not always among the post's own tags; use
`add_query_tag=True` to add it). The two lists must have the same number of lines (otherwise
no line can be trusted: ValueError naming both files and their counts). Empty tag lines,
blank or repeated paths are skipped and counted with file:line. `vocab_only=True` keeps only
tags of `vocab_index.txt` (counted when it drops any).

Example:
    >>> from hashtag_kit.report import RunReport
    >>> posts = load_harrison("../shared/data/harrison", RunReport())  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from hashtag_kit.data.loaders import count_lines, image_path, iter_lines, require_dir, require_file
from hashtag_kit.data.posts import Post
from hashtag_kit.report import RunReport
from hashtag_kit.text import normalise_hashtag

GET_IT = "Get HARRISON from https://github.com/minstone/HARRISON-Dataset."
PREFIX = "instagram_dataset/"


def read_vocab(path: Path, report: RunReport) -> list[str]:
    """Tags of `vocab_index.txt` in index order ("<tag> <index>" lines)."""
    entries: list[tuple[int, str]] = []
    for lineno, line in iter_lines(path, report):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdecimal() or len(parts[1]) > 9:  # int(): 4,300 digits
            report.skip("malformed_line", f"{path}:{lineno}", "expected '<tag> <index>'")
            continue
        entries.append((int(parts[1]), normalise_hashtag(parts[0])))
    return [t for _, t in sorted(entries) if t]


def load_harrison(
    data_dir: str | Path,
    report: RunReport,
    *,
    limit: int | None = None,
    images_dir: str | Path | None = None,
    vocab_only: bool = False,
    add_query_tag: bool = False,
    require_hashtags: bool = True,
) -> list[Post]:
    """Posts from HARRISON's aligned image and tag lists (see the module doc).

    Args:
        data_dir: the folder with `data_list.txt` and `tag_list.txt`.
        report, limit: counts every skipped or repaired record; stop after `limit` posts.
        images_dir: the folder the paths in `data_list.txt` are relative to (optional).
        vocab_only: keep only the tags listed in `vocab_index.txt`.
        add_query_tag: add the query hashtag (the folder) to the post's tags when missing.
        require_hashtags: skip (and count) posts with no tags.
    """
    root = require_dir(data_dir, "harrison", GET_IT)
    data_path = require_file(root / "data_list.txt", "harrison", GET_IT)
    tag_path = require_file(root / "tag_list.txt", "harrison", GET_IT)
    n_data, n_tags = count_lines(data_path), count_lines(tag_path)
    if n_data != n_tags:
        raise ValueError(
            f"harrison: {data_path} has {n_data} lines but {tag_path} has {n_tags}; "
            "the two lists must be aligned line by line (same images, same order)"
        )
    tag_of = dict(iter_lines(tag_path, report))  # line number -> tags (bad lines counted)
    vocab = None
    vocab_path = root / "vocab_index.txt"
    if vocab_only:
        vocab = set(read_vocab(require_file(vocab_path, "harrison", GET_IT), report))
    if images_dir is not None and not Path(images_dir).is_dir():
        raise ValueError(f"harrison: images_dir {images_dir} is not a folder")

    posts: list[Post] = []
    seen: set[str] = set()
    for lineno, rel in iter_lines(data_path, report):
        where = f"{data_path}:{lineno}"
        tag_line = tag_of.get(lineno)
        if tag_line is None:  # that tag line was unreadable (counted by iter_lines)
            continue
        rel = rel.strip().replace("\\", "/")
        if not rel:
            report.skip("malformed_line", where, "empty image path")
            continue
        stem = rel.removeprefix(PREFIX)
        name = stem.rsplit("/", 1)[-1]
        pid = stem[: len(stem) - len(name)] + (name.rsplit(".", 1)[0] if "." in name else name)
        parts = rel.split("/")
        query = normalise_hashtag(parts[-2]) if len(parts) >= 2 else None
        label = f"{where} (post {pid})"
        if pid in seen:
            report.skip("duplicate_id", label, "path listed before; kept first")
            continue
        tags = [t for t in dict.fromkeys(normalise_hashtag(t) for t in tag_line.split()) if t]
        if vocab is not None:
            kept = [t for t in tags if t in vocab]
            if len(kept) < len(tags):
                report.note("tags_outside_vocab_dropped", label)
            tags = kept
        if add_query_tag and query and query not in tags:
            tags.append(query)
        if not tags and require_hashtags:
            report.skip("post_without_hashtags", f"{tag_path}:{lineno} (post {pid})")
            continue
        seen.add(pid)
        path = image_path(images_dir, rel, report, label) if images_dir is not None else None
        image = str(path) if path is not None and path.is_file() else None
        if image is None:
            report.note("image_not_available", label, "no image file (lists-only release?)")
        posts.append(Post(id=pid, hashtags=tags, image=image, meta={"query": query, "path": rel}))
        if limit is not None and len(posts) >= limit:
            break
    return posts
