"""Frozen train/val/test splits: random, and user-disjoint (cold-start users).

Splits are computed once by the preprocess stage from a seed and written to
`outputs/<run>/01_preprocess/splits.json`; every later stage reads that file, so all models are
compared on exactly the same posts.

- `random_split`: posts shuffled with the seed, cut by fraction.
- `official_split`: the release's own split (Flickr8k, Stanford paragraphs, NUS-WIDE, TweetEval).
- `user_disjoint_split`: whole users go to one part, so the test users were never seen in
  training (the DESIGN follow-up's personalisation needs both views: seen users benefit from
  history; cold-start users must fall back cleanly).

Example:
    >>> from hashtag_kit.data.posts import Post
    >>> posts = [Post(id=str(i), hashtags=["a"], user=f"u{i % 5}") for i in range(100)]
    >>> s = random_split(posts, seed=0)
    >>> [len(s[p]) for p in ("train", "val", "test")]
    [80, 10, 10]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hashtag_kit.data.posts import Post

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
    parts = {
        "train": order[n_test + n_val :],
        "val": order[n_test : n_test + n_val],
        "test": order[:n_test],
    }
    # keep manifest order inside each part so files are easy to diff
    return {name: [ids[i] for i in sorted(idx)] for name, idx in parts.items()}


def user_disjoint_split(
    posts: Sequence[Post], seed: int = 0, val: float = 0.1, test: float = 0.1
) -> dict[str, list[str]]:
    """Split so that no user has posts in two parts; parts hold about the given post fractions.

    Users are shuffled with the seed and assigned to test, then val, until each holds its share
    of posts; the rest go to train. Posts without a user count as their own one-post "user".
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


def official_split(
    posts: Sequence[Post], seed: int = 0, val: float = 0.1
) -> dict[str, list[str]] | None:
    """The dataset's own split, from each post's `meta["split"]` (set by the loaders from the
    release's split files; "dev" counts as "val"), or None when it has none, or when its train
    or test part would be empty. Posts with no split (e.g. the 92 Flickr8k images in no list)
    are in no part. A release without a val part (NUS-WIDE) gets one: a seeded `val` fraction
    of its train posts.

    When the test part's images are withheld (`withheld_test_images`, as in the kit's shared
    Flickr8k copy) the test part is the val part (Flickr8k's dev list): the run reports dev
    figures, and `python -m hashtag_kit evaluate flickr8k --split test` scores the finished
    run on the test photos wherever they are present.

    Example:
        >>> posts = [Post(id=str(i), meta={"split": "test" if i < 2 else "train"})
        ...          for i in range(10)]
        >>> {k: len(v) for k, v in official_split(posts, val=0.25).items()}
        {'train': 6, 'val': 2, 'test': 2}
    """
    parts: dict[str, list[str]] = {part: [] for part in PARTS}
    for p in posts:
        split = (p.meta or {}).get("split")
        split = "val" if split == "dev" else split
        if split in parts:
            parts[split].append(p.id)
    if not parts["train"] or not parts["test"]:
        return None
    if withheld_test_images(posts, parts):
        parts["test"] = list(parts["val"])
    if not parts["val"]:
        _check_fractions(val, 0.0)
        train = parts["train"]
        order = np.random.default_rng(seed).permutation(len(train))
        take = set(order[: round(len(train) * val)].tolist())
        parts["val"] = [x for i, x in enumerate(train) if i in take]
        parts["train"] = [x for i, x in enumerate(train) if i not in take]
    return parts


def withheld_test_images(posts: Sequence[Post], parts: dict[str, list[str]]) -> bool:
    """True when a split's training posts have images but none of its test posts has one
    (the release's test images are withheld), so image models cannot be scored on them."""
    by_id = {p.id: p for p in posts}
    train_images = any(by_id[i].has_image for i in parts["train"])
    return (
        train_images and bool(parts["test"]) and not any(by_id[i].has_image for i in parts["test"])
    )


def official_test_part(splits: dict) -> str | None:
    """Which part of the release the official split's "test" posts are: "test", or "val" when
    the test images are withheld; None without an official split (recorded in run.json and
    every stage's metrics.json)."""
    official = splits.get("official")
    if official is None:
        return None
    return "val" if official["test"] == official["val"] else "test"


def scored_part(split: str | None, test_part: str | None) -> str:
    """The part of a frozen split that a stage's figures come from, as a reader should call it:
    "dev" when `split` is "official" and `test_part` (`official_test_part`) is "val", else
    "test".

    Example:
        >>> (scored_part("official", "val"), scored_part("official", "test"),
        ...  scored_part("random", None))
        ('dev', 'test', 'test')
    """
    return "dev" if split == "official" and test_part == "val" else "test"


def describe_scored_part(split: str | None, test_part: str | None) -> str:
    """`scored_part` in words, for tables and titles.

    Example:
        >>> describe_scored_part("official", "val")
        'official split, dev list (the test images are withheld)'
        >>> describe_scored_part("random", None)
        'random split, test part'
    """
    if scored_part(split, test_part) == "dev":
        return "official split, dev list (the test images are withheld)"
    return f"{split or 'unrecorded'} split, test part"


def make_splits(
    posts: Sequence[Post], seed: int = 0, val: float = 0.1, test: float = 0.1
) -> dict[str, dict[str, list[str]]]:
    """The frozen splits, as written to splits.json: "random", "user_disjoint", and
    "official" when the dataset's release has its own split (`official_split`)."""
    splits = {
        "random": random_split(posts, seed, val, test),
        "user_disjoint": user_disjoint_split(posts, seed, val, test),
    }
    official = official_split(posts, seed, val)
    if official is not None:
        splits["official"] = official
    return splits
