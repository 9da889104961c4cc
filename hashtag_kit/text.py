"""Hashtag text processing: extraction, normalisation, stripping, segmentation, stopwords.

Decisions (the tests pin each one):

* **What is a hashtag.** A `#` (or the fullwidth `＃` / small `﹟`) followed by a run of tag
  characters: unicode letters, combining marks (so Devanagari, Thai, Arabic tags stay whole),
  digits and underscore. Zero-width characters inside the run (ZWSP, ZWNJ, ZWJ, word joiner, BOM)
  are kept in the run and removed by normalisation, so `#beach\\u200blove` is `beachlove`.
  Several `#` in a row count as one (`##love` is `love`).
* `#` directly after a word counts too (`Netflix#lit`, `#Trunks#WestHollywood`): Instagram
  cross-posts write tags without spaces, and leaving them would leak the answer into the text.
  Not hashtags: `#` inside a URL (`http://x.org/page#top`), `&#39;` (HTML entities), a `#` with
  no tag character after it (`C#`, `# 1`), and pure numbers (`#1`, `#2019`: "number one" rather
  than a topic; they need at least one letter, as on Twitter).
* **Normalisation** (`normalise_hashtag`): NFKC, casefold, drop the `#`, zero-width characters,
  variation selectors and every character that cannot be part of a tag (spaces, hyphens,
  apostrophes, punctuation anywhere: `"dining table"` -> `"diningtable"`, `"t-shirt"` ->
  `"tshirt"`), strip leading/trailing underscores; `""` when nothing with a letter is left.
* **Stripping** (`strip_hashtags`): every hashtag `extract_hashtags` finds is removed from the
  text, so no model input contains `#word`; URLs are left as they are.
* **Segmentation** (`segment_hashtag`): Viterbi over unigram word frequencies (the IRE project
  plan; the costs are `WordFrequencies`').
* **Stopwords** (`load_stopwords`), **singulars** (`singular`, `singular_guesses`), **cleaning**
  of every text field before anything reads it (`clean_str`) and **tokens** (`tokenize`): see
  each function.

Example:
    >>> extract_hashtags("Golden hour at the #Beach! #sunset… #1 #BeachLove")
    ['beach', 'sunset', 'beachlove']
    >>> strip_hashtags("Golden hour at the #Beach! #sunset")
    'Golden hour at the!'
    >>> segment_hashtag("beachlove")
    ['beach', 'love']
"""

from __future__ import annotations

import bisect
import math
import os
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hashtag_kit.report import RunReport

RESOURCES = Path(__file__).resolve().parent / "resources"

#: characters that start a hashtag (NFKC maps the fullwidth and small forms to "#")
HASH_CHARS = frozenset("#\uff03\ufe5f")
_HASHES = "".join(HASH_CHARS)
#: zero-width characters kept inside a tag run and removed by normalisation
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
_DROP_ZERO_WIDTH = {ord(c): None for c in ZERO_WIDTH}
_DROP_CHARS = _DROP_ZERO_WIDTH | {cp: None for cp in range(0xFE00, 0xFE10)}
#: the longest text field read, in characters (the longest caption of the real datasets has
#: 1,562; Instagram allows 2,200): longer ones are cut by `clean_str` (USE multilingual v3 took
#: 21 GB of memory and 2 minutes for one 6.2-million-character caption)
MAX_TEXT_CHARS = 20_000
#: the most words such a text holds: the longest caption a decoder is asked for, or a run records
MAX_TEXT_WORDS = MAX_TEXT_CHARS // 2
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACE_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_GAP = "\x00"  # marks where strip_hashtags removed a tag
#: a run of spaces and removed tags before punctuation (tried from the run's start only: from
#: every position of it, 6,666 tags in a row took 1.2 s)
_GAP_BEFORE_PUNCT_RE = re.compile(r"(?<![\s\x00])\s*\x00[\s\x00]*(?=[,.!?;:)\]}\u2026])")


def _mark_class() -> str:
    """A regex character class body of every combining mark (category M*) below U+20000,
    variation selectors excepted (they end a tag)."""
    ranges: list[list[int]] = []  # [first, last] of each run of consecutive marks
    for cp in range(0x300, 0x20000):
        if unicodedata.category(chr(cp))[0] == "M" and not 0xFE00 <= cp <= 0xFE0F:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


