"""Stanford image-paragraph captioning (Krause et al. 2017) -> posts with a reference paragraph.

Files (either form):

    <data_dir>/para_captions_<split>.json   COCO caption format: images (id, file_name, url) +
                                            annotations (image_id, caption = the paragraph)
    <data_dir>/paragraphs_v1.json           the original release: [{image_id, paragraph, url}]
    <data_dir>/{train,val,test}_split.json  official lists of Visual Genome image ids
    <images_dir>/<image_id>.jpg             Visual Genome images (optional)

One post per image: `paragraph` is the reference paragraph, `text` is None (the paragraph is
the target, not an input), no hashtags. `meta["split"]` comes from the split lists (else from
the `para_captions_<split>` file name); `meta["url"]` is the Visual Genome URL. Empty
paragraphs, malformed records and repeated image ids are skipped and counted.

Example:
    >>> from hashtag_kit.report import RunReport
    >>> posts = load_stanford_paragraphs("../shared/data/stanford-paragraphs",
    ...                                  RunReport())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hashtag_kit.data.loaders import DatasetNotFoundError, image_path, read_json_file, require_dir
from hashtag_kit.data.posts import Post
from hashtag_kit.report import RunReport
from hashtag_kit.text import clean_str

GET_IT = (
    "Get paragraphs_v1.json and the split lists from "
    "https://cs.stanford.edu/people/ranjaykrishna/im2p/index.html (images: Visual Genome)."
)
SPLITS = ("train", "val", "test")


def read_split_ids(root: Path, report: RunReport) -> dict[str, str]:
    """Visual Genome id (as str) -> split, from `{train,val,test}_split.json`."""
    split_of: dict[str, str] = {}
    for split in SPLITS:
        path = root / f"{split}_split.json"
        if not path.is_file():
            report.note("split_list_missing", str(path))
            continue
        ids = read_json_file(path)
        if not isinstance(ids, list):
            raise ValueError(f"{path}: expected a JSON list of image ids")
        for i, iid in enumerate(ids):
            key = str(iid)
            if key in split_of and split_of[key] != split:
                report.skip("image_in_two_splits", f"{path}[{i}]", f"{key} in {split_of[key]}")
                continue
            split_of[key] = split
    return split_of


def _records(root: Path, report: RunReport) -> Iterator[tuple[str, str, dict, str | None]]:
    """(where, image id, image record, file split) for every paragraph in the folder."""
    files = sorted(root.glob("para_captions_*.json"))
    original = root / "paragraphs_v1.json"
    if not files and not original.is_file():
        raise DatasetNotFoundError(
            f"stanford_paragraphs: expected {root / 'para_captions_<split>.json'} or "
            f"{original}; none found. {GET_IT}"
        )
    if original.is_file():
        data = read_json_file(original)
        if not isinstance(data, list):
            raise ValueError(f"{original}: expected a JSON list of paragraph records")
        for i, rec in enumerate(data):
            where = f"{original}[{i}]"
            if not isinstance(rec, dict) or "image_id" not in rec or "paragraph" not in rec:
                report.skip("malformed_record", where, "needs image_id and paragraph")
                continue
            yield where, str(rec["image_id"]), {**rec, "caption": rec["paragraph"]}, None
        return
    for path in files:
        data = read_json_file(path)
        if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
            raise ValueError(f"{path}: not a COCO caption file (no 'annotations' list)")
        file_split = path.stem.removeprefix("para_captions_")
        images = {}
        for img in data.get("images") or []:
            if isinstance(img, dict) and "id" in img:
                images[str(img["id"])] = img
        for i, a in enumerate(data["annotations"]):
            where = f"{path}:annotations[{i}]"
            if not isinstance(a, dict) or "image_id" not in a or "caption" not in a:
                report.skip("malformed_record", where, "needs image_id and caption")
                continue
            iid = str(a["image_id"])
            yield where, iid, {**images.get(iid, {}), "caption": a["caption"]}, file_split


def load_stanford_paragraphs(
    data_dir: str | Path,
    report: RunReport,
    *,
    limit: int | None = None,
    split: str | None = None,
    images_dir: str | Path | None = None,
) -> list[Post]:
    """Posts with reference paragraphs (see the module doc).

    Args:
        data_dir: the folder with `para_captions_*.json` (or `paragraphs_v1.json`) and splits.
        report, limit: counts every skipped or repaired record; stop after `limit` posts.
        split: keep only "train", "val" or "test".
        images_dir: the Visual Genome image folder (optional).
    """
    root = require_dir(data_dir, "stanford_paragraphs", GET_IT)
    if split is not None and split not in SPLITS:
        raise ValueError(f"stanford_paragraphs: split must be one of {SPLITS} or None")
    split_of = read_split_ids(root, report)
    posts: list[Post] = []
    seen: set[str] = set()
    for where, iid, rec, file_split in _records(root, report):
        label = f"{where} (image {iid})"
        paragraph = clean_str(rec.get("caption"), report, label)
        if paragraph is None:
            report.skip("empty_paragraph", label)
            continue
        if iid in seen:
            report.skip("duplicate_id", label, "image seen before; kept first")
            continue
        part = split_of.get(iid, file_split)
        if file_split and iid in split_of and split_of[iid] != file_split:
            report.note("split_differs_from_file", label, f"list says {split_of[iid]}")
        if split is not None and part != split:
            continue
        seen.add(iid)
        path = None
        if images_dir is not None:
            name = str(rec.get("file_name") or f"{iid}.jpg")
            path = image_path(images_dir, name, report, label)
        image = str(path) if path is not None and path.is_file() else None
        if image is None:
            report.note("image_not_available", label)
        meta = {"split": part, "url": rec.get("url")}
        posts.append(Post(id=iid, image=image, paragraph=paragraph, meta=meta))
        if limit is not None and len(posts) >= limit:
            break
    return posts
