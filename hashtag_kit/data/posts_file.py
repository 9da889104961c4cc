"""Generic posts files (JSONL / JSON / CSV / TSV): the MM-INS / Instagram record format.

The generic `posts` format is the MM-INS / Instagram style: one record per post with an id, an
image file, a caption, hashtags and a user. Field names are matched loosely (`POST_FIELDS`):

    {"id": "p1", "image": "images/p1.jpg", "caption": "Golden hour #sunset",
     "hashtags": "beach,sea", "user": "u7"}

* hashtags: a list, or a string separated by spaces, commas, semicolons or `#`; hashtags in the
  caption are extracted too (union, field first) and removed from the text;
* image: a path escaping the image folder is dropped, a missing file is "no image" (counted);
* empty or whitespace-only captions become `text=None` (counted as repaired);
* duplicate ids: the first record wins, later ones are skipped (counted); so are posts without
  hashtags unless `require_hashtags=False`;
* malformed lines/rows (bad JSON, not UTF-8, wrong column count) are skipped with file:line;
* posts with nothing to learn from (no text, image, captions or paragraph) are skipped (counted).

Other layouts of the same data: any separator (`delimiter=`), other column names (`columns=`),
and folders of Instaloader downloads (`hashtag_kit.data.instaloader`: MM-INS was crawled with
Instaloader). The embedded dataset's `posts.jsonl` is read like any posts file.

Example:
    >>> import tempfile, json, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "posts.jsonl").write_text(json.dumps({"id": "1", "caption": "waves #Surf"}))
    >>> r = RunReport()
    >>> [(p.id, p.hashtags, p.text) for p in load_posts(d, r)]
    [('1', ['surf'], 'waves')]
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from hashtag_kit.data.images import check_image
from hashtag_kit.data.instaloader import is_instaloader_folder, load_instaloader
from hashtag_kit.data.loaders import (
    DatasetNotFoundError,
    image_path,
    iter_lines,
    read_json_file,
    require_dir,
    require_file,
    text_and_tags,
)
from hashtag_kit.data.posts import Post
from hashtag_kit.files import BAD_JSON
from hashtag_kit.report import RunReport
from hashtag_kit.text import clean_str, normalise_hashtag, parse_hashtag_field, parse_hashtag_items

#: field name -> accepted spellings in a source record (first present wins)
POST_FIELDS = {
    "id": ("id", "post_id", "postid", "shortcode", "pid", "key"),
    "image": (
        "image",
        "image_path",
        "image_file",
        "img",
        "img_path",
        "file",
        "filename",
        "file_name",
        "photo",
        "path",
    ),
    "text": ("text", "caption", "description", "body", "content", "message"),
    "hashtags": ("hashtags", "tags", "hashtag", "labels"),
    "user": ("user", "user_id", "userid", "owner", "username", "author"),
    "captions": ("captions", "reference_captions"),
    "paragraph": ("paragraph",),
    "meta": ("meta",),
}

POST_FILE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")
_GET_IT = "Give a .jsonl/.json/.csv/.tsv posts file or a folder holding posts.jsonl or posts.csv."


def _first(record: dict, names: tuple[str, ...]):
    for n in names:
        if n in record and record[n] is not None:
            return record[n]
    return None


def _find_posts_file(data_dir: Path, file: str | None) -> Path:
    if file:
        return require_file(data_dir / file if data_dir.is_dir() else Path(file), "posts", _GET_IT)
    if data_dir.is_file():
        return data_dir
    for name in ("posts.jsonl", "posts.csv", "posts.json", "posts.tsv"):
        if (data_dir / name).is_file():
            return data_dir / name
    found = _candidates(data_dir)
    if len(found) == 1:
        return found[0]
    if not found:
        raise DatasetNotFoundError(f"posts: no posts file in {data_dir}. {_GET_IT}")
    names = ", ".join(p.name for p in found)
    raise ValueError(f"posts: several candidate files in {data_dir} ({names}); pass file=...")


def _candidates(folder: Path) -> list[Path]:
    """Posts files in a folder (Instaloader's per-post `..._UTC.json` metadata excluded)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in POST_FILE_SUFFIXES and p.is_file() and "_UTC" not in p.name
    )


