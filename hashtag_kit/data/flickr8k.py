"""Flickr8k captions -> one post per photo with its 5 reference captions and "Flickr8k-tags".

Files (the official `Flickr8k_text` release):

    <data_dir>/Flickr8k.token.txt            IMAGE.jpg#N<TAB>caption   (N = 0..4)
    <data_dir>/Flickr_8k.trainImages.txt     6,000 image names
    <data_dir>/Flickr_8k.devImages.txt       1,000 (meta["split"] = "val")
    <data_dir>/Flickr_8k.testImages.txt      1,000
    <images_dir>/IMAGE.jpg                   the images (not in the text release)

The real token file's first line separates with a space, not a tab; any whitespace after
`#N` is accepted. Lines without `name#N`, empty captions and repeated `name#N` keys are skipped
and counted with file:line. Captions are kept in `#N` order; `text` is caption #0 (the first
caption kept). `meta["split"]` is "train", "val" (the dev list) or "test"; None for the 92 images
in no list. Image paths are set only when an images folder is given and the file is there (else
counted).

Flickr8k-tags. Flickr8k has no hashtags; following the Flickr8k hashtag paper (Verma et al.:
captions -> hashtags by removing stopwords), a photo's hashtags are the content words its
human captions agree on (`tags="held_out"`, the default):

1. each caption other than `text` (captions #1-#4) gives its keywords:
   `hashtag_kit.baselines.caption_hashtags.caption_keywords` (lower-case tokens minus stopwords,
   caption filler, numbers and one-letter tokens; normalised as hashtags);
2. plurals become singular (`tag_singulars`, through `hashtag_kit.text.singular_guesses`:
   `dogs` -> `dog`, `men` -> `man`, `hoodies` -> `hoodie`) only when that singular is itself a
   keyword somewhere in the token file (so `bus`, `tennis` stay as they are), and never for
   `KEEP_PLURAL` (`shorts`, `glasses`, `people`, ...). The mapping is built from every caption
   of the file, so a photo's tags do not depend on `split` or `limit`;
3. each word counts once per caption; a word is a tag when at least `MIN_CAPTIONS` (2) of the
   four captions use it; tags are ranked by how many captions use them (most first), then by
   first appearance (caption #1 first).

Caption #0 is never a tag source, so no model can copy its answer from the post's text (a word of
caption #0 is a tag only when two other captions use it too), and photos whose captions #1-#4 share
no content word get no tags. `tags="all"` counts all five captions (for image-only studies, where
no model reads the text); `tags="none"` gives no hashtags. Rare tags are dropped later, by
preprocessing (`min_tag_freq`). `flickr8k_tags_datasheet` describes the result.

Example:
    >>> flickr8k_tags(["A dog runs on the grass", "Two dogs play", "A brown dog in a field",
    ...                "Dogs on the grass"])
    ['dog', 'grass']
    >>> from hashtag_kit.report import RunReport
    >>> posts = load_flickr8k("../shared/data/flickr8k", RunReport())  # doctest: +SKIP
    >>> posts[0].hashtags  # doctest: +SKIP
    ['girl', 'wooden', 'little', 'going', 'climbing', 'playhouse']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from hashtag_kit.baselines.caption_hashtags import caption_keywords
from hashtag_kit.data.loaders import image_path, iter_lines, require_dir, require_file
from hashtag_kit.data.posts import Post
from hashtag_kit.report import RunReport
from hashtag_kit.text import clean_str, singular_guesses

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
#: `name#N caption` (N of at most 9 digits: int() refuses more than 4,300)
_LINE_RE = re.compile(r"^(?P<name>[^\s#]+)#(?P<n>\d{1,9})(?:\s+(?P<caption>.*))?$")
IMAGE_DIR_NAMES = ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images")

#: `load_flickr8k(tags=...)`: captions #1-#4 (default), all five captions, or no hashtags
TAG_SOURCES = ("held_out", "all", "none")
#: a word is a tag when at least this many of the source captions use it
MIN_CAPTIONS = 2
#: plurals that name another thing than their singular: kept as they are
#: ("people": a group, #people, not the plural of "person" for a hashtag)
KEEP_PLURAL = frozenset(
    "clothes glasses goggles jeans leaves news pants people shorts trunks woods".split()
)
#: the datasheet's vocabulary cuts (tags used on at least this many photos of a split)
DATASHEET_MIN_FREQS = (3, 5, 10)


def tag_singulars(words: Iterable[str]) -> dict[str, str]:
    """{plural: singular} for the words of a corpus whose singular is also one of its words.

    Example:
        >>> tag_singulars(["dogs", "dog", "grass", "horses", "horse", "bus", "shorts", "short"])
        {'dogs': 'dog', 'horses': 'horse'}
    """
    vocab = set(words)
    out = {}
    for w in vocab - KEEP_PLURAL:
        s = next((c for c in singular_guesses(w) if c in vocab), None)
        if s is not None:
            out[w] = s
    return dict(sorted(out.items()))


def rank_caption_tags(
    words_per_caption: Iterable[Sequence[str]], min_captions: int = MIN_CAPTIONS
) -> list[str]:
    """Words used by at least `min_captions` captions: most captions first, then first seen."""
    counts: Counter = Counter()
    first: dict[str, int] = {}
    for words in words_per_caption:
        for w in dict.fromkeys(words):
            counts[w] += 1
            first.setdefault(w, len(first))
    kept = [w for w in counts if counts[w] >= min_captions]
    return sorted(kept, key=lambda w: (-counts[w], first[w]))


def flickr8k_tags(
    captions: Sequence[str],
    singulars: Mapping[str, str] | None = None,
    *,
    min_captions: int = MIN_CAPTIONS,
) -> list[str]:
    """Flickr8k-tags of a photo's source captions (#1-#4 for the held-out protocol of the module
    doc): the words >= `min_captions` of them use.

    Args:
        captions: the source captions of one photo.
        singulars: the {plural: singular} map (`tag_singulars`; the loader builds it from the
            keywords of the whole token file); default: built from these captions' keywords.
        min_captions: how many captions must use a word.
    """
    keywords = [caption_keywords(c) for c in captions]
    if singulars is None:
        singulars = tag_singulars(w for kw in keywords for w in kw)
    return rank_caption_tags([[singulars.get(w, w) for w in kw] for kw in keywords], min_captions)


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
    tags: str = "held_out",
) -> list[Post]:
    """Posts (one per image) from `Flickr8k.token.txt` and the split lists (see module doc).

    Args:
        data_dir: the folder with `Flickr8k.token.txt`.
        report, limit: counts every skipped or repaired record; stop after `limit` posts.
        split: keep only "train", "val" (or "dev") or "test".
        images_dir: the image folder; default: one of `IMAGE_DIR_NAMES` inside `data_dir`.
        tags: where the hashtags come from (`TAG_SOURCES`, see the module doc).
    """
    if tags not in TAG_SOURCES:
        raise ValueError(f"flickr8k: tags must be one of {list(TAG_SOURCES)}, got {tags!r}")
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

    words: dict[str, list[list[str]]] = {}  # image -> each caption's tag words, in #N order
    if tags != "none":
        keywords = {
            n: [caption_keywords(per[k]) for k in sorted(per)] for n, per in captions.items()
        }
        singulars = tag_singulars(w for kws in keywords.values() for kw in kws for w in kw)
        for n, kws in keywords.items():
            words[n] = [[singulars.get(w, w) for w in kw] for kw in kws]

    posts: list[Post] = []
    for name, per in captions.items():
        part = split_of.get(name)
        if split is not None and part != split:
            continue
        image = None
        if images_dir is None:
            report.note("image_not_available", f"image {name}", f"no image folder in {root}")
        # an unsafe path is counted once, under its own reason
        elif (path := image_path(images_dir, name, report, f"image {name}")) is not None:
            if path.is_file():
                image = str(path)
            else:
                report.note("image_not_available", f"image {name}", f"no file in {images_dir}")
        caps = [per[k] for k in sorted(per)]
        hashtags = []
        if tags != "none":
            source = words[name][1:] if tags == "held_out" else words[name]
            hashtags = rank_caption_tags(source)
        posts.append(
            Post(
                id=name,
                hashtags=hashtags,
                image=image,
                text=caps[0],
                captions=caps,
                meta={"split": part},
            )
        )
        if limit is not None and len(posts) >= limit:
            break
    if limit is None:
        for name in sorted(set(split_of) - set(captions)):
            if split is None or split_of[name] == split:
                report.skip("split_image_without_captions", f"image {name}", split_of[name])
    return posts


def _split_sheet(posts: Sequence[Post], top: int) -> dict:
    n_tags = np.array([len(p.hashtags) for p in posts])
    counts = Counter(t for p in posts for t in p.hashtags)  # photos per tag
    ranked = sorted(counts, key=lambda t: (-counts[t], t))
    return {
        "n_photos": len(posts),
        "tags_per_photo": {
            "mean": round(float(n_tags.mean()), 3),
            "median": float(np.median(n_tags)),
            "min": int(n_tags.min()),
            "max": int(n_tags.max()),
        },
        "n_without_tags": int((n_tags == 0).sum()),
        "share_without_tags": round(float((n_tags == 0).mean()), 4),
        "vocab_size": len(counts),
        "vocab_size_at_min_freq": {
            str(f): sum(c >= f for c in counts.values()) for f in DATASHEET_MIN_FREQS
        },
        "top_tags": [[t, counts[t]] for t in ranked[:top]],
    }


def flickr8k_tags_datasheet(posts: Sequence[Post], top: int = 20) -> dict:
    """Figures of the Flickr8k-tags (for notebook 01 and the README), overall and per split.

    Returns {"all": sheet, "train": sheet, "val": sheet, "test": sheet, "unlisted": sheet}
    (a split without posts is left out; "unlisted" = the photos in no split list), JSON-ready.
    Each sheet: `n_photos`; `tags_per_photo` (mean, median, min, max); `n_without_tags` and
    `share_without_tags`; `vocab_size` (distinct tags); `vocab_size_at_min_freq` {"3", "5",
    "10": tags used on at least that many photos of the split}; `top_tags` ([tag, photos], the
    `top` most used, ties alphabetical).

    Args:
        posts: Flickr8k posts (`load_flickr8k`), any tag source.
        top: how many of the most used tags to list.
    """
    if not posts:
        raise ValueError("flickr8k_tags_datasheet: no posts")
    sheet = {"all": _split_sheet(posts, top)}
    for part, key in (("train", "train"), ("val", "val"), ("test", "test"), (None, "unlisted")):
        chosen = [p for p in posts if p.meta.get("split") == part]
        if chosen:
            sheet[key] = _split_sheet(chosen, top)
    return sheet
