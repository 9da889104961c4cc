import pytest

from hashtag_kit.baselines.cooccurrence import (
    CooccurrenceCompleter,
    evaluate_completion,
    harrison_completion,
    split_given_hidden,
)
from hashtag_kit.report import RunReport

TRAIN = [
    ["sea", "sun", "beach"],
    ["sea", "sun"],
    ["sea", "sand"],
    ["cat", "cute"],
    ["cat", "cute", "pet"],
    ["dog", "pet"],
]


def test_scores_are_summed_conditional_probabilities():
    c = CooccurrenceCompleter().fit(TRAIN)
    s = c.scores(["sea"])
    # C(sea) = 3; C(sea, sun) = 2, C(sea, beach) = 1, C(sea, sand) = 1
    assert s == pytest.approx({"sun": 2 / 3, "beach": 1 / 3, "sand": 1 / 3})
    s2 = c.scores(["cute", "pet", "unseen"])
    # P(cat|cute) = 1, P(cat|pet) = 1/2, P(pet|cute) = 1/2 -> pet is given, dropped; dog: 1/2
    assert s2 == pytest.approx({"cat": 1.5, "dog": 0.5})


def test_complete_orders_excludes_given_and_fills_with_popularity():
    c = CooccurrenceCompleter().fit(TRAIN)
    # beach and sand tie at 1/3 -> broken by popularity (both 1) then name
    assert c.complete([["sea"]], 3) == [["sun", "beach", "sand"]]
    out = c.complete([["dog"], ["never_seen"]], 3)
    assert out[0][0] == "pet" and "dog" not in out[0] and len(out[0]) == 3
    assert out[1] == c.popular[:3]  # nothing known: popularity
    assert c.complete([["dog"]], 3, fill_with_popularity=False) == [["pet"]]
    with pytest.raises(RuntimeError, match="not fitted"):
        CooccurrenceCompleter().complete([["a"]], 2)
    with pytest.raises(ValueError, match="no training tag list"):
        CooccurrenceCompleter().fit([[], []])


def test_min_count_filters_rare_pairs():
    c = CooccurrenceCompleter(min_count=2).fit(TRAIN)
    assert c.scores(["sea"]) == pytest.approx({"sun": 2 / 3})


def test_split_given_hidden():
    assert split_given_hidden(["a", "b", "c", "d", "e"]) == (["a", "b"], ["c", "d", "e"])
    assert split_given_hidden(["a", "a", "b"]) == (["a"], ["b"])
    assert split_given_hidden(["a"]) == (["a"], [])


def test_evaluate_completion_beats_popularity_and_counts_skips():
    report = RunReport()
    test = [["sea", "sun"], ["cat", "cute"], ["dog", "pet"], ["lonely"], []]
    out = evaluate_completion(TRAIN, test, ks=(1, 2), report=report, test_names=list("abcde"))
    assert out["n_test"] == 3 and out["n_skipped"] == 2
    assert report.counts["completion_too_few_tags"] == 2
    assert report.examples["completion_too_few_tags"][0].startswith("d:")
    # sea->sun, cat->cute, dog->pet are each the top co-occurring tag
    assert out["cooccurrence"]["hit_rate"]["1"] == 1.0
    assert out["popularity"]["hit_rate"]["1"] < 1.0
    with pytest.raises(ValueError, match="two or more tags"):
        evaluate_completion(TRAIN, [["x"]])


@pytest.mark.realdata
def test_harrison_completion_on_real_lists(real_data):
    report = RunReport()
    out = harrison_completion(real_data / "harrison", report, limit=5000, seed=0, ks=(1, 5, 10))
    assert out["n_posts"] == 5000
    assert out["n_test"] + out["n_skipped"] == 500
    assert report.counts["completion_too_few_tags"] == out["n_skipped"]
    co, pop = out["cooccurrence"], out["popularity"]
    assert 0 < co["hit_rate"]["5"] <= 1 and 0 < co["recall"]["10"] <= 1
    # co-occurrence knows which tags go together: better than popularity on the hidden tags
    assert co["hit_rate"]["5"] > pop["hit_rate"]["5"]