_TAG_CHARS = rf"\w{_mark_class()}{''.join(ZERO_WIDTH)}"
#: a hashtag candidate: one or more '#' then tag characters (group 1); tried from the first '#'
#: of a run only (from each '#' of it, 20,000 '#' in a row took 17 s)
_TAG_RUN_RE = re.compile(rf"(?<![{_HASHES}])[{_HASHES}]+([{_TAG_CHARS}]+)")
_NOT_TAG_CHAR_RE = re.compile(rf"[^{_TAG_CHARS}]")
_ASCII_TAG_RE = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class HashtagSpan:
    """Where a hashtag sits in a text: `text[start:end]` is the raw `#tag`, `tag` the normalised
    tag ("" for a pure number such as `#1`, which is not a hashtag)."""

    start: int
    end: int
    tag: str


def hashtag_spans(text: str) -> list[HashtagSpan]:
    """Every `#tag` in `text` in order, with offsets into the raw text (see module rules)."""
    if not text:
        return []
    urls = [m.span() for m in _URL_RE.finditer(text)] if "://" in text or "www." in text else []
    spans: list[HashtagSpan] = []
    for m in _TAG_RUN_RE.finditer(text):
        start, end = m.span()
        run_start = m.start(1)
        if start > 0 and text[start - 1] == "&":  # HTML entity such as &#39;
            continue
        if urls:  # bisected: a scan of every URL for each tag took 0.25 s for 20,000 characters
            k = bisect.bisect_right(urls, (start,))  # urls[k - 1]: the last one starting before
            if k and urls[k - 1][1] > start:
                continue
            # a URL glued to a '#' (`#http://...`) is not part of the tag
            end = min(end, urls[k][0]) if k < len(urls) else end
            if end == run_start:
                continue
        spans.append(HashtagSpan(start, end, normalise_hashtag(text[run_start:end])))
    return spans


def extract_hashtags(text: str | None, unique: bool = True) -> list[str]:
    """Normalised hashtags of a free text, in order of appearance.

    Args:
        text: any text; None or "" gives [].
        unique: drop repeats (keeping the first).

    Example:
        >>> extract_hashtags("Love this! #Summer #summer #１ #ｓｕｍｍｅｒVibes")
        ['summer', 'summervibes']
    """
    tags = [s.tag for s in hashtag_spans(text or "") if s.tag]
    return list(dict.fromkeys(tags)) if unique else tags


@lru_cache(maxsize=200_000)
def normalise_hashtag(tag: str) -> str:
    """The canonical form of a tag: NFKC, casefolded, no `#`, only tag characters.

    Returns "" for junk (empty, only punctuation, only digits).

    Example:
        >>> normalise_hashtag("#ＢｅａｃｈLife!!")
        'beachlife'
        >>> normalise_hashtag("dining table"), normalise_hashtag("#2019")
        ('diningtable', '')
    """
    if not tag:
        return ""
    s = tag.casefold()
    if not _ASCII_TAG_RE.fullmatch(s):
        s = unicodedata.normalize("NFKC", tag).translate(_DROP_CHARS)
        s = unicodedata.normalize("NFKC", s.casefold())
        s = _NOT_TAG_CHAR_RE.sub("", s).translate(_DROP_CHARS)
    s = s.strip("_")
    return s if any(c.isalpha() for c in s) else ""


def strip_hashtags(text: str | None, spans: list[HashtagSpan] | None = None) -> str:
    """The text with its hashtags removed (so no model reads the answer), whitespace collapsed.

    Pure-number tags keep the number (`#1` -> `1`). A tag removed right before punctuation
    takes the space before it along (`I love #NYC!` -> `I love!`). Returns "" when nothing is
    left. `spans` (from `hashtag_spans(text)`) saves finding the tags again.

    Example:
        >>> strip_hashtags("Sunset walk #beach #sunset @ Venice Beach")
        'Sunset walk @ Venice Beach'
        >>> strip_hashtags("More #tinyepic things #tinyepicwestern, this one")
        'More things, this one'
    """
    if not text:
        return ""
    if _GAP in text:  # (same length, so given spans stay valid)
        text = text.replace(_GAP, " ")
    spans = hashtag_spans(text) if spans is None else spans
    if spans:
        parts, last = [], 0
        for s in spans:
            parts.append(text[last : s.start])
            # a number keeps its digits without the '#'
            parts.append(_GAP if s.tag else text[s.start : s.end].lstrip(_HASHES))
            last = s.end
        parts.append(text[last:])
        text = "".join(parts)
        text = _GAP_BEFORE_PUNCT_RE.sub("", text).replace(_GAP, " ")
    return _SPACE_RE.sub(" ", text).strip()


