"""Flickr8k captions -> one post per image with its 5 reference captions (no hashtags).

Files (the official `Flickr8k_text` release):

    <data_dir>/Flickr8k.token.txt            IMAGE.jpg#N<TAB>caption   (N = 0..4)
    <data_dir>/Flickr_8k.trainImages.txt     6,000 image names
    <data_dir>/Flickr_8k.devImages.txt       1,000 (meta["split"] = "val")
    <data_dir>/Flickr_8k.testImages.txt      1,000
    <images_dir>/IMAGE.jpg                   the images (not in the text release)

The real token file's first line separates with a space, not a tab; any whitespace after
`#N` is accepted. Lines without `name#N`, empty captions and repeated `name#N` keys are skipped
and counted with file:line. Captions are kept in `#N` order; `text` is caption #0.
`meta["split"]` is "train", "val" (the dev list) or "test"; None for the 92 images in no list.
Image paths are set only when an images folder is given and the file is there (else counted).

Example:
    >>> from hashtag_kit.report import RunReport
    >>> posts = load_flickr8k("../shared/data/flickr8k", RunReport())  # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path

from hashtag_kit.data.loaders import clean_str, iter_lines, require_dir, require_file
from hashtag_kit.images import ImageError, resolve_image_path
from hashtag_kit.posts import Post
from hashtag_kit.report import RunReport

GET_IT = (
    "Flickr8k (Hodosh et al. 2013) is distributed by its authors on request "
    "(Flickr8k_text.zip holds Flickr8k.token.txt and the split lists)."
)
TOKEN_FILE = "Flickr8k.token.txt"
SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "val": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
_LINE_RE = re.compile(r"^(?P<name>[^\s#]+)#(?P<n>\d+)(?:\s+(?P<caption>.*))?$")
IMAGE_DIR_NAMES = ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images")


def read_split_lists(root: Path, report: RunReport) -> dict[str, str]:
    """image name -> split, from the split lists that exist (missing lists are counted)."""
    split_of: dict[str, str] = {}
    for split, fname in SPLIT_FILES.items():
        path = root / fname
        if not path.is_file():
            report.note("split_list_missing", str(path))
            continue
        for lineno, line in iter_lines(path, report):
            name = line.strip()
            if not name:
                continue
            if name in split_of and split_of[name] != split:
                report.skip(
                    "image_in_two_splits", f"{path}:{lineno}", f"{name} also in {split_of[name]}"
                )
                continue
            split_of[name] = split
    return split_of


def load_flickr8k(
    data_dir: str | Path,
    report: RunReport,
    *,
    limit: int | None = None,
    split: str | None = None,
    images_dir: str | Path | None = None,
) -> list[Post]:
    """Posts (one per image) from `Flickr8k.token.txt` and the split lists (see module doc).

    Args:
        data_dir: the folder with `Flickr8k.token.txt`.
        report: counts skipped / repaired lines.
        limit: stop after this many posts.
        split: keep only "train", "val" (or "dev") or "test".
        images_dir: the image folder; default: one of `IMAGE_DIR_NAMES` inside `data_dir`.
    """
    root = require_dir(data_dir, "flickr8k", GET_IT)
    token = require_file(root / TOKEN_FILE, "flickr8k", GET_IT)
    if split == "dev":
        split = "val"
    if split is not None and split not in SPLIT_FILES:
        raise ValueError(f"flickr8k: split must be one of {list(SPLIT_FILES)} or None")
    split_of = read_split_lists(root, report)
    if images_dir is None:
        images_dir = next((root / d for d in IMAGE_DIR_NAMES if (root / d).is_dir()), None)
    elif not Path(images_dir).is_dir():
        raise ValueError(f"flickr8k: images_dir {images_dir} is not a folder")

    captions: dict[str, dict[int, str]] = {}
    for lineno, line in iter_lines(token, report):
        if not line.strip():
            continue
        where = f"{token}:{lineno}"
        m = _LINE_RE.match(line.strip())
        if not m:
            report.skip("malformed_line", where, "expected IMAGE.jpg#N<TAB>caption")
            continue
        caption = clean_str(m["caption"], report, where)
        if caption is None:
            report.skip("empty_caption", where, m["name"])
            continue
        per = captions.setdefault(m["name"], {})
        n = int(m["n"])
        if n in per:
            report.skip("duplicate_caption_key", where, f"{m['name']}#{n} seen before")
            continue
        per[n] = caption

    posts: list[Post] = []
    for name, per in captions.items():
        part = split_of.get(name)
        if split is not None and part != split:
            continue
        image = None
        if images_dir is not None:
            try:
                path = resolve_image_path(images_dir, name)
                if path.is_file():
                    image = str(path)
            except ImageError as e:
                report.note("unsafe_image_path_dropped", f"image {name}", e.reason)
        if image is None:
            report.note("image_not_available", f"image {name}", "no image file (text release)")
        caps = [per[k] for k in sorted(per)]
        posts.append(Post(id=name, image=image, text=caps[0], captions=caps, meta={"split": part}))
        if limit is not None and len(posts) >= limit:
            break
    if limit is None:
        for name in sorted(set(split_of) - set(captions)):
            if split is None or split_of[name] == split:
                report.skip("split_image_without_captions", f"image {name}", split_of[name])
    return posts
