from collections import Counter

import pytest

from hashtag_kit.posts import Post
from hashtag_kit.splits import make_splits, random_split, user_disjoint_split


def _posts(n=200, n_users=23):
    # Zipf-like activity: user k has about n / (k + 1) posts
    users = [f"u{k}" for k in range(n_users) for _ in range(max(1, n // (3 * (k + 1))))][:n]
    users += [None] * (n - len(users))
    return [Post(id=f"p{i}", hashtags=["t"], user=u) for i, u in enumerate(users)]


def test_random_split_partitions_ids_with_requested_sizes():
    posts = _posts()
    s = random_split(posts, seed=3, val=0.1, test=0.2)
    ids = s["train"] + s["val"] + s["test"]
    assert sorted(ids) == sorted(p.id for p in posts)
    assert (len(s["val"]), len(s["test"])) == (20, 40)


def test_splits_are_deterministic_and_seed_dependent():
    posts = _posts()
    assert make_splits(posts, seed=1) == make_splits(posts, seed=1)
    assert random_split(posts, seed=1)["test"] != random_split(posts, seed=2)["test"]


def test_user_disjoint_split_shares_no_user_and_keeps_every_post():
    posts = _posts()
    s = user_disjoint_split(posts, seed=0)
    user_of = {p.id: p.user for p in posts}
    parts = {k: {user_of[i] for i in v if user_of[i]} for k, v in s.items()}
    assert not parts["train"] & parts["test"]
    assert not parts["train"] & parts["val"]
    assert not parts["val"] & parts["test"]
    assert Counter(s["train"] + s["val"] + s["test"]) == Counter(p.id for p in posts)
    # each held-out part reaches its share of posts (whole users, so it may overshoot a little)
    assert len(s["test"]) >= 20 and len(s["val"]) >= 20
    assert len(s["train"]) >= 100


@pytest.mark.parametrize("val,test", [(0.5, 0.5), (-0.1, 0.1), (0.1, 1.0)])
def test_bad_fractions_are_rejected(val, test):
    with pytest.raises(ValueError, match="fractions"):
        random_split(_posts(), val=val, test=test)