def parse_hashtag_field(value) -> list[str]:
    """Hashtags given as a list, or a string separated by spaces/commas/`#` -> normalised list.

    Example:
        >>> parse_hashtag_field("#Beach, sunset  #Dining_Table")
        ['beach', 'sunset', 'dining_table']
    """
    items = parse_hashtag_items(value)
    return list(dict.fromkeys(t for t in (normalise_hashtag(i) for i in items) if t))


def parse_hashtag_items(value) -> list[str]:
    """The raw items of a hashtag field (list, or string split on spaces/commas/`;`/`#`)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [i for i in re.split(r"[\s,;#\uff03]+", value) if i]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


def clean_str(value, report: RunReport | None = None, where: str = "") -> str | None:
    """A text field made safe (the loaders' captions, the recommender's caption): None/blank ->
    None, zero-width characters, BOM and control characters removed, whitespace collapsed, lone
    surrogates (invalid unicode from JSON escapes or a command line) replaced and counted in
    `report` as `invalid_unicode_replaced`; a text longer than `MAX_TEXT_CHARS` cut at the last
    space before the limit (at the limit if it has none) and counted as `text_truncated` (only
    the first 4 x `MAX_TEXT_CHARS` characters of a longer text are read at all).
    A list or object where text belongs is None, counted as `wrong_type` (never its Python
    repr as text).

    Example:
        >>> clean_str("  cutest\u200b cat\x07 ever ")
        'cutest cat ever'
    """
    if value is None:
        return None
    if isinstance(value, (list, dict, tuple)):
        if report is not None:
            kind = "object" if isinstance(value, dict) else "list"
            report.note("wrong_type", where, f"a JSON {kind} where text was expected")
        return None
    s = value if isinstance(value, str) else str(value)
    n, s = len(s), s[: 4 * MAX_TEXT_CHARS]  # every step copies: a huge text's start only
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        s = s.encode("utf-8", "replace").decode("utf-8")
        if report is not None:
            why = f"invalid unicode at character {e.start} replaced ({e.reason})"
            report.note("invalid_unicode_replaced", where, why)
    if not s.isascii():
        s = s.translate(_DROP_ZERO_WIDTH)
    if _CONTROL_RE.search(s):
        s = _CONTROL_RE.sub(" ", s)
    s = " ".join(s.split())
    if len(s) > MAX_TEXT_CHARS or n > 4 * MAX_TEXT_CHARS:
        cut = s[: MAX_TEXT_CHARS + 1].rsplit(" ", 1)[0][:MAX_TEXT_CHARS]
        if report is not None:
            why = f"{n:,} characters cut to {len(cut):,} (at most {MAX_TEXT_CHARS:,} are read)"
            report.note("text_truncated", where, why)
        s = cut
    return s or None


# -- tokens and stopwords ---------------------------------------------------------------------

_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    "\u0900-\u0dff\u0e00-\u0eff\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_WORD = rf"[^\W_]|[{_MARKS}]"
_TOKEN_RE = re.compile(rf"(?:{_WORD})+(?:['\u2019](?:{_WORD})+)*")


def tokenize(text: str | None) -> list[str]:
    """Lowercase word tokens from a regular expression (letters, marks, digits; inner
    apostrophes kept: "don't"); punctuation, `#`, `@` and emoji are dropped.

    Example:
        >>> tokenize("Don't stop! Surfing @ Malibu, 2019 #beach")
        ["don't", 'stop', 'surfing', 'malibu', '2019', 'beach']
    """
    if not text:
        return []
    return [t.replace("\u2019", "'") for t in _TOKEN_RE.findall(text.lower())]


def _read_list(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [w.strip() for w in lines if w.strip() and not w.startswith("#")]


def _nltk_stopword_file() -> Path | None:
    """NLTK's English stopword file when its data is installed (found without importing nltk)."""
    roots = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    roots += [str(Path.home() / "nltk_data")]
    for prefix in dict.fromkeys([sys.prefix, getattr(sys, "base_prefix", sys.prefix)]):
        roots += [f"{prefix}/nltk_data", f"{prefix}/share/nltk_data", f"{prefix}/lib/nltk_data"]
    roots += [f"/usr/{d}/nltk_data" for d in ("share", "local/share", "lib", "local/lib")]
    for root in roots:
        f = Path(root) / "corpora" / "stopwords" / "english"
        if f.is_file():
            return f
    return None