def _json_records(
    path: Path, report: RunReport, columns: dict | None
) -> Iterator[tuple[str, dict]]:
    """(where, record) of a JSON list file or a JSON Lines file, `columns` renamed."""
    lines = path.suffix.lower() != ".json"
    if lines:
        items = ((f"{path}:{n}", line) for n, line in iter_lines(path, report) if line.strip())
    else:
        data = read_json_file(path)
        if isinstance(data, dict):
            data = data.get("posts", data.get("data"))
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of posts (or {{'posts': [...]}})")
        items = ((f"{path}[{i}]", rec) for i, rec in enumerate(data))
    for where, rec in items:
        if lines:
            try:
                rec = json.loads(rec)
            except BAD_JSON as e:
                report.skip("malformed_line", where, f"bad JSON ({getattr(e, 'msg', e)})")
                continue
        if not isinstance(rec, dict):
            report.skip("malformed_line", where, "not a JSON object")
            continue
        for field, col in (columns or {}).items():
            if col in rec:
                rec[field] = rec.pop(col)
        yield where, rec


def _csv_records(
    path: Path, report: RunReport, delimiter: str | None = None, columns: dict | None = None
) -> Iterator[tuple[str, dict]]:
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    at = [0]  # the physical line the reader is at (bad lines are skipped before it)

    def lines():
        for lineno, line in iter_lines(path, report, keepends=True):
            at[0] = lineno
            yield line

    source = lines()
    reader = csv.DictReader(source, delimiter=delimiter)
    rename = {str(col).strip().lower(): field for field, col in (columns or {}).items()}
    try:
        fieldnames = reader.fieldnames or []
    except csv.Error as e:
        raise ValueError(f"{path}:{at[0]}: unreadable CSV header ({e})") from None
    header = [h.strip().lower() for h in fieldnames]
    header = [rename.get(h, h) for h in header]
    reader.fieldnames = header
    usable = {n for k in ("image", "text", "hashtags") for n in POST_FIELDS[k]}
    if not set(header) & usable:
        raise ValueError(
            f"{path}: no usable column in header {header}; expected at least one of image "
            f"{POST_FIELDS['image'][:3]}, text {POST_FIELDS['text'][:3]} or hashtags "
            f"{POST_FIELDS['hashtags'][:2]} (and ideally id, user)"
        )
    has_id = bool(set(header) & set(POST_FIELDS["id"]))
    if not has_id:
        report.note("ids_from_line_numbers", str(path), "no id column: ids are <file>:<line>")
    while True:
        read = reader.reader.line_num  # lines the csv reader took (DictReader's lags on errors)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # a field over csv.field_size_limit(): that line only, unless
            where = f"{path}:{at[0]}"  # the field spans lines (quoted), where the reader would
            if reader.reader.line_num - read == 1:  # go on inside it (a line read as a post)
                report.skip("malformed_line", where, f"CSV: {e}")
                continue
            rest = sum(1 for _ in source)
            why = f"CSV: {e}; the {rest} lines after it are not read (a quote left open?)"
            report.skip("malformed_line", where, why)
            break
        where = f"{path}:{at[0]}"
        if None in row or any(v is None for v in row.values()):
            n = len(row) - (None in row) + len(row.get(None) or [])
            report.skip(
                "malformed_line", where, f"{n} fields, header has {len(header)} (wrong delimiter?)"
            )
            continue
        if not any(v.strip() for v in row.values()):
            continue
        rec = {k: v for k, v in row.items() if k}
        if not has_id:
            rec["id"] = f"{path.stem}:{at[0]}"
        yield where, rec


