"""Tag co-occurrence completion: given a post's first tags, suggest the tags that go with them.

`CooccurrenceCompleter` counts, over training tag lists, how often each pair of tags appears on
the same post. For the given tags `G` of a post, a candidate tag `t` scores
`sum_{g in G} P(t | g) = sum_g C(g, t) / C(g)` (the "sum" aggregation of asymmetric co-occurrence,
Sigurbjörnsson & van Zwol, WWW 2008); ties and short lists are completed by global popularity.

`evaluate_completion` is the protocol of issue 5: on each test post with at least
two tags, the first half of its tags (rounded down, at least one) is given and
the rest is hidden; the ranked suggestions are scored against the hidden tags with
`hashtag_kit.evaluation.ranking.ranking_metrics`. Posts with fewer than two tags cannot be split and
are counted in the RunReport (`completion_too_few_tags`).

Example:
    >>> c = CooccurrenceCompleter().fit([["sea", "sun"], ["sea", "sun"], ["sea", "sand"]])
    >>> c.complete([["sea"]], k=2)
    [['sun', 'sand']]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import islice

from hashtag_kit.baselines.ranking import _ordered
from hashtag_kit.data import load_dataset
from hashtag_kit.data.splits import random_split
from hashtag_kit.evaluation.ranking import DEFAULT_KS, ranking_metrics
from hashtag_kit.report import RunReport


def _unique(tags) -> list[str]:
    return list(dict.fromkeys(t for t in tags if t))


class CooccurrenceCompleter:
    """Suggests tags that co-occur with the given ones in the training tag lists.

    Args:
        min_count: pairs seen fewer times are ignored (noise filter; default 1).

    Reference:
        Sigurbjörnsson & van Zwol, "Flickr Tag Recommendation based on Collective Knowledge",
        WWW 2008 (asymmetric co-occurrence, sum aggregation).
    """

    def __init__(self, min_count: int = 1) -> None:
        self.min_count = int(min_count)
        self.tag_counts: Counter = Counter()
        self.pair_counts: dict[str, Counter] = {}
        self.popular: list[str] = []

    def fit(self, tag_lists: Sequence[Sequence[str]]):
        self.tag_counts = Counter()
        pairs: dict[str, Counter] = {}
        for tags in tag_lists:
            tags = _unique(tags)
            self.tag_counts.update(tags)
            for g in tags:
                pairs.setdefault(g, Counter()).update(t for t in tags if t != g)
        if not self.tag_counts:
            raise ValueError("no training tag list has a tag; cannot fit co-occurrence")
        if self.min_count > 1:
            pairs = {
                g: Counter({t: n for t, n in c.items() if n >= self.min_count})
                for g, c in pairs.items()
            }
        self.pair_counts = pairs
        self.popular = _ordered(self.tag_counts)
        self._rank = {t: i for i, t in enumerate(self.popular)}
        return self

    def scores(self, given: Sequence[str]) -> dict[str, float]:
        """`sum_g P(t | g)` for every tag co-occurring with a given tag (given tags excluded)."""
        out: dict[str, float] = {}
        given = _unique(given)
        for g in given:
            n = self.tag_counts.get(g)
            if not n:
                continue  # a tag never seen in training contributes nothing
            for t, c in self.pair_counts.get(g, {}).items():
                out[t] = out.get(t, 0.0) + c / n
        for g in given:
            out.pop(g, None)
        return out

    def complete(
        self, given_lists: Sequence[Sequence[str]], k: int, fill_with_popularity: bool = True
    ) -> list[list[str]]:
        """For each list of given tags, `k` suggested tags (never one of the given ones)."""
        if not self.popular:
            raise RuntimeError("CooccurrenceCompleter is not fitted: call fit(tag_lists) first")
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        out = []
        big = len(self._rank)
        for given in given_lists:
            sc = self.scores(given)
            ranked = sorted(sc, key=lambda t: (-sc[t], self._rank.get(t, big), t))[:k]
            if fill_with_popularity and len(ranked) < k:
                skip = set(given) | set(ranked)
                ranked += islice((t for t in self.popular if t not in skip), k - len(ranked))
            out.append(ranked)
        return out


def split_given_hidden(tags: Sequence[str]) -> tuple[list[str], list[str]]:
    """First half of the (deduplicated) tags given (rounded down, at least one), the rest hidden."""
    tags = _unique(tags)
    n_given = max(1, len(tags) // 2)
    return tags[:n_given], tags[n_given:]


def evaluate_completion(
    train_lists: Sequence[Sequence[str]],
    test_lists: Sequence[Sequence[str]],
    ks=DEFAULT_KS,
    report: RunReport | None = None,
    test_names: Sequence[str] | None = None,
    min_count: int = 1,
) -> dict:
    """Fit on `train_lists`, hide half of each test post's tags, score the completions.

    Args:
        train_lists: training tag lists.
        test_lists: test tag lists; those with fewer than two distinct tags are skipped and
            counted in `report` as `completion_too_few_tags`.
        ks: the K values of the ranking metrics.
        report: where skipped posts are counted (a new one when None).
        test_names: a name per test list (file line, post id) for the report's examples.
        min_count: passed to `CooccurrenceCompleter`.

    Returns:
        {"cooccurrence": ranking_metrics(...), "popularity": ranking_metrics(...),
         "n_train": int, "n_test": int, "n_skipped": int, "protocol": str}; the popularity
        row ranks the most frequent training tags (minus the given ones) for comparison.
    """
    report = report if report is not None else RunReport()
    given, hidden = [], []
    for i, tags in enumerate(test_lists):
        g, h = split_given_hidden(tags)
        if not h:
            where = test_names[i] if test_names is not None else f"test list {i}"
            report.skip("completion_too_few_tags", where, "fewer than two distinct tags")
            continue
        given.append(g)
        hidden.append(set(h))
    if not given:
        raise ValueError("no test post has two or more tags: nothing to complete")
    completer = CooccurrenceCompleter(min_count=min_count).fit(train_lists)
    k_max = max(ks)
    ranked = completer.complete(given, k_max)
    # the popularity row, with the completer's exclusions (the given tags)
    popular = [[t for t in completer.popular if t not in set(g)][:k_max] for g in given]
    return {
        "cooccurrence": ranking_metrics(ranked, hidden, ks),
        "popularity": ranking_metrics(popular, hidden, ks),
        "n_train": len(train_lists),
        "n_test": len(given),
        "n_skipped": len(test_lists) - len(given),
        "protocol": (
            "first half of each test post's tags given (rounded down, at least one), the rest "
            "hidden and scored; sum of P(t|g) co-occurrence (Sigurbjörnsson & van Zwol 2008)"
        ),
    }


def harrison_completion(
    data_dir,
    report: RunReport | None = None,
    *,
    limit: int | None = None,
    test_fraction: float = 0.1,
    seed: int = 0,
    ks=DEFAULT_KS,
) -> dict:
    """Co-occurrence completion on HARRISON's real tag lists (`tag_list.txt`).

    The posts (`load_dataset("harrison", data_dir, ...)`; images are not needed) are split at
    random (seeded; `test_fraction` test), the co-occurrence counts come from the training lists,
    and `evaluate_completion` hides half of each test post's tags.

    Returns:
        `evaluate_completion`'s dict plus "dataset", "data_dir", "n_posts", "test_fraction",
        "seed".
    """
    report = report if report is not None else RunReport()
    posts = load_dataset("harrison", data_dir, report, limit=limit)
    if len(posts) < 2:
        raise ValueError(f"{data_dir}: HARRISON gave {len(posts)} posts; need at least 2")
    in_test = set(random_split(posts, seed, val=0.0, test=test_fraction)["test"])
    if not in_test:
        raise ValueError(f"{len(posts)} posts leave no test post at test_fraction={test_fraction}")
    test = [p for p in posts if p.id in in_test]
    out = evaluate_completion(
        [p.hashtags for p in posts if p.id not in in_test],
        [p.hashtags for p in test],
        ks=ks,
        report=report,
        test_names=[f"HARRISON post {p.id}" for p in test],
    )
    out.update(
        dataset="harrison",
        data_dir=str(data_dir),
        n_posts=len(posts),
        test_fraction=test_fraction,
        seed=seed,
    )
    return out
