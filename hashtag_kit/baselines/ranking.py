"""Reference hashtag recommenders that need no neural training.

Every recommender here has the same two calls:

- `fit(train_posts, vocab=None)` learns from training posts (only tags in `vocab` count when a
  vocabulary is given, so the baselines rank the same tags the neural models do);
- `recommend(posts, k, exclude=None) -> list[list[str]]` returns one ranked list of at most `k`
  tags per post, never returning a tag of `exclude[i]` for post `i`.

The lists feed `hashtag_kit.evaluation.ranking.ranking_metrics` directly. The recommenders:
`PopularityRecommender` (the most used tags), `UserTopRecommender` (the author's own most used
tags) and `NearestNeighbourRecommender` (the nearest training posts in feature space vote).

Example:
    >>> from hashtag_kit.data.posts import Post
    >>> train = [Post("a", ["sea", "sun"]), Post("b", ["sea"]), Post("c", ["cat"], user="u")]
    >>> PopularityRecommender().fit(train).recommend([Post("q")], k=2)
    [['sea', 'cat']]
    >>> UserTopRecommender().fit(train).recommend([Post("q", user="u")], k=2)
    [['cat', 'sea']]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence

import numpy as np

from hashtag_kit.data.posts import Post

__all__ = [
    "PopularityRecommender",
    "UserTopRecommender",
    "NearestNeighbourRecommender",
    "metrics_entry",
]


def _count_tags(posts: Iterable[Post], vocab: Collection[str] | None) -> Counter:
    counts: Counter = Counter()
    for p in posts:
        counts.update(t for t in dict.fromkeys(p.hashtags) if vocab is None or t in vocab)
    return counts


def _ordered(counts: Counter) -> list[str]:
    """Tags by count, most first; ties broken by tag name so the order is deterministic."""
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _take(candidates: Iterable[str], k: int, skip: Collection[str], out: list[str]) -> list[str]:
    """Append candidates to `out` (no repeats, nothing in `skip`) until it holds `k` tags."""
    for t in candidates:
        if len(out) >= k:
            break
        if t not in skip and t not in out:
            out.append(t)
    return out


def _check_k(k: int) -> None:
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def _exclusions(posts: Sequence[Post], exclude) -> list[set]:
    if exclude is None:
        return [set() for _ in posts]
    if len(exclude) != len(posts):
        raise ValueError(f"exclude has {len(exclude)} entries for {len(posts)} posts")
    return [set(e or ()) for e in exclude]


class PopularityRecommender:
    """Recommends the globally most frequent training tags to every post.

    Reference:
        Park et al., "HARRISON: A Benchmark on HASHtag Recommendation for Real-world Images in
        Social Networks", 2016 (popularity baseline).
    """

    name = "popularity"

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.ranking: list[str] = []

    def fit(self, train_posts: Iterable[Post], vocab: Collection[str] | None = None):
        vocab = set(vocab) if vocab is not None else None
        self.counts = _count_tags(train_posts, vocab)
        if not self.counts:
            raise ValueError("no training post carries a (vocabulary) hashtag; cannot fit")
        self.ranking = _ordered(self.counts)
        return self

    def _check_fitted(self) -> None:
        if not self.ranking:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(train_posts) first")

    def recommend(
        self, posts: Sequence[Post], k: int, exclude: Sequence[Collection[str]] | None = None
    ) -> list[list[str]]:
        self._check_fitted()
        _check_k(k)
        return [_take(self.ranking, k, skip, []) for skip in _exclusions(posts, exclude)]


class UserTopRecommender(PopularityRecommender):
    """Recommends the author's own most used training tags, filled up by global popularity.

    Posts of users never seen in training (or without a user) get the popularity list; the
    number of such posts in the last `recommend` call is kept in `n_unknown_users`.

    Args:
        fill_with_popularity: complete lists shorter than `k` with popular tags (default True).

    Reference:
        Denton et al., "User Conditional Hashtag Prediction for Images", KDD 2015 (user
        history baseline); Bansal et al., DESIGN, 2022.
    """

    name = "user top tags"

    def __init__(self, fill_with_popularity: bool = True) -> None:
        super().__init__()
        self.fill_with_popularity = fill_with_popularity
        self.user_ranking: dict[str, list[str]] = {}
        self.n_unknown_users = 0

    def fit(self, train_posts: Iterable[Post], vocab: Collection[str] | None = None):
        train_posts = list(train_posts)
        super().fit(train_posts, vocab)
        vocab = set(vocab) if vocab is not None else None
        per_user: dict[str, Counter] = {}
        for p in train_posts:
            if p.user is not None:
                per_user.setdefault(p.user, Counter()).update(_count_tags([p], vocab))
        # ties within a user's counts are broken by global popularity, then by name
        rank = {t: i for i, t in enumerate(self.ranking)}
        self.user_ranking = {
            u: sorted(c, key=lambda t: (-c[t], rank.get(t, len(rank)), t))
            for u, c in per_user.items()
            if c
        }
        return self

    def recommend(
        self, posts: Sequence[Post], k: int, exclude: Sequence[Collection[str]] | None = None
    ) -> list[list[str]]:
        self._check_fitted()
        _check_k(k)
        out, unknown = [], 0
        for p, skip in zip(posts, _exclusions(posts, exclude), strict=True):
            own = self.user_ranking.get(p.user) if p.user is not None else None
            if own is None:
                unknown += 1
                out.append(_take(self.ranking, k, skip, []))
                continue
            tags = _take(own, k, skip, [])
            if self.fill_with_popularity:
                _take(self.ranking, k, skip, tags)
            out.append(tags)
        self.n_unknown_users = unknown
        return out


class NearestNeighbourRecommender(PopularityRecommender):
    """Neighbour voting: the most similar training posts in feature space vote on tags.

    A tag's score is the sum of the (positive) cosine similarities of the `n_neighbours`
    nearest training posts carrying it (`weighting="similarity"`), or the number of those
    neighbours carrying it (`weighting="uniform"`). Ties and lists shorter than `k` are
    completed by global popularity. Posts whose features are missing (FeatureSet `mask`
    False, or not in the FeatureSet) get the popularity list; their number in the last
    `recommend` call is kept in `n_without_features`.

    Args:
        features: a FeatureSet (`hashtag_kit.features.cache`) covering the training and the
            query posts (looked up by post id), or a list of FeatureSets (e.g. image and text)
            whose L2-normalised pooled vectors are concatenated; a post then needs at least one.
        n_neighbours: how many neighbours vote (default 10).
        weighting: "similarity" (default) or "uniform".
        exclude_self: a query post that is also a training post never votes for itself.

    Reference:
        Park et al., HARRISON, 2016 (visual features + nearest neighbour); Yang et al., AMNN,
        2020 (neighbour voting baseline).
    """

    name = "nearest neighbours"

    def __init__(
        self,
        features,
        n_neighbours: int = 10,
        weighting: str = "similarity",
        exclude_self: bool = True,
    ) -> None:
        super().__init__()
        if weighting not in ("similarity", "uniform"):
            raise ValueError(f"weighting must be 'similarity' or 'uniform', got {weighting!r}")
        if int(n_neighbours) != n_neighbours or n_neighbours < 1:
            raise ValueError(f"n_neighbours must be a positive integer, got {n_neighbours!r}")
        self.features = list(features) if isinstance(features, (list, tuple)) else [features]
        self.n_neighbours = int(n_neighbours)
        self.weighting = weighting
        self.exclude_self = exclude_self
        self._index = [{str(i): r for r, i in enumerate(fs.ids)} for fs in self.features]
        self.n_without_features = 0

    def _vectors(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated L2-normalised pooled vectors (n, D) and a present-mask (n,)."""
        blocks, present = [], np.zeros(len(ids), dtype=bool)
        for fs, index in zip(self.features, self._index, strict=True):
            pooled = np.asarray(fs.pooled)
            mask = (
                np.asarray(fs.mask, dtype=bool)
                if getattr(fs, "mask", None) is not None
                else np.ones(len(pooled), bool)
            )
            block = np.zeros((len(ids), pooled.shape[1]), dtype=np.float32)
            for j, i in enumerate(ids):
                r = index.get(str(i))
                if r is None or not mask[r]:
                    continue
                v = pooled[r].astype(np.float32)
                n = float(np.linalg.norm(v))
                if n > 0 and np.isfinite(n):
                    block[j] = v / n
                    present[j] = True
            blocks.append(block)
        return np.concatenate(blocks, axis=1), present

    def fit(self, train_posts: Iterable[Post], vocab: Collection[str] | None = None):
        train_posts = list(train_posts)
        super().fit(train_posts, vocab)
        vocab = set(vocab) if vocab is not None else None
        vecs, present = self._vectors([p.id for p in train_posts])
        keep = [
            j
            for j, p in enumerate(train_posts)
            if present[j] and any(vocab is None or t in vocab for t in p.hashtags)
        ]
        if not keep:
            raise ValueError(
                "no training post has features and hashtags: extract features for the "
                "training posts first (hashtag_kit.features.cache.extract_features)"
            )
        self._train_vecs = vecs[keep]
        self._train_ids = [train_posts[j].id for j in keep]
        self._tag_index = {t: i for i, t in enumerate(self.ranking)}
        rows, cols = [], []
        for r, j in enumerate(keep):
            for t in dict.fromkeys(train_posts[j].hashtags):
                if t in self._tag_index:
                    rows.append(r)
                    cols.append(self._tag_index[t])
        self._labels = np.zeros((len(keep), len(self.ranking)), dtype=np.float32)
        self._labels[rows, cols] = 1.0
        return self

    def scores(self, posts: Sequence[Post], batch_size: int = 512) -> np.ndarray:
        """Vote scores (n_posts, n_tags) over `self.ranking`; rows of featureless posts are 0."""
        self._check_fitted()
        vecs, present = self._vectors([p.id for p in posts])
        out = np.zeros((len(posts), len(self.ranking)), dtype=np.float32)
        n_nb = min(self.n_neighbours, len(self._train_ids))
        train_pos = {i: r for r, i in enumerate(self._train_ids)}
        for start in range(0, len(posts), batch_size):
            sl = slice(start, start + batch_size)
            sims = vecs[sl] @ self._train_vecs.T  # (b, n_train)
            if self.exclude_self:
                for j, p in enumerate(posts[sl]):
                    r = train_pos.get(p.id)
                    if r is not None:
                        sims[j, r] = -np.inf
            nb = np.argsort(-sims, axis=1, kind="stable")[:, :n_nb]  # (b, n_nb)
            w = np.take_along_axis(sims, nb, axis=1)  # (b, n_nb)
            if self.weighting == "uniform":
                w = np.isfinite(w).astype(np.float32)
            else:
                w = np.where(np.isfinite(w), np.maximum(w, 0.0), 0.0)
            out[sl] = np.einsum("bn,bnt->bt", w, self._labels[nb])
        out[~present] = 0.0
        self._present = present
        return out

    def recommend(
        self, posts: Sequence[Post], k: int, exclude: Sequence[Collection[str]] | None = None
    ) -> list[list[str]]:
        _check_k(k)
        posts = list(posts)
        scores = self.scores(posts)
        # tie-break by popularity: the ranking is already most-popular-first and the sort is stable
        order = np.argsort(-scores, axis=1, kind="stable")
        out = []
        for j, skip in enumerate(_exclusions(posts, exclude)):
            tags: list[str] = []
            if self._present[j]:
                voted = [self.ranking[c] for c in order[j] if scores[j, c] > 0]
                _take(voted, k, skip, tags)
            _take(self.ranking, k, skip, tags)
            out.append(tags)
        self.n_without_features = int((~self._present).sum())
        return out


def metrics_entry(
    family: str,
    description: str,
    paper: str,
    ranking: dict,
    *,
    trainable_params: int | None = None,
    ms_per_step: float | None = None,
    history: dict | None = None,
    variant: dict | None = None,
) -> dict:
    """One model's entry of a stage's `metrics.json` "models" (the schema notebook 05 reads)."""
    return {
        "family": family,
        "description": description,
        "paper": paper,
        "ranking": ranking,
        "trainable_params": trainable_params,
        "ms_per_step": ms_per_step,
        "history": history,
        "variant": variant or {},
    }
