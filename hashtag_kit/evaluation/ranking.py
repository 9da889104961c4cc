"""Ranking metrics for hashtag recommendation: Hit rate, Precision, Recall, F1 at K, MRR.

Definitions (each function's docstring names its source):

- per-post averaged (DESIGN, Bansal et al. 2022; the DESIGN follow-up, Yakovlev & Shapoval
  2024; MaCon, Zhang et al. 2019): for each post with ground-truth set T and top-K list R_K,
  hit = [|R_K ∩ T| > 0], P = |R_K ∩ T| / K, R = |R_K ∩ T| / |T|, each averaged over posts;
  F1@K = 2·P·R / (P + R) of the averaged P and R. (This reproduces the DESIGN follow-up's
  Table 1: P=0.277, R=0.258 gives F1=0.267.)
- micro-averaged: hits summed over all posts before dividing (Σ|R_K ∩ T| / (K·N) and
  Σ|R_K ∩ T| / Σ|T|).
- "accuracy" as AMNN's released code (Yang et al. 2020) computes it, which the original project
  (Sahliya et al. 2024) reports: the hit rate.

Posts with an empty ground-truth set have no defined recall; they are left out of every
average and counted in the `n_posts_without_tags` field of `ranking_metrics`.

Example:
    >>> ranked = [["a", "b", "c"], ["x", "y", "z"]]
    >>> truth = [{"b"}, {"q"}]
    >>> hit_rate_at_k(ranked, truth, 2), precision_at_k(ranked, truth, 2)
    (0.5, 0.25)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import numpy as np

DEFAULT_KS = tuple(range(1, 11))


def _pairs(ranked: Sequence[Sequence], truth: Sequence[Collection]):
    if len(ranked) != len(truth):
        raise ValueError(f"{len(ranked)} ranked lists but {len(truth)} ground-truth sets")
    for r, t in zip(ranked, truth, strict=True):
        t = set(t)
        if t:
            yield list(r), t


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"K must be a positive integer, got {k!r}")


def _per_post(ranked, truth, k):
    _check_k(k)
    hits, sizes = [], []
    for r, t in _pairs(ranked, truth):
        hits.append(len(set(r[:k]) & t))
        sizes.append(len(t))
    if not hits:
        raise ValueError("no post has ground-truth hashtags; nothing to evaluate")
    return np.asarray(hits, dtype=float), np.asarray(sizes, dtype=float)


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _at_k(hits: np.ndarray, sizes: np.ndarray, k: int) -> dict[str, float]:
    """Every metric at K from the posts' hit counts |top-K ∩ T| and truth sizes |T| (the
    formulas written once; the functions below and `ranking_metrics` read them from here)."""
    p, r = float(np.mean(hits / k)), float(np.mean(hits / sizes))
    return {
        "hit_rate": float(np.mean(hits > 0)),
        "precision": p,
        "recall": r,
        "f1": _f1(p, r),
        "micro_precision": float(hits.sum() / (k * len(hits))),
        "micro_recall": float(hits.sum() / sizes.sum()),
    }


def hit_rate_at_k(ranked: Sequence[Sequence], truth: Sequence[Collection], k: int) -> float:
    """Share of posts with at least one true tag in the top K (DESIGN's HR@K; AMNN "accuracy")."""
    return _at_k(*_per_post(ranked, truth, k), k)["hit_rate"]


def precision_at_k(ranked: Sequence[Sequence], truth: Sequence[Collection], k: int) -> float:
    """Per-post averaged |top-K ∩ T| / K (DESIGN; MaCon).
    A list shorter than K still divides by K."""
    return _at_k(*_per_post(ranked, truth, k), k)["precision"]


def recall_at_k(ranked: Sequence[Sequence], truth: Sequence[Collection], k: int) -> float:
    """Per-post averaged |top-K ∩ T| / |T| (DESIGN; MaCon)."""
    return _at_k(*_per_post(ranked, truth, k), k)["recall"]


def f1_at_k(ranked: Sequence[Sequence], truth: Sequence[Collection], k: int) -> float:
    """Harmonic mean of the per-post averaged P@K and R@K (the DESIGN follow-up's Table 1)."""
    return _at_k(*_per_post(ranked, truth, k), k)["f1"]


def micro_precision_at_k(ranked, truth, k: int) -> float:
    """Σ|top-K ∩ T| / (K·N) over posts with tags: the micro average of Manning, Raghavan &
    Schütze 2008 (Introduction to IR, §13.6), pooled over posts before dividing; equals
    scikit-learn's `precision_score(average="micro")` on the binarised top-K lists when every
    list holds K tags (tested)."""
    return _at_k(*_per_post(ranked, truth, k), k)["micro_precision"]


def micro_recall_at_k(ranked, truth, k: int) -> float:
    """Σ|top-K ∩ T| / Σ|T| over posts with tags: the micro average (Manning, Raghavan & Schütze
    2008, §13.6); scikit-learn's `recall_score(average="micro")` on binarised sets (tested)."""
    return _at_k(*_per_post(ranked, truth, k), k)["micro_recall"]


def mrr(ranked: Sequence[Sequence], truth: Sequence[Collection], k: int | None = None) -> float:
    """Mean reciprocal rank of the first true tag (0 when none in the top K / whole list), as
    defined for the TREC-8 question-answering track (Voorhees 1999)."""
    if k is not None:
        _check_k(k)
    rr = [
        next((1.0 / (i + 1) for i, tag in enumerate(r[:k]) if tag in t), 0.0)
        for r, t in _pairs(ranked, truth)
    ]
    if not rr:
        raise ValueError("no post has ground-truth hashtags; nothing to evaluate")
    return float(np.mean(rr))


def accuracy_amnn(ranked, truth, k: int) -> float:
    """ "Accuracy" as AMNN's code (Yang et al. 2020) and the original project report it: Hit@K."""
    return hit_rate_at_k(ranked, truth, k)


def ranking_metrics(
    ranked: Sequence[Sequence], truth: Sequence[Collection], ks: Iterable[int] = DEFAULT_KS
) -> dict:
    """All ranking metrics at every K, as plain JSON-ready dicts keyed by K (as strings).

    Returns:
        {"hit_rate": {"1": ..., ...}, "precision": {...}, "recall": {...}, "f1": {...},
         "micro_precision": {...}, "micro_recall": {...}, "mrr": float,
         "n_posts": int, "n_posts_without_tags": int}
    """
    names = ("hit_rate", "precision", "recall", "f1", "micro_precision", "micro_recall")
    out: dict = {name: {} for name in names}
    for k in ks:
        for name, value in _at_k(*_per_post(ranked, truth, k), k).items():
            out[name][str(k)] = value
    out["mrr"] = mrr(ranked, truth)
    n_with = sum(1 for t in truth if len(set(t)) > 0)
    out["n_posts"] = n_with
    out["n_posts_without_tags"] = len(truth) - n_with
    return out


def top_k_from_scores(
    scores: np.ndarray,
    vocab: Sequence[str],
    k: int,
    exclude: Sequence[Collection[str]] | None = None,
) -> list[list[str]]:
    """Turn a (posts, vocab) score matrix into ranked tag lists, skipping excluded tags.

    Args:
        scores: array of shape (n_posts, len(vocab)); higher is better.
        vocab: tag names, one per column.
        k: list length.
        exclude: per-post tags never to return (e.g. the tags a user already typed).
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[1] != len(vocab):
        raise ValueError(f"scores must be (n_posts, {len(vocab)}), got {scores.shape}")
    order = np.argsort(-scores, axis=1, kind="stable")
    out = []
    for i, row in enumerate(order):
        skip = set(exclude[i]) if exclude is not None else set()
        tags = []
        for j in row:
            tag = vocab[j]
            if tag not in skip:
                tags.append(tag)
                if len(tags) == k:
                    break
        out.append(tags)
    return out
