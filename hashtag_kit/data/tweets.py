"""One post per line social text (TweetEval "emoji" files) -> text posts whose hashtags are
the answer, removed from the text.

Files: `emoji_{train,val,test}_text.txt` (or `{split}_text.txt`, as TweetEval's per-task
folders name them), found in `data_dir` or its `tweeteval/` sub-folder; `data_dir` may also be
one text file. A matching `..._labels.txt` (same line count) is read into `meta["label"]`.

Per line:

* HTML entities the files keep from Twitter (`&amp;`, `&lt;`, `&gt;`) are unescaped first;
* hashtags are extracted (`hashtag_kit.text` rules: `Netflix#lit` and `#a#b` count, `#1` does
  not) and REMOVED from the text, so no model reads the answer; no `#` is left in the text;
* the cross-posts are cut at a word boundary and end with `…` (`... #soundersfc.…`,
  `@ San…`): the tag just before the cut is complete and kept (`truncated_hashtags="keep"`,
  default); `"drop"` does not use it as a label (counted); `meta["truncated"]` is set;
* the Instagram location suffix `" @ Place Name"` (an `@` followed by a space, at the end) is
  moved to `meta["location"]` (`location="meta"`, default), kept in the text (`"keep"`) or
  dropped (`"drop"`);
* mentions (`@user`, already anonymised by TweetEval) are kept (`mentions="keep"`) or removed
  (`"drop"`); orphan emoji variation selectors and zero-width characters are removed, and so
  is the trailing ellipsis;
* posts without a (usable) hashtag, or with no text left once hashtags are removed, are
  skipped and counted; `meta["split"]` names the file's split; `id` is `<split>-<line>`.

Example:
    >>> from hashtag_kit.report import RunReport
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "emoji_val_text.txt"
    >>> _ = f.write_text("Sunny day #beach #Sunset @ Venice Beach\\n")
    >>> (p,) = load_tweets(f, RunReport())
    >>> p.id, p.hashtags, p.text, p.meta["location"]
    ('val-1', ['beach', 'sunset'], 'Sunny day', 'Venice Beach')
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from hashtag_kit.data.loaders import DatasetNotFoundError, count_lines, iter_lines, require_dir
from hashtag_kit.data.posts import Post
from hashtag_kit.report import RunReport
from hashtag_kit.text import HASH_CHARS, clean_str, hashtag_spans, strip_hashtags

GET_IT = "Get TweetEval from https://github.com/cardiffnlp/tweeteval (datasets/emoji)."
SPLITS = ("train", "val", "test")
ELLIPSIS = ("\u2026", "...")
_LOCATION_RE = re.compile(r"(?:^|\s)@\s+(?P<place>[^@#\n]+?)\s*$")
_MENTION_RE = re.compile(r"(?<!\w)@\w+")
_HASH_RE = re.compile(f"[{''.join(HASH_CHARS)}]")
_NOISE = {ord(c): None for c in "\ufe0e\ufe0f\u200b\u200c\u200d\u2060\ufeff"}


def tweet_files(data_dir: Path, split: str | None) -> list[tuple[str, Path]]:
    """(split, file) pairs in split order; a single file is its own split (from its name)."""
    if data_dir.is_file():
        name = data_dir.name
        part = next((s for s in SPLITS if f"{s}_text" in name), data_dir.stem)
        return [(part, data_dir)]
    folders = [data_dir, data_dir / "tweeteval", data_dir / "emoji"]
    found = []
    for s in SPLITS:
        if split is not None and s != split:
            continue
        for folder in folders:
            hits = sorted(folder.glob(f"*{s}_text.txt")) if folder.is_dir() else []
            if hits:
                found.append((s, hits[0]))
                break
    if not found:
        want = f"emoji_{split or '{train,val,test}'}_text.txt"
        raise DatasetNotFoundError(f"tweets: expected {data_dir / want}; none found. {GET_IT}")
    return found


def parse_tweet(
    raw: str, *, location: str = "meta", mentions: str = "keep", truncated_hashtags: str = "keep"
) -> tuple[str | None, list[str], dict, list[str]]:
    """One line -> (text without hashtags or None, hashtags, meta, dropped truncated tags)."""
    if "&" in raw:
        raw = html.unescape(raw)  # the files keep Twitter's &amp; &lt; &gt;
    s = (raw if raw.isascii() else raw.translate(_NOISE)).strip()
    meta: dict = {}
    truncated = s.endswith(ELLIPSIS)
    if truncated:
        meta["truncated"] = True
    m = _LOCATION_RE.search(s)
    if m and location != "keep":
        place = m["place"].strip()
        if location == "meta":
            meta["location"] = place
        s = s[: m.start()].rstrip()
    spans = hashtag_spans(s)
    tags, dropped = [], []
    for sp in spans:
        if not sp.tag:
            continue
        cut = s[sp.end : sp.end + 3].startswith(ELLIPSIS)
        if cut and truncated_hashtags == "drop":
            dropped.append(sp.tag)
        else:
            tags.append(sp.tag)
    tags = list(dict.fromkeys(tags))
    text = strip_hashtags(s, spans)
    if mentions == "drop":
        text = _MENTION_RE.sub(" ", text)
    if _HASH_RE.search(text):
        text = _HASH_RE.sub(" ", text)
    text = " ".join(text.split())
    while text.endswith(ELLIPSIS):
        text = text.removesuffix("\u2026").removesuffix("...").rstrip()
    return (text or None), tags, meta, dropped


def load_tweets(
    data_dir: str | Path,
    report: RunReport,
    *,
    limit: int | None = None,
    split: str | None = None,
    location: str = "meta",
    mentions: str = "keep",
    truncated_hashtags: str = "keep",
    require_hashtags: bool = True,
) -> list[Post]:
    """Text posts, one per line (see the module doc).

    Args:
        data_dir: folder with `emoji_{split}_text.txt` files (or `tweeteval/` inside), or a file.
        report, limit: counts every skipped or repaired record; stop after `limit` posts.
        split: "train", "val" or "test"; None reads all that exist.
        location: the " @ Place" suffix: "meta" (moved to meta["location"]), "keep", "drop".
        mentions: "keep" or "drop" `@user` mentions.
        truncated_hashtags: "keep" or "drop" (not a label) the tag just before the ellipsis.
        require_hashtags: skip (and count) posts without a hashtag.
    """
    for opt, value, allowed in (
        ("location", location, ("meta", "keep", "drop")),
        ("mentions", mentions, ("keep", "drop")),
        ("truncated_hashtags", truncated_hashtags, ("keep", "drop")),
        ("split", split, (None, *SPLITS)),
    ):
        if value not in allowed:
            raise ValueError(f"tweets: {opt} must be one of {allowed}, got {value!r}")
    root = require_dir(data_dir, "tweets", GET_IT)
    posts: list[Post] = []
    for part, path in tweet_files(root, split):
        labels = None
        label_path = path.with_name(path.name.replace("_text.txt", "_labels.txt"))
        if label_path != path and label_path.is_file():
            if count_lines(label_path) == count_lines(path):
                labels = dict(iter_lines(label_path, report))
            else:
                report.note("labels_file_misaligned", str(label_path), "line counts differ")
        for lineno, line in iter_lines(path, report):
            where = f"{path}:{lineno}"
            if not line.strip():
                report.skip("empty_line", where)
                continue
            raw = clean_str(line, report, where) or ""
            text, tags, meta, dropped = parse_tweet(
                raw, location=location, mentions=mentions, truncated_hashtags=truncated_hashtags
            )
            pid = f"{part}-{lineno}"
            if dropped:
                report.note("truncated_hashtag_dropped", f"{where} (post {pid})", dropped[0])
            if not tags and require_hashtags:
                why = "only a truncated hashtag" if dropped else "no hashtag"
                report.skip("post_without_hashtags", f"{where} (post {pid})", why)
                continue
            if text is None:
                report.skip("post_without_content", f"{where} (post {pid})", "only hashtags")
                continue
            meta = {"split": part, **meta}
            label = (labels or {}).get(lineno, "").strip()
            if label.lstrip("-").isdecimal() and len(label) < 10:  # (int(): 4,300 digits at most)
                meta["label"] = int(label)
            posts.append(Post(id=pid, hashtags=tags, text=text, meta=meta))
            if limit is not None and len(posts) >= limit:
                return posts
    return posts