@lru_cache(maxsize=1)
def load_stopwords() -> tuple[frozenset[str], str]:
    """(the English stopwords, where they came from), read once: NLTK's English stopword corpus
    when its data is installed ("nltk"; it cannot be downloaded here), else the list this
    package ships, `resources/stopwords_en.txt` ("hashtag_kit")."""
    f = _nltk_stopword_file()
    if f is not None:
        try:
            return frozenset(_read_list(f)), "nltk"
        except OSError:
            pass
    return frozenset(_read_list(RESOURCES / "stopwords_en.txt")), "hashtag_kit"


@lru_cache(maxsize=1)
def _inflect_engine():
    import inflect  # lazy: inflect takes about 1.5 s to import (typeguard checks its functions)

    return inflect.engine()


@lru_cache(maxsize=200_000)
def singular(word: str) -> str | None:
    """The singular of `word` read as an English plural noun, or None when it does not read as
    one (`inflect`'s `singular_noun`: `dogs` -> `dog`, `puppies` -> `puppy`, `men` -> `man`,
    `feet` -> `foot`; `grass`, `sheep` -> None). A final s is taken for a plural (`bus` ->
    `bu`): accept the answer only when it is a known word (of the vocabulary, of the corpus).

    Example:
        >>> singular("children"), singular("benches"), singular("grass")
        ('child', 'bench', None)
    """
    s = _inflect_engine().singular_noun(word) if word else False
    return s if s and s != word else None


def singular_guesses(word: str) -> list[str]:
    """The singulars `word` may stand for, likelier first: `singular(word)`, then for an `-es`
    word the word without its final s (`hoodies` -> `hoodie`, where inflect says `hoody`).
    Callers keep the first that is a known word.

    Example:
        >>> singular_guesses("hoodies"), singular_guesses("men"), singular_guesses("grass")
        (['hoody', 'hoodie'], ['man'], [])
    """
    out = [s for s in (singular(word),) if s]
    if word.endswith("es"):
        out.append(word[:-1])
    return out


def remove_stopwords(tokens: Iterable[str], stopwords: Iterable[str] | None = None) -> list[str]:
    """Tokens that are not stopwords (case-insensitive).

    Example:
        >>> remove_stopwords(["a", "dog", "on", "the", "beach"])
        ['dog', 'beach']
    """
    stop = load_stopwords()[0] if stopwords is None else frozenset(stopwords)
    return [t for t in tokens if t.lower() not in stop]


# -- segmentation -----------------------------------------------------------------------------

#: known words up to this length are never split (`often` is not `of ten`)
KEEP_KNOWN_LEN = 10
#: tags longer than this are returned whole (no segmentation of junk)
MAX_SEGMENT_LEN = 60
#: base count of the word at rank r in the shipped list is BASE_SCALE / r (Zipf)
BASE_SCALE = 1_000_000.0
_CAMEL_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^A-Za-z0-9_]+")


