"""Counting what a run skipped or repaired, so bad input never disappears silently.

Every loader and stage takes a `RunReport`, calls `skip(...)` for each record it drops and
`note(...)` for each record it keeps after repairing it, and the stage writes `report.json`.

Example:
    >>> r = RunReport()
    >>> r.skip("corrupt_image", "img/3.jpg", "cannot identify image file")
    >>> r.counts["corrupt_image"]
    1
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from hashtag_kit.files import write_json

log = logging.getLogger("hashtag_kit")

#: how many example locations are kept per kind (the counts are always complete)
MAX_EXAMPLES = 20


class RunReport:
    """Counts of skipped and repaired records, by kind, with example locations."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def _example(self, kind: str, where: str, reason: str = "") -> None:
        ex = self.examples.setdefault(kind, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(f"{where}: {reason}" if reason else where)

    def skip(self, kind: str, where: str, reason: str = "") -> None:
        """Record a dropped record: `kind` groups it, `where` names file/line/post."""
        self.counts[kind] += 1
        self._example(kind, where, reason)
        log.debug("skipped %s at %s: %s", kind, where, reason)

    def note(self, kind: str, where: str, reason: str = "") -> None:
        """Record a record kept after a repair (e.g. empty caption treated as missing text)."""
        self.notes[kind] += 1
        self._example(kind, where, reason)

    @property
    def n_skipped(self) -> int:
        return sum(self.counts.values())

    def merge(self, other: RunReport) -> RunReport:
        self.counts.update(other.counts)
        self.notes.update(other.notes)
        for kind, examples in other.examples.items():
            for example in examples:
                self._example(kind, example)
        return self

    def to_dict(self) -> dict:
        return {
            "skipped": dict(self.counts),
            "repaired": dict(self.notes),
            "n_skipped": self.n_skipped,
            "examples": self.examples,
        }

    def write(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    def summary(self) -> str:
        if not self.counts and not self.notes:
            return "nothing skipped or repaired"
        parts = [f"skipped {n} {k}" for k, n in sorted(self.counts.items())]
        parts += [f"repaired {n} {k}" for k, n in sorted(self.notes.items())]
        return "; ".join(parts)