def record_to_post(
    rec: dict,
    where: str,
    report: RunReport,
    image_root: Path | None,
    check_images: bool = True,
    validate_images: bool = False,
) -> Post | None:
    """One source record -> Post (or None when it must be skipped; counted in `report`)."""
    pid = clean_str(_first(rec, POST_FIELDS["id"]), report, where)
    if pid is None:
        report.skip("missing_id", where, "record has no id (or not a text or number)")
        return None
    label = f"{where} (post {pid})"
    raw_text = _first(rec, POST_FIELDS["text"])
    text, text_tags = text_and_tags(clean_str(raw_text, report, label))
    if raw_text is not None and text is None:
        why = "caption is only hashtags" if text_tags else "empty or whitespace caption"
        report.note("empty_text", label, why)
    field = _first(rec, POST_FIELDS["hashtags"])
    tags = parse_hashtag_field(field)
    items = field if isinstance(field, list) else parse_hashtag_items(field)
    junk = [str(t) for t in items if not normalise_hashtag(str(t))]
    if junk:
        report.note("junk_hashtags_dropped", label, " ".join(junk[:5]))
    hashtags = list(dict.fromkeys(tags + text_tags))

    image = path = None
    img = clean_str(_first(rec, POST_FIELDS["image"]), report, label)
    if img is not None and "\\" in img and "/" not in img:
        img = img.replace("\\", "/")  # Windows-style relative path
    if img is not None:
        path = image_path(image_root, img, report, label) if image_root else Path(img)
    if path is not None:
        problem = check_image(path) if validate_images else None
        if check_images and problem is None and not path.is_file():
            problem = "file not found"
        if problem:
            report.note("missing_or_unreadable_image", label, f"{img}: {problem}")
        else:
            image = str(path)

    raw = _first(rec, POST_FIELDS["captions"])
    captions_raw = raw if isinstance(raw, list) else [] if raw is None else [raw]
    if isinstance(raw, str) and raw.startswith("["):  # a JSON list in a CSV cell
        try:
            parsed = json.loads(raw)
        except BAD_JSON:
            parsed = None
        if isinstance(parsed, list):
            captions_raw = parsed
    captions = [c for c in (clean_str(c, report, label) for c in captions_raw) if c]
    if len(captions) < len(captions_raw):
        n_empty = len(captions_raw) - len(captions)
        report.note("empty_captions_dropped", label, f"{n_empty} empty reference caption(s)")
    paragraph = clean_str(_first(rec, POST_FIELDS["paragraph"]), report, label)
    user = clean_str(_first(rec, POST_FIELDS["user"]), report, label)

    meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
    known = {n for names in POST_FIELDS.values() for n in names}
    extra = {k: v for k, v in rec.items() if k not in known and v not in (None, "")}
    meta = {**extra, **meta}
    if not (text or image or captions or paragraph):
        report.skip("post_without_content", label, "no text, image, captions or paragraph")
        return None
    return Post(
        id=pid,
        hashtags=hashtags,
        user=user,
        image=image,
        text=text,
        captions=captions,
        paragraph=paragraph,
        meta=meta,
    )


def load_posts(
    data_dir: str | Path,
    report: RunReport,
    *,
    limit: int | None = None,
    file: str | None = None,
    image_root: str | Path | None = None,
    require_hashtags: bool = True,
    check_images: bool = True,
    validate_images: bool = False,
    delimiter: str | None = None,
    columns: dict[str, str] | None = None,
) -> list[Post]:
    """Posts from a JSONL / JSON / CSV / TSV file (MM-INS / Instagram style; see module doc),
    or from a folder of Instaloader downloads (`hashtag_kit.data.instaloader`).

    Args:
        data_dir: the posts file, or a folder with `posts.jsonl` / `posts.csv` (or one such file).
        report, limit: counts every skipped or repaired record; stop after `limit` posts.
        file: the file name inside `data_dir` when the folder holds several.
        image_root: folder image paths are relative to and must stay inside (default: the
            file's folder). Pass "/" to allow absolute paths anywhere.
        require_hashtags: skip posts with no hashtag (counted); False keeps them.
        check_images: image paths of missing files become None (counted).
        validate_images: also open each image header (`check_image`); unreadable -> None.
        delimiter: read the file as delimited text with this separator whatever its suffix
            (e.g. "*" for the AMNN release of MM-INS: `image*text*hashtags` lines).
        columns: kit field -> the source's column name, where the loose matching of
            `POST_FIELDS` guesses wrong (e.g. `{"text": "tweet", "hashtags": "caption"}`).
    """
    folder = require_dir(data_dir, "posts", "")
    unknown = sorted(set(columns or {}) - set(POST_FIELDS))
    if unknown:
        raise ValueError(
            f"posts: columns maps unknown fields {unknown}; fields: {list(POST_FIELDS)}"
        )
    if file is None and folder.is_dir() and delimiter is None:
        if not _candidates(folder) and is_instaloader_folder(folder):
            return load_instaloader(folder, report, limit=limit, require_hashtags=require_hashtags)
    path = _find_posts_file(folder, file)
    root = Path(image_root) if image_root is not None else path.parent
    if delimiter is not None or path.suffix.lower() in (".csv", ".tsv"):
        records = _csv_records(path, report, delimiter, columns)
    else:
        records = _json_records(path, report, columns)
    posts: list[Post] = []
    seen: set[str] = set()
    for where, rec in records:
        post = record_to_post(rec, where, report, root, check_images, validate_images)
        if post is None:
            continue
        if post.id in seen:
            report.skip("duplicate_id", f"{where} (post {post.id})", "id seen before; kept first")
            continue
        seen.add(post.id)
        if not post.hashtags:
            if require_hashtags:
                report.skip("post_without_hashtags", f"{where} (post {post.id})")
                continue
            report.note("post_without_hashtags_kept", f"{where} (post {post.id})")
        posts.append(post)
        if limit is not None and len(posts) >= limit:
            break
    return posts
