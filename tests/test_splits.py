from collections import Counter

import pytest

from hashtag_kit.data.posts import Post
from hashtag_kit.data.splits import make_splits, official_split, random_split, user_disjoint_split


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


def test_official_split_follows_the_release_and_fills_a_missing_val_part():
    posts = [
        Post(id=f"p{i}", meta={"split": ("train", "dev", "test", None, "other")[i % 5]})
        for i in range(50)
    ]
    s = official_split(posts, seed=0)
    assert s["train"] == [f"p{i}" for i in range(0, 50, 5)]
    assert s["val"] == [f"p{i}" for i in range(1, 50, 5)]  # "dev" is val
    assert s["test"] == [f"p{i}" for i in range(2, 50, 5)]  # no split / unknown: in no part
    assert "official" in make_splits(posts) and make_splits(posts)["official"] == s
    halves = [Post(id=f"q{i}", meta={"split": "test" if i < 20 else "train"}) for i in range(100)]
    h = official_split(halves, seed=0, val=0.25)  # NUS-WIDE style: train and test halves only
    assert len(h["val"]) == 20 and len(h["train"]) == 60 and len(h["test"]) == 20
    assert not set(h["val"]) & set(h["train"]) and set(h["val"]) <= {
        f"q{i}" for i in range(20, 100)
    }
    assert h == official_split(halves, seed=0, val=0.25) != official_split(halves, seed=1, val=0.25)


def test_no_official_split_without_a_train_and_a_test_part():
    assert official_split(_posts()) is None  # no split recorded (e.g. the embedded data)
    only_train = [Post(id=str(i), meta={"split": "train"}) for i in range(10)]
    assert official_split(only_train) is None
    assert set(make_splits(_posts())) == {"random", "user_disjoint"}


def test_a_damaged_splits_file_is_one_error_naming_it(tmp_path):
    """From an audit: `{"official": "x"}` crashed the web demo's start with an AttributeError."""
    from hashtag_kit.data.posts import write_posts
    from hashtag_kit.run import PREPROCESS, RunDir, write_json

    rd = RunDir(tmp_path)
    write_posts(rd.stage(PREPROCESS) / "posts.jsonl", [Post(id="a", hashtags=["x"])])
    for bad, says in (
        ({"official": "x"}, "split 'official' is not {part: [post ids]}"),
        ({"official": {"test": [1]}}, "split 'official' is not {part: [post ids]}"),
        ({"official": {"test": ["a", "zz"]}}, "names 1 post(s) not in posts.jsonl (e.g. 'zz')"),
        ([1], "splits.json: a list, not a JSON object"),
    ):
        write_json(rd.stage(PREPROCESS) / "splits.json", bad)
        with pytest.raises(ValueError) as e:
            rd.split_posts("official")
        assert says in str(e.value) and "splits.json" in str(e.value)
    write_json(rd.stage(PREPROCESS) / "splits.json", {"official": {"test": ["a"]}})
    assert [p.id for p in rd.split_posts("official")["test"]] == ["a"]