class WordFrequencies:
    """Unigram word counts for `segment_hashtag`, with the costs Viterbi minimises.

    A known word costs `-log(count / total)` (plus `SINGLE_LETTER` for "a" and "i"). An unknown
    chunk of `n` letters costs `log(total) + UNKNOWN_BASE + n * UNKNOWN_PER_CHAR`: every unknown
    chunk pays a large fixed price and little per letter, so a tag is split only where the
    pieces are words (`beachy` stays whole rather than `beach` + `y`, `thailand` rather than
    `thail` + `and`).

    Args:
        counts: word -> count (lowercase words; other entries are ignored).

    Example:
        >>> wf = WordFrequencies.from_texts(["surfers ride the waves", "surfers at dawn"])
        >>> wf.segment("surferswaves")
        ['surfers', 'waves']
    """

    UNKNOWN_BASE = 10.0
    UNKNOWN_PER_CHAR = 0.5
    #: extra cost of a one-letter word ("a", "i"): `passion` is not `pass i on`
    SINGLE_LETTER = 6.0

    def __init__(self, counts: Mapping[str, float]) -> None:
        self.counts = {w: float(c) for w, c in counts.items() if w and c > 0}
        self.total = sum(self.counts.values()) or 1.0
        self._log_total = math.log(self.total)
        self.max_len = max((len(w) for w in self.counts), default=1)

    def __contains__(self, word: str) -> bool:
        return word in self.counts

    def __len__(self) -> int:
        return len(self.counts)

    @classmethod
    @lru_cache(maxsize=1)
    def base(cls) -> WordFrequencies:
        """The shipped hand-written list (`resources/words_en.txt`), counts from Zipf ranks."""
        words = _read_list(RESOURCES / "words_en.txt")
        counts: dict[str, float] = {}
        for rank, w in enumerate(words, 1):
            counts.setdefault(w.lower(), BASE_SCALE / rank)
        return cls(counts)

    @classmethod
    def from_texts(
        cls, texts: Iterable[str | None], base: bool = True, min_count: int = 1
    ) -> WordFrequencies:
        """Counts from a corpus (e.g. the dataset's own captions), mixed with the base list.

        Args:
            texts: any texts; tokenised with `tokenize` (hashtags are read as words).
            base: add the shipped base list; the corpus and the base list then weigh equally
                (corpus counts are rescaled to the base list's total).
            min_count: corpus words seen fewer times are ignored (typos).
        """
        corpus = Counter(t for text in texts for t in tokenize(text) if not t.isdigit())
        corpus = Counter({w: c for w, c in corpus.items() if c >= min_count})
        if not base:
            return cls(corpus)
        b = cls.base()
        scale = b.total / max(sum(corpus.values()), 1)
        merged = dict(b.counts)
        for w, c in corpus.items():
            merged[w] = merged.get(w, 0.0) + c * scale
        return cls(merged)

    def cost(self, word: str) -> float:
        c = self.counts.get(word)
        if c is not None:
            extra = self.SINGLE_LETTER if len(word) == 1 else 0.0
            return self._log_total - math.log(c) + extra
        return self._log_total + self.UNKNOWN_BASE + len(word) * self.UNKNOWN_PER_CHAR

    def segment(self, chunk: str) -> list[str]:
        """Cheapest split of a lowercase a-z chunk into words (Viterbi)."""
        n = len(chunk)
        if n == 0:
            return []
        if (chunk in self.counts and n <= KEEP_KNOWN_LEN) or n > MAX_SEGMENT_LEN:
            return [chunk]
        best = [0.0] + [math.inf] * n
        back = [0] * (n + 1)
        for end in range(1, n + 1):
            for start in range(end):
                c = best[start] + self.cost(chunk[start:end])
                if c < best[end]:
                    best[end], back[end] = c, start
        words, end = [], n
        while end > 0:
            words.append(chunk[back[end] : end])
            end = back[end]
        return words[::-1]


def segment_hashtag(tag: str, freqs: WordFrequencies | None = None) -> list[str]:
    """Split a compound hashtag into words: `beachlove` -> `["beach", "love"]`.

    Args:
        tag: a hashtag, raw (`#BeachLove`, camelCase and `_` are used as word boundaries) or
            normalised (`beachlove`).
        freqs: word frequencies (`WordFrequencies.from_texts(...)` of the dataset's captions);
            the shipped base list when None.

    Returns:
        Lowercase words; the normalised tag whole when it has digits or letters outside a-z;
        [] for junk.

    Example:
        >>> segment_hashtag("#SunsetLover"), segment_hashtag("summer2019")
        (['sunset', 'lover'], ['summer2019'])
    """
    norm = normalise_hashtag(tag)
    if not norm:
        return []
    if not re.fullmatch(r"[a-z_]+", norm):
        return [norm]
    freqs = freqs or WordFrequencies.base()
    raw = unicodedata.normalize("NFKC", tag).translate(_DROP_CHARS).lstrip("#")
    if raw.lower().replace("_", "") == norm.replace("_", "") and re.fullmatch(r"[A-Za-z_]+", raw):
        chunks = [c.lower() for c in _CAMEL_RE.findall(raw)]
    else:
        chunks = norm.split("_")
    words: list[str] = []
    for chunk in chunks:
        words.extend(freqs.segment(chunk))
    return words
