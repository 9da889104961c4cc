from types import SimpleNamespace

import numpy as np
import pytest

from hashtag_kit.baselines.ranking import (
    NearestNeighbourRecommender,
    PopularityRecommender,
    UserTopRecommender,
)
from hashtag_kit.data.posts import Post
from hashtag_kit.evaluation.ranking import hit_rate_at_k


def _fs(ids, pooled, mask=None):
    """A stand-in with the FeatureSet fields the recommender reads."""
    pooled = np.asarray(pooled, dtype=np.float32)
    mask = np.ones(len(ids), bool) if mask is None else np.asarray(mask, bool)
    return SimpleNamespace(ids=list(ids), pooled=pooled, mask=mask, grid=None)


TRAIN = [
    Post("a", ["sea", "sun", "sand"], user="u1"),
    Post("b", ["sea", "sun"], user="u1"),
    Post("c", ["sea", "cat"], user="u2"),
    Post("d", ["cat", "dog"], user="u2"),
    Post("e", ["cat"], user="u2"),
    Post("f", ["rare"], user=None),
]


def test_popularity_counts_and_order():
    rec = PopularityRecommender().fit(TRAIN)
    # sea 3, cat 3 (tie -> by name: cat first), sun 2, then dog/rare/sand 1 by name
    assert rec.ranking == ["cat", "sea", "sun", "dog", "rare", "sand"]
    out = rec.recommend([Post("q1"), Post("q2")], k=3, exclude=[None, {"cat"}])
    assert out == [["cat", "sea", "sun"], ["sea", "sun", "dog"]]


def test_popularity_counts_a_repeated_tag_once_and_respects_vocab():
    rec = PopularityRecommender().fit(
        [Post("x", ["a", "a", "a"]), Post("y", ["b"]), Post("z", ["b", "c"])], vocab={"a", "c"}
    )
    assert rec.ranking == ["a", "c"]
    assert rec.recommend([Post("q")], k=5) == [["a", "c"]]


def test_popularity_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        PopularityRecommender().recommend([Post("q")], 3)
    with pytest.raises(ValueError, match="no training post"):
        PopularityRecommender().fit([Post("x")])
    rec = PopularityRecommender().fit(TRAIN)
    with pytest.raises(ValueError, match="positive integer"):
        rec.recommend([Post("q")], 0)
    with pytest.raises(ValueError, match="exclude has 1 entries for 2 posts"):
        rec.recommend([Post("q"), Post("r")], 2, exclude=[{"a"}])


def test_user_top_uses_own_tags_then_popularity():
    rec = UserTopRecommender().fit(TRAIN)
    out = rec.recommend(
        [Post("q1", user="u1"), Post("q2", user="u2"), Post("q3", user="nobody")], 4
    )
    # u1: sea 2, sun 2 (tie -> global popularity: sea before sun), sand 1; then popularity fills
    assert out[0] == ["sea", "sun", "sand", "cat"]
    assert out[1] == ["cat", "sea", "dog", "sun"]
    assert out[2] == ["cat", "sea", "sun", "dog"]
    assert rec.n_unknown_users == 1
    no_fill = UserTopRecommender(fill_with_popularity=False).fit(TRAIN)
    assert no_fill.recommend([Post("q", user="u1")], 5) == [["sea", "sun", "sand"]]
    assert rec.recommend([Post("q", user="u1")], 2, exclude=[{"sea"}]) == [["sun", "sand"]]


def test_nearest_neighbours_vote_by_similarity():
    ids = ["a", "b", "c", "d", "e", "f", "q_sea", "q_cat", "q_missing"]
    vec = {
        "a": [1, 0, 0],
        "b": [0.9, 0.1, 0],
        "c": [0.5, 0.5, 0],
        "d": [0, 1, 0],
        "e": [0.1, 0.9, 0],
        "f": [0, 0, 1],
        "q_sea": [1, 0.05, 0],
        "q_cat": [0, 1, 0.05],
        "q_missing": [0, 0, 0],
    }
    fs = _fs(ids, [vec[i] for i in ids], mask=[i != "q_missing" for i in ids])
    rec = NearestNeighbourRecommender(fs, n_neighbours=2).fit(TRAIN)
    queries = [Post("q_sea"), Post("q_cat"), Post("q_missing"), Post("not_in_features")]
    out = rec.recommend(queries, k=3)
    assert out[0][:2] == ["sea", "sun"]  # neighbours a, b
    assert out[1][:2] == ["cat", "dog"]  # neighbours d, e
    popular = PopularityRecommender().fit(TRAIN).recommend([Post("x")], 3)[0]
    assert out[2] == popular and out[3] == popular
    assert rec.n_without_features == 2
    # a training post never votes for itself
    self_out = rec.recommend([TRAIN[5]], k=1)  # "f" alone in its direction; nearest others vote
    assert self_out != [["rare"]]
    uniform = NearestNeighbourRecommender(fs, n_neighbours=2, weighting="uniform").fit(TRAIN)
    assert uniform.recommend([Post("q_sea")], 2) == [["sea", "sun"]]


