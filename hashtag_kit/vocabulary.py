"""One vocabulary for tags and words, with one special-token convention.

Every id table of the kit is a `Vocabulary`: the tags of the encoder-decoder and of CNN-RNN,
the words of the caption tokenizer (`hashtag_kit.captioning.CaptionTokenizer`) and of the
attention classifier (`hashtag_kit.models.attention_classifier.WordVocabulary`). Ids 0-3 are
always `<pad>` (`PAD`, masked), `<start>` (`START`), `<end>` (`END`) and `<unk>` (`UNK`, any
token outside the vocabulary); the tokens follow from id `N_SPECIAL`, most frequent first.
Saved as JSON `{"tokens": [...]}` (id = index, special tokens included): the encoder-decoder's
`tags.json`; subclasses add their own fields (`to_dict`).

Example:
    >>> v = Vocabulary.fit(["a", "dog", "a", "cat", "a", "dog"], min_count=2)
    >>> v.tokens[N_SPECIAL:], v.id("dog"), v.id("zebra") == UNK
    (['a', 'dog'], 5, True)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from hashtag_kit.files import write_text
from hashtag_kit.run import read_json

PAD, START, END, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ["<pad>", "<start>", "<end>", "<unk>"]
N_SPECIAL = len(SPECIAL_TOKENS)


class Vocabulary:
    """Token <-> id table: the special tokens (ids 0-3), then the tokens.

    Args:
        tokens: every token in id order, starting with `SPECIAL_TOKENS`.

    Raises:
        ValueError: the list does not start with the special tokens, or repeats a token.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = [str(t) for t in tokens]
        if self.tokens[:N_SPECIAL] != SPECIAL_TOKENS:
            raise ValueError(f"tokens must start with {SPECIAL_TOKENS}, got {self.tokens[:4]}")
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("a vocabulary lists each token once")

    @classmethod
    def of(cls, items: Iterable[str], max_size: int | None = None):
        """The special tokens, then `items` in their order (repeats and specials dropped),
        at most `max_size` of them."""
        items = [t for t in dict.fromkeys(items) if t not in SPECIAL_TOKENS]
        return cls(SPECIAL_TOKENS + items[:max_size])

    @classmethod
    def fit(cls, items: Iterable[str], min_count: int = 1, max_size: int | None = None):
        """The tokens seen at least `min_count` times in `items`, most frequent first (ties
        alphabetical), at most `max_size` of them (special tokens not counted)."""
        counts = Counter(items)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls.of([t for t, c in ranked if c >= min_count], max_size)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def size(self) -> int:
        """Number of ids, special tokens included."""
        return len(self.tokens)

    def id(self, token: str) -> int:
        """The token's id, `UNK` for a token outside the vocabulary."""
        return self.index.get(token, UNK)

    def to_dict(self) -> dict:
        return {"tokens": self.tokens}

    @classmethod
    def from_dict(cls, d: dict, where: str = "the vocabulary"):
        if not isinstance(d, dict) or not isinstance(d.get("tokens"), list):
            raise ValueError(
                f"{where} is not a vocabulary of this kit ({{'tokens': [...]}} expected; a file "
                "with 'words' was written by an older kit with other special-token ids)"
            )
        bad = [t for t in d["tokens"] if not isinstance(t, str) or not t]
        if bad:
            raise ValueError(f"{where}: every token must be a non-empty string, got {bad[0]!r:.40}")
        extra = {k: v for k, v in d.items() if k != "tokens"}
        return cls(d["tokens"], **extra)

    def save(self, path: str | Path) -> Path:
        return write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, path: str | Path):
        """The vocabulary saved at `path`; ValueError naming the file (and the notebook to
        re-run) when it is not one (`hashtag_kit.run.read_json`'s checks, then `from_dict`'s)."""
        try:
            return cls.from_dict(read_json(path), str(path))
        except ValueError as e:
            raise ValueError(f"{e}: re-run the notebook that wrote it") from None
