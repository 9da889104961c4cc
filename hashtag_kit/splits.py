"""Frozen train/val/test splits: random, and user-disjoint (cold-start users).

Splits are computed once by the preprocess stage from a seed and written to
`outputs/<run>/01_preprocess/splits.json`; every later stage reads that file, so all models are
compared on exactly the same posts.

- `random_split`: posts shuffled with the seed, cut by fraction.
- `user_disjoint_split`: whole users go to one part, so the test users were never seen in
  training (the DESIGN follow-up's personalisation needs both views: seen users benefit from
  history; cold-start users must fall back cleanly). Posts without a user count as their own
  one-post "user".

Example:
    >>> from hashtag_kit.posts import Post
    >>> posts = [Post(id=str(i), hashtags=["a"], user=f"u{i % 5}") for i in range(100)]
    >>> s = random_split(posts, seed=0)
    >>> [len(s[p]) for p in ("train", "val", "test")]
    [80, 10, 10]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hashtag_kit.posts import Post

PARTS = ("train", "val", "test")


def _check_fractions(val: float, test: float) -> None:
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ValueError(f"val={val} and test={test} must be fractions summing to less than 1")


def random_split(
    posts: Sequence[Post], seed: int = 0, val: float = 0.1, test: float = 0.1
) -> dict[str, list[str]]:
    """Split post ids at random; part sizes are round(N·fraction) for val and test."""
    _check_fractions(val, test)
    ids = [p.id for p in posts]
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test, n_val = round(len(ids) * test), round(len(ids) * val)
    test_idx, val_idx, train_idx = (
        order[:n_test],
        order[n_test : n_test + n_val],
        order[n_test + n_val :],
    )
    # keep manifest order inside each part so files are easy to diff
    return {
        name: [ids[i] for i in sorted(idx)]
        for name, idx in zip(PARTS, (train_idx, val_idx, test_idx), strict=True)
    }


def user_disjoint_split(
    posts: Sequence[Post], seed: int = 0, val: float = 0.1, test: float = 0.1
) -> dict[str, list[str]]:
    """Split so that no user has posts in two parts; parts hold about the given post fractions.

    Users are shuffled with the seed and assigned to test, then val, until each holds its share
    of posts; the rest go to train.
    """
    _check_fractions(val, test)
    by_user: dict[str, list[int]] = {}
    for i, p in enumerate(posts):
        by_user.setdefault(p.user if p.user else f"\0post:{p.id}", []).append(i)
    users = sorted(by_user)
    order = np.random.default_rng(seed).permutation(len(users))
    targets = {"test": test * len(posts), "val": val * len(posts)}
    assigned: dict[str, list[int]] = {part: [] for part in PARTS}
    part_iter = iter(("test", "val"))
    current = next(part_iter)
    for j in order:
        idx = by_user[users[j]]
        while current != "train" and len(assigned[current]) >= targets[current]:
            current = next(part_iter, "train")
        assigned[current].extend(idx)
    return {part: [posts[i].id for i in sorted(assigned[part])] for part in PARTS}


def make_splits(
    posts: Sequence[Post], seed: int = 0, val: float = 0.1, test: float = 0.1
) -> dict[str, dict[str, list[str]]]:
    """Both frozen splits, as written to splits.json."""
    return {
        "random": random_split(posts, seed, val, test),
        "user_disjoint": user_disjoint_split(posts, seed, val, test),
    }