def test_nearest_neighbours_beats_popularity_on_clustered_data():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    tags = [["alpha", "x"], ["beta", "x"], ["gamma"], ["delta"]]
    posts, rows = [], []
    for i in range(200):
        c = i % 4
        posts.append(Post(f"p{i}", tags[c]))
        rows.append(centres[c] + 0.3 * rng.normal(size=16))
    fs = _fs([p.id for p in posts], rows)
    train, test = posts[:150], posts[150:]
    truth = [set(p.hashtags) for p in test]
    knn = NearestNeighbourRecommender(fs, n_neighbours=5).fit(train).recommend(test, 1)
    pop = PopularityRecommender().fit(train).recommend(test, 1)
    assert hit_rate_at_k(knn, truth, 1) > 0.95
    assert hit_rate_at_k(pop, truth, 1) < 0.6
    # two feature sets (e.g. image + text) combine; one of them alone still works
    fs2 = _fs([p.id for p in posts], rng.normal(size=(200, 8)), mask=[False] * 200)
    both = NearestNeighbourRecommender([fs, fs2], n_neighbours=5).fit(train).recommend(test, 1)
    assert both == knn


def test_nearest_neighbours_errors():
    fs = _fs(["a"], [[0.0, 0.0]], mask=[False])
    with pytest.raises(ValueError, match="no training post has features"):
        NearestNeighbourRecommender(fs).fit(TRAIN)
    with pytest.raises(ValueError, match="weighting"):
        NearestNeighbourRecommender(fs, weighting="max")
    with pytest.raises(ValueError, match="n_neighbours"):
        NearestNeighbourRecommender(fs, n_neighbours=0)


# -- zero-shot ImageNet labels -> hashtags ---------------------------------------------------
def test_label_hashtags_and_variants():
    from hashtag_kit.baselines.zero_shot import label_hashtags

    assert dict(label_hashtags("seashore", synonyms={"seashore": ["beach"]})) == {
        "seashore": 1.0,
        "seashores": 1.0,
        "beach": 1.0,
    }
    got = dict(label_hashtags("Siamese cat", word_weight=0.25))
    assert got["siamesecat"] == 1.0 and got["cat"] == 0.25 and got["cats"] == 0.25
    assert dict(label_hashtags("daisies"))["daisy"] == 1.0


def test_zero_shot_scores_labels_and_counts_missing_images(tmp_path):
    from hashtag_kit.baselines.zero_shot import ZeroShotRecommender
    from hashtag_kit.report import RunReport

    good = tmp_path / "a.png"
    good.write_bytes(b"x")

    def labeller(paths, k):
        if any("bad" in str(p) for p in paths):
            raise OSError(f"cannot identify image file {paths}")
        return [[("tabby cat", 0.6), ("lakeside", 0.3), ("Egyptian cat", 0.1)]] * len(paths)

    rec = ZeroShotRecommender(tags=["cat", "lakeside", "dog"], labeller=labeller)
    report = RunReport()
    posts = [Post("p1", image=str(good)), Post("p2"), Post("p3", image="bad.png")]
    out = rec.recommend(posts, k=3, report=report)
    # cat: 0.6*0.5 + 0.1*0.5 = 0.35; lakeside: 0.3
    assert out == [["cat", "lakeside"], [], []]
    assert report.counts == {"zero_shot_no_image": 1, "zero_shot_unreadable_image": 1}
    assert "bad.png" in report.examples["zero_shot_unreadable_image"][0]
    open_vocab = ZeroShotRecommender(labeller=labeller, synonyms={}).recommend(
        posts[:1], 2, exclude=[{"tabbycat"}]
    )
    assert open_vocab == [["cat", "cats"]]  # 0.35 each; tabbycat (0.6) excluded


def test_zero_shot_with_the_real_encoder(tmp_path):
    import skimage.data
    from PIL import Image

    from hashtag_kit.baselines.zero_shot import ZeroShotRecommender

    path = tmp_path / "chelsea.png"
    Image.fromarray(skimage.data.chelsea()).save(path)
    out = ZeroShotRecommender(tags=["cat", "dog", "beach", "car"]).recommend(
        [Post("c", image=str(path))], 2
    )
    assert out[0][0] == "cat"


def test_zero_shot_default_synonyms_link_scenes_and_breeds():
    from hashtag_kit.baselines.zero_shot import ZeroShotRecommender, default_synonyms

    syn = default_synonyms()
    assert "beach" in syn["seashore"] and syn["Chihuahua"] == ("dog",) and "cat" in syn["tabby"]
    rec = ZeroShotRecommender(tags=["beach", "dog", "mountains", "city"])
    out = rec.recommend_from_labels(
        [[("seashore", 0.7), ("golden retriever", 0.2)], [("alp", 0.9)]], 2
    )
    assert out == [["beach", "dog"], ["mountains"]]
