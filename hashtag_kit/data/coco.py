"""MS-COCO captions + object instances -> posts whose hashtags are the objects in the picture.

Files (COCO 2017 layout; `<split>` is e.g. `train2017`, `val2017`):

    <data_dir>/annotations/captions_<split>.json    images + 5 captions each
    <data_dir>/annotations/instances_<split>.json   object instances + 80 categories (optional)
    <data_dir>/<split>/<file_name>                  the images (optional; or `images_dir=`)

One post per image with at least one caption: `text` is its first caption, `captions` all of
them, `hashtags` the normalised category names of the objects in it, most instances first, each
followed by its supercategory (`["diningtable", "furniture", "cup", "kitchen"]`), as in the
CNN-RNN Instagram project's output (`#chair #furniture`). `meta` keeps the split, the Flickr
license, the URLs, the size and the object counts.

Images with captions but no object instances (no instances file, or none annotated) get no
hashtags: kept when `require_hashtags=False` (captioning), skipped and counted otherwise.

Example:
    >>> from hashtag_kit.report import RunReport
    >>> posts = load_coco("../shared/data/coco-mini", RunReport(),
    ...                   split="val2017")  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hashtag_kit.data.loaders import DatasetNotFoundError, image_path, read_json_file, require_dir
from hashtag_kit.data.posts import Post
from hashtag_kit.report import RunReport
from hashtag_kit.text import clean_str, normalise_hashtag

GET_IT = "Get the COCO 2017 annotations (and images) from https://cocodataset.org/#download."


def _id(value) -> str | None:
    """A COCO id (an integer, or a string in derived files) as text; None for any other type."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return str(value)


def _read_json(path: Path) -> dict:
    data = read_json_file(path, "a valid COCO JSON file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path}: not a COCO annotation file (no 'images' list)")
    if not isinstance(data.get("annotations"), list):
        raise ValueError(f"{path}: not a COCO annotation file (no 'annotations' list)")
    return data


def coco_splits(data_dir: str | Path) -> list[str]:
    """The splits with a captions file, e.g. ['train2017', 'val2017']."""
    ann = Path(data_dir) / "annotations"
    return sorted(p.stem.removeprefix("captions_") for p in ann.glob("captions_*.json"))


def _objects(path: Path, report: RunReport) -> tuple[dict[str, Counter], dict[str, tuple]]:
    """image id -> Counter(category id), and category id -> (name, supercategory)."""
    data = _read_json(path)
    cats = {}
    for i, c in enumerate(data.get("categories") or []):
        if isinstance(c, dict) and _id(c.get("id")) is not None and c.get("name"):
            cats[_id(c["id"])] = (str(c["name"]), str(c.get("supercategory") or ""))
        else:
            report.skip("malformed_annotation", f"{path}:categories[{i}]", "needs an id and a name")
    per_image: dict[str, Counter] = {}
    for i, a in enumerate(data["annotations"]):
        where = f"{path}:annotations[{i}]"
        if not isinstance(a, dict) or None in (_id(a.get("image_id")), _id(a.get("category_id"))):
            report.skip("malformed_annotation", where, "needs integer image_id and category_id")
            continue
        cid = _id(a["category_id"])
        if cid not in cats:
            report.skip("unknown_category", where, f"category_id {a.get('category_id')!r}")
            continue
        per_image.setdefault(_id(a["image_id"]), Counter())[cid] += 1
    return per_image, cats


def object_hashtags(counts: Counter, cats: dict, supercategories: bool = True) -> list[str]:
    """Category names by instance count (ties: category id), each followed by its supercategory."""
    tags: list[str] = []

    def order(kv):  # by count, then numeric category id (ids are text here)
        cid = kv[0]
        numeric = cid.lstrip("-").isdecimal() and len(cid) < 19  # (int(): 4,300 digits at most)
        return (-kv[1], (0, int(cid)) if numeric else (1, cid))

    for cid, _ in sorted(counts.items(), key=order):
        name, sup = cats[cid]
        tags.append(normalise_hashtag(name))
        if supercategories and sup:
            tags.append(normalise_hashtag(sup))
    return [t for t in dict.fromkeys(tags) if t]


