"""NUS-WIDE (Chua et al. 2009) image list + binary tag / concept matrices -> image posts.

Files, as the dataset's documentation lays them out (each may sit in `data_dir` or in the
named sub-folder):

    ImageList/Imagelist.txt              all images, one path per line (`C:\\ImageData\\Flickr\\
                                         actor\\0001_2124494179.jpg`; only the last two parts count)
    ImageList/TrainImagelist.txt         the official train / test halves (`actor\\0001_...jpg`)
    ImageList/TestImagelist.txt
    NUS_WID_Tags/TagList1k.txt           the 1,000 tags, one per line (matrix column order)
    NUS_WID_Tags/AllTags1k.txt           one row per image of Imagelist.txt: 1,000 values 0/1
    NUS_WID_Tags/Train_Tags1k.dat        the same for the train / test halves
    NUS_WID_Tags/Test_Tags1k.dat
    ConceptsList/Concepts81.txt          the 81 ground-truth concepts, one per line
    Groundtruth/AllLabels/Labels_<c>.txt one 0/1 per line per image of Imagelist.txt
    (or AllLabels81.txt / Train_Tags81.txt / Test_Tags81.txt: 81-column matrices)
    <images_dir>/<concept folder>/<file> the images (optional)

One post per image: `id` is `<folder>/<file stem>` (`actor/0001_2124494179`), `hashtags` the
columns set to 1 (`labels="tags"`: the 1k Flickr tags, normalised; `labels="concepts"`: the 81
concepts), `meta` the Flickr photo id, the folder and the split. A matrix whose row count
differs from the image list is an error (nothing can be aligned); a row with the wrong width or
values other than 0/1 is skipped and counted with file:line.

Example:
    >>> from hashtag_kit.report import RunReport
    >>> posts = load_nuswide("NUS-WIDE", RunReport(), split="train")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from hashtag_kit.data.loaders import (
    DatasetNotFoundError,
    count_lines,
    image_path,
    iter_lines,
    require_dir,
)
from hashtag_kit.data.posts import Post
from hashtag_kit.report import RunReport
from hashtag_kit.text import normalise_hashtag

GET_IT = (
    "Get NUS-WIDE (image lists, tags, ground truth) from "
    "https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/nuswide/NUS-WIDE.html."
)
SUBDIRS = ("", "ImageList", "NUS_WID_Tags", "NUS_WIDE_Tags", "ConceptsList", "Groundtruth")
IMAGE_LISTS = {None: "Imagelist.txt", "train": "TrainImagelist.txt", "test": "TestImagelist.txt"}
TAG_MATRICES = {
    "tags": {None: "AllTags1k.txt", "train": "Train_Tags1k.dat", "test": "Test_Tags1k.dat"},
    "concepts": {None: "AllLabels81.txt", "train": "Train_Tags81.txt", "test": "Test_Tags81.txt"},
}
NAME_LISTS = {"tags": ("TagList1k.txt",), "concepts": ("Concepts81.txt", "TagList81.txt")}


def find_file(root: Path, *names: str) -> Path | None:
    """The first of `names` found in `root` or one of its usual sub-folders."""
    for name in names:
        for sub in SUBDIRS:
            p = root / sub / name if sub else root / name
            if p.is_file():
                return p
    return None


def image_key(line: str) -> str | None:
    """`C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg` -> `actor/0001_2124494179.jpg`."""
    parts = [p for p in line.strip().replace("\\", "/").split("/") if p]
    if not parts:
        return None
    return "/".join(parts[-2:])


def read_matrix(path: Path, width: int, n_rows: int, report: RunReport) -> dict[int, list[int]]:
    """Row number (0-based) -> indices of the columns set to 1; bad rows skipped and counted."""
    n = count_lines(path)
    if n != n_rows:
        raise ValueError(
            f"nuswide: {path} has {n} rows but the image list has {n_rows}; "
            "a tag matrix must have one row per listed image, in the same order"
        )
    rows: dict[int, list[int]] = {}
    for lineno, line in iter_lines(path, report):
        values = line.split()
        where = f"{path}:{lineno}"
        if len(values) != width:
            report.skip("malformed_row", where, f"{len(values)} values, expected {width}")
            continue
        if any(v not in ("0", "1") for v in values):
            report.skip("malformed_row", where, "values other than 0/1")
            continue
        rows[lineno - 1] = [j for j, v in enumerate(values) if v == "1"]
    return rows


def _concept_columns(root: Path, concepts: list[str], n_rows: int, report: RunReport):
    """Per-concept label files (Groundtruth/AllLabels/Labels_<c>.txt) -> row -> columns."""
    folder = next(
        (d for d in (root / "Groundtruth" / "AllLabels", root / "AllLabels") if d.is_dir()), None
    )
    if folder is None:
        return None
    rows: dict[int, list[int]] = {i: [] for i in range(n_rows)}
    for j, c in enumerate(concepts):
        path = folder / f"Labels_{c}.txt"
        if not path.is_file():
            raise DatasetNotFoundError(f"nuswide: expected {path} for concept {c!r}. {GET_IT}")
        n = count_lines(path)
        if n != n_rows:
            raise ValueError(f"nuswide: {path} has {n} lines but the image list has {n_rows}")
        for lineno, line in iter_lines(path, report):
            v = line.strip()
            if v == "1":
                rows[lineno - 1].append(j)
            elif v != "0":
                report.skip("malformed_row", f"{path}:{lineno}", f"value {v!r} is not 0/1")
    return rows


def load_nuswide(
    data_dir: str | Path,
    report: RunReport,
    *,
    limit: int | None = None,
    split: str | None = None,
    labels: str = "tags",
    images_dir: str | Path | None = None,
    require_hashtags: bool = True,
) -> list[Post]:
    """Posts from NUS-WIDE's image list and binary label matrix (see the module doc).

    Args:
        data_dir: the NUS-WIDE folder.
        report, limit: counts every skipped or repaired record; stop after `limit` posts.
        split: None (all images, `Imagelist.txt`), "train" or "test" (the official halves).
        labels: "tags" (1k Flickr tags) or "concepts" (81 ground-truth concepts).
        images_dir: the folder with one sub-folder per concept (the Flickr image release).
        require_hashtags: skip (and count) images with no label set.
    """
    root = require_dir(data_dir, "nuswide", GET_IT)
    if split not in IMAGE_LISTS:
        raise ValueError("nuswide: split must be None, 'train' or 'test'")
    if labels not in TAG_MATRICES:
        raise ValueError("nuswide: labels must be 'tags' or 'concepts'")
    list_path = find_file(root, IMAGE_LISTS[split])
    if list_path is None:
        raise DatasetNotFoundError(
            f"nuswide: expected {root}/ImageList/{IMAGE_LISTS[split]}. {GET_IT}"
        )
    names_path = find_file(root, *NAME_LISTS[labels])
    if names_path is None:
        raise DatasetNotFoundError(
            f"nuswide: expected {root}/{NAME_LISTS[labels][0]} (the {labels} list). {GET_IT}"
        )
    # one name per line, in the column order of the matching matrix
    names = [line.strip() for _, line in iter_lines(names_path, report) if line.strip()]
    n_rows = count_lines(list_path)
    matrix_path = find_file(root, TAG_MATRICES[labels][split])
    if matrix_path is not None:
        rows = read_matrix(matrix_path, len(names), n_rows, report)
    else:
        rows = _concept_columns(root, names, n_rows, report) if labels == "concepts" else None
        if rows is None:
            raise DatasetNotFoundError(
                f"nuswide: expected {root}/NUS_WID_Tags/{TAG_MATRICES[labels][split]}"
                + (" or Groundtruth/AllLabels/Labels_<concept>.txt" if labels == "concepts" else "")
                + f". {GET_IT}"
            )
    tags_of_column = [normalise_hashtag(n) for n in names]
    for j, (name, tag) in enumerate(zip(names, tags_of_column, strict=True)):
        if not tag:
            report.note("unusable_tag_column", f"{names_path}:{j + 1}", f"{name!r} is not a tag")
    split_of: dict[str, str] = {}
    if split is None:  # mark the official halves when their lists are there
        for part in ("train", "test"):
            p = find_file(root, IMAGE_LISTS[part])
            for _, line in iter_lines(p, report) if p else ():
                key = image_key(line)
                if key:
                    split_of[key] = part

    posts: list[Post] = []
    seen: set[str] = set()
    for lineno, line in iter_lines(list_path, report):
        where = f"{list_path}:{lineno}"
        key = image_key(line)
        if key is None:
            report.skip("malformed_line", where, "empty image path")
            continue
        cols = rows.get(lineno - 1)
        if cols is None:  # its matrix row was malformed (counted there)
            continue
        pid = str(PurePosixPath(key).with_suffix(""))
        label = f"{where} (post {pid})"
        if pid in seen:
            report.skip("duplicate_id", label, "image listed twice; kept first")
            continue
        tags = [t for t in dict.fromkeys(tags_of_column[j] for j in cols) if t]
        if not tags and require_hashtags:
            report.skip("post_without_hashtags", label)
            continue
        seen.add(pid)
        path = image_path(images_dir, key, report, label) if images_dir is not None else None
        image = str(path) if path is not None and path.is_file() else None
        if image is None:
            report.note("image_not_available", label)
        folder, _, stem = pid.rpartition("/")
        meta = {
            "folder": folder or None,
            "flickr_id": stem.rsplit("_", 1)[-1] if "_" in stem else None,
            "split": split or split_of.get(key),
            "labels": labels,
        }
        posts.append(Post(id=pid, hashtags=tags, image=image, meta=meta))
        if limit is not None and len(posts) >= limit:
            break
    return posts