def load_coco(
    data_dir: str | Path,
    report: RunReport,
    *,
    limit: int | None = None,
    split: str | list[str] | None = None,
    require_hashtags: bool = True,
    supercategories: bool = True,
    images_dir: str | Path | None = None,
    check_images: bool = True,
) -> list[Post]:
    """Posts from COCO caption and instance files (see the module doc).

    Args:
        data_dir: the folder holding `annotations/`.
        report, limit: counts every skipped or repaired record; stop after `limit` posts.
        split: a split name or list (`"val2017"`, or a prefix such as `"val"`); None = all.
        require_hashtags: skip (and count) images without object annotations.
        supercategories: add supercategory names after the category names.
        images_dir: folder with one sub-folder per split (default `data_dir`), or holding all
            the images directly.
        check_images: image paths of files that do not exist become None (counted).
    """
    root = require_dir(data_dir, "coco", GET_IT)
    available = coco_splits(root)
    if not available:
        raise DatasetNotFoundError(
            f"coco: expected {root / 'annotations' / 'captions_<split>.json'} "
            f"(e.g. captions_val2017.json); none found. {GET_IT}"
        )
    wanted = [split] if isinstance(split, str) else split
    if wanted:
        chosen = [s for s in available if any(s == w or s.startswith(w) for w in wanted)]
        if not chosen:
            raise ValueError(f"coco: no split matching {wanted} in {root}; have {available}")
    else:
        chosen = available
    image_root = Path(images_dir) if images_dir is not None else root

    posts: list[Post] = []
    seen: set[str] = set()
    for name in chosen:
        cap_path = root / "annotations" / f"captions_{name}.json"
        caps = _read_json(cap_path)
        inst_path = root / "annotations" / f"instances_{name}.json"
        if inst_path.is_file():
            per_image, cats = _objects(inst_path, report)
        else:
            per_image, cats = {}, {}
            report.note("no_instances_file", str(inst_path), "no object hashtags for this split")
        licenses = {
            _id(lic.get("id")): lic for lic in caps.get("licenses") or [] if isinstance(lic, dict)
        }
        captions: dict[str, list[str]] = {}
        for i, a in enumerate(caps["annotations"]):
            where = f"{cap_path}:annotations[{i}]"
            if not isinstance(a, dict) or _id(a.get("image_id")) is None or "caption" not in a:
                report.skip("malformed_annotation", where, "needs an integer image_id and caption")
                continue
            text = clean_str(a["caption"], report, where)
            if text is None:
                report.skip("empty_caption", where, f"image {a['image_id']}")
                continue
            captions.setdefault(_id(a["image_id"]), []).append(text)
        image_ids = set()
        for i, img in enumerate(caps["images"]):
            where = f"{cap_path}:images[{i}]"
            if not isinstance(img, dict) or _id(img.get("id")) is None:
                report.skip("malformed_image_record", where, "no integer id")
                continue
            iid = _id(img["id"])
            image_ids.add(iid)
            label = f"{where} (image {iid})"
            if iid in seen:
                report.skip("duplicate_id", label, "image listed twice; kept first")
                continue
            if iid not in captions:
                report.skip("image_without_captions", label)
                continue
            objects = per_image.get(iid, Counter())
            tags = object_hashtags(objects, cats, supercategories) if objects else []
            if not tags:
                if require_hashtags:
                    report.skip("post_without_hashtags", label, "no object annotations")
                    continue
                report.note("post_without_hashtags_kept", label, "no object annotations")
            seen.add(iid)
            image = path = flat = None
            file_name = img.get("file_name")
            if file_name:
                path = image_path(image_root / name, str(file_name), report, label)
            if path is not None:
                flat = image_path(image_root, str(file_name), report, label)
            if flat is not None:
                if check_images and not path.is_file() and flat.is_file():
                    path = flat  # all images in one folder
                if check_images and not path.is_file():
                    report.note("image_file_missing", label, str(path))
                else:
                    image = str(path)
            lic = licenses.get(_id(img.get("license")), {})
            meta = {
                "split": name,
                "file_name": file_name,
                "license": img.get("license"),
                "license_name": lic.get("name"),
                "license_url": lic.get("url"),
                "coco_url": img.get("coco_url"),
                "flickr_url": img.get("flickr_url"),
                "width": img.get("width"),
                "height": img.get("height"),
                "objects": {cats[c][0]: n for c, n in objects.items()},
            }
            caps = captions[iid]
            post = Post(id=iid, hashtags=tags, image=image, text=caps[0], captions=caps, meta=meta)
            posts.append(post)
            if limit is not None and len(posts) >= limit:
                return posts
        orphans = set(captions) - image_ids
        for iid in sorted(orphans):
            report.skip("caption_of_unknown_image", f"{cap_path} (image {iid})")
    return posts
