"""Ranking metrics: hand-computed cases, K edge cases, scikit-learn cross-checks and the DESIGN
follow-up's published F1 reproduced from its P and R."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import label_ranking_average_precision_score, precision_score, recall_score
from sklearn.preprocessing import MultiLabelBinarizer

from hashtag_kit.evaluation import ranking as M

PUBLISHED = Path("/work/shared/reference/published_results.csv")

# Three posts, hand-worked below for K = 1, 2, 3.
RANKED = [["a", "b", "c"], ["x", "y", "z"], ["c", "a", "d"]]
TRUTH = [{"b"}, {"q", "r"}, {"c", "d"}]
# top-1 hits: [0, 0, 1]; top-2 hits: [1, 0, 1]; top-3 hits: [1, 0, 2]


def test_hand_computed_k1():
    assert M.hit_rate_at_k(RANKED, TRUTH, 1) == pytest.approx(1 / 3)
    assert M.precision_at_k(RANKED, TRUTH, 1) == pytest.approx(1 / 3)
    assert M.recall_at_k(RANKED, TRUTH, 1) == pytest.approx((0 + 0 + 1 / 2) / 3)
    p, r = 1 / 3, 1 / 6
    assert M.f1_at_k(RANKED, TRUTH, 1) == pytest.approx(2 * p * r / (p + r))
    assert M.micro_precision_at_k(RANKED, TRUTH, 1) == pytest.approx(1 / 3)
    assert M.micro_recall_at_k(RANKED, TRUTH, 1) == pytest.approx(1 / 5)


def test_hand_computed_k2_and_k3():
    assert M.hit_rate_at_k(RANKED, TRUTH, 2) == pytest.approx(2 / 3)
    assert M.precision_at_k(RANKED, TRUTH, 2) == pytest.approx((1 / 2 + 0 + 1 / 2) / 3)
    assert M.recall_at_k(RANKED, TRUTH, 2) == pytest.approx((1 + 0 + 1 / 2) / 3)
    assert M.precision_at_k(RANKED, TRUTH, 3) == pytest.approx((1 / 3 + 0 + 2 / 3) / 3)
    assert M.recall_at_k(RANKED, TRUTH, 3) == pytest.approx((1 + 0 + 1) / 3)
    assert M.micro_precision_at_k(RANKED, TRUTH, 3) == pytest.approx(3 / 9)
    assert M.micro_recall_at_k(RANKED, TRUTH, 3) == pytest.approx(3 / 5)
    p, r = 1 / 3, 2 / 3
    assert M.f1_at_k(RANKED, TRUTH, 3) == pytest.approx(2 * p * r / (p + r))


def test_mrr_hand_computed():
    # first true tag at rank 2, none, rank 1
    assert M.mrr(RANKED, TRUTH) == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert M.mrr(RANKED, TRUTH, k=1) == pytest.approx((0 + 0 + 1) / 3)


def test_accuracy_amnn_is_hit_rate():
    for k in (1, 2, 3):
        assert M.accuracy_amnn(RANKED, TRUTH, k) == M.hit_rate_at_k(RANKED, TRUTH, k)


def test_module_docstring_example():
    ranked = [["a", "b", "c"], ["x", "y", "z"]]
    truth = [{"b"}, {"q"}]
    assert (M.hit_rate_at_k(ranked, truth, 2), M.precision_at_k(ranked, truth, 2)) == (0.5, 0.25)


def test_k_larger_than_list_still_divides_by_k():
    ranked, truth = [["a"]], [{"a", "b"}]
    assert M.precision_at_k(ranked, truth, 5) == pytest.approx(1 / 5)
    assert M.recall_at_k(ranked, truth, 5) == pytest.approx(1 / 2)
    assert M.hit_rate_at_k(ranked, truth, 5) == 1.0


def test_empty_ranked_list_scores_zero():
    assert M.hit_rate_at_k([[], ["a"]], [{"a"}, {"a"}], 3) == 0.5
    assert M.mrr([[], ["a"]], [{"a"}, {"a"}]) == 0.5


@pytest.mark.parametrize("bad_k", [0, -1, 1.5, 2.0, "3", True, None])
def test_bad_k_rejected(bad_k):
    with pytest.raises(ValueError, match="K must be a positive integer"):
        M.precision_at_k(RANKED, TRUTH, bad_k)


def test_bad_k_rejected_everywhere():
    with pytest.raises(ValueError, match="K must be a positive integer"):
        M.ranking_metrics(RANKED, TRUTH, ks=[1, 0])
    with pytest.raises(ValueError, match="K must be a positive integer"):
        M.mrr(RANKED, TRUTH, k=0)


def test_numpy_integer_k_accepted():
    assert M.precision_at_k(RANKED, TRUTH, np.int64(2)) == M.precision_at_k(RANKED, TRUTH, 2)
    out = M.ranking_metrics(RANKED, TRUTH, ks=np.arange(1, 3))
    assert set(out["precision"]) == {"1", "2"}


def test_posts_without_tags_are_left_out_and_counted():
    ranked = RANKED + [["a", "b"]]
    truth = TRUTH + [set()]
    assert M.precision_at_k(ranked, truth, 2) == M.precision_at_k(RANKED, TRUTH, 2)
    out = M.ranking_metrics(ranked, truth, ks=[2])
    assert out["n_posts"] == 3
    assert out["n_posts_without_tags"] == 1


def test_no_tags_anywhere_and_length_mismatch_raise():
    with pytest.raises(ValueError, match="no post has ground-truth"):
        M.hit_rate_at_k([["a"]], [set()], 1)
    with pytest.raises(ValueError, match="no post has ground-truth"):
        M.mrr([["a"]], [[]])
    with pytest.raises(ValueError, match="2 ranked lists but 1 ground-truth"):
        M.recall_at_k([["a"], ["b"]], [{"a"}], 1)


def test_ranking_metrics_matches_single_functions():
    out = M.ranking_metrics(RANKED, TRUTH, ks=[1, 2, 3])
    for k in (1, 2, 3):
        key = str(k)
        assert out["hit_rate"][key] == pytest.approx(M.hit_rate_at_k(RANKED, TRUTH, k))
        assert out["precision"][key] == pytest.approx(M.precision_at_k(RANKED, TRUTH, k))
        assert out["recall"][key] == pytest.approx(M.recall_at_k(RANKED, TRUTH, k))
        assert out["f1"][key] == pytest.approx(M.f1_at_k(RANKED, TRUTH, k))
        assert out["micro_precision"][key] == pytest.approx(
            M.micro_precision_at_k(RANKED, TRUTH, k)
        )
        assert out["micro_recall"][key] == pytest.approx(M.micro_recall_at_k(RANKED, TRUTH, k))
    assert out["mrr"] == pytest.approx(M.mrr(RANKED, TRUTH))
    # curves for K = 1..10 by default, JSON-ready string keys
    default = M.ranking_metrics(RANKED, TRUTH)
    assert list(default["f1"]) == [str(k) for k in range(1, 11)]
    # hit rate and recall never fall as K grows; precision of these short lists does
    hr = [default["hit_rate"][str(k)] for k in range(1, 11)]
    assert hr == sorted(hr)
    assert default["precision"]["10"] < default["precision"]["3"]


def _random_case(seed: int, n_posts: int = 60, n_tags: int = 25, k: int = 5):
    rng = np.random.default_rng(seed)
    vocab = [f"t{i}" for i in range(n_tags)]
    ranked, truth = [], []
    for _ in range(n_posts):
        ranked.append([vocab[j] for j in rng.permutation(n_tags)[:k]])
        size = int(rng.integers(1, 6))
        truth.append({vocab[j] for j in rng.choice(n_tags, size=size, replace=False)})
    return vocab, ranked, truth


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_against_scikit_learn(seed, k):
    """Per-post P/R@K = sklearn's samples-averaged P/R of the binarised top-K; micro = micro."""
    vocab, ranked, truth = _random_case(seed, k=10)
    mlb = MultiLabelBinarizer(classes=vocab)
    y_true = mlb.fit_transform(truth)
    y_pred = mlb.transform([r[:k] for r in ranked])
    assert M.precision_at_k(ranked, truth, k) == pytest.approx(
        precision_score(y_true, y_pred, average="samples", zero_division=0)
    )
    assert M.recall_at_k(ranked, truth, k) == pytest.approx(
        recall_score(y_true, y_pred, average="samples", zero_division=0)
    )
    assert M.micro_precision_at_k(ranked, truth, k) == pytest.approx(
        precision_score(y_true, y_pred, average="micro", zero_division=0)
    )
    assert M.micro_recall_at_k(ranked, truth, k) == pytest.approx(
        recall_score(y_true, y_pred, average="micro", zero_division=0)
    )
    # hit rate: share of rows of y_true * y_pred with any 1
    assert M.hit_rate_at_k(ranked, truth, k) == pytest.approx(
        float(np.mean((y_true * y_pred).sum(axis=1) > 0))
    )


def test_f1_is_of_averaged_p_and_r_not_mean_of_per_post_f1():
    """DESIGN's F1@K is the harmonic mean of averaged P and R, which differs from sklearn's
    samples-averaged F1 (mean of per-post F1) on the same predictions."""
    from sklearn.metrics import f1_score

    vocab, ranked, truth = _random_case(5, k=5)
    mlb = MultiLabelBinarizer(classes=vocab)
    y_true, y_pred = mlb.fit_transform(truth), mlb.transform(ranked)
    p, r = M.precision_at_k(ranked, truth, 5), M.recall_at_k(ranked, truth, 5)
    assert M.f1_at_k(ranked, truth, 5) == pytest.approx(2 * p * r / (p + r))
    samples_f1 = f1_score(y_true, y_pred, average="samples", zero_division=0)
    assert abs(M.f1_at_k(ranked, truth, 5) - samples_f1) > 1e-3


def test_mrr_against_scikit_learn_lrap_single_label():
    """With one true tag per post and a full ranking, MRR equals sklearn's LRAP."""
    rng = np.random.default_rng(3)
    n_posts, n_tags = 40, 12
    vocab = [f"t{i}" for i in range(n_tags)]
    scores = rng.normal(size=(n_posts, n_tags))
    true_idx = rng.integers(0, n_tags, size=n_posts)
    y_true = np.zeros((n_posts, n_tags), dtype=int)
    y_true[np.arange(n_posts), true_idx] = 1
    ranked = M.top_k_from_scores(scores, vocab, k=n_tags)
    truth = [{vocab[i]} for i in true_idx]
    assert M.mrr(ranked, truth) == pytest.approx(
        label_ranking_average_precision_score(y_true, scores)
    )


def test_top_k_from_scores_orders_excludes_and_breaks_ties_stably():
    vocab = ["a", "b", "c", "d"]
    scores = np.array([[0.1, 0.9, 0.5, 0.5], [1.0, 1.0, 0.0, 2.0]])
    assert M.top_k_from_scores(scores, vocab, 3) == [["b", "c", "d"], ["d", "a", "b"]]
    assert M.top_k_from_scores(scores, vocab, 2, exclude=[{"b"}, {"d", "a"}]) == [
        ["c", "d"],
        ["b", "c"],
    ]
    # k beyond the vocabulary minus exclusions returns what is left
    assert M.top_k_from_scores(scores[:1], vocab, 10, exclude=[{"a"}]) == [["b", "c", "d"]]
    with pytest.raises(ValueError, match="scores must be"):
        M.top_k_from_scores(scores[:, :3], vocab, 2)


def _published_rows():
    with open(PUBLISHED, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    table = {}
    for row in rows:
        if row["source"].startswith("Yakovlev & Shapoval 2024"):
            table.setdefault(row["model"], {})[row["metric"]] = float(row["value"])
    return table


@pytest.mark.skipif(not PUBLISHED.exists(), reason=f"{PUBLISHED} not present")
def test_design_follow_up_f1_reproduced_from_its_p_and_r():
    """Table 1 of the DESIGN follow-up: F1@7 = 2PR/(P+R) of its (3-decimal) P@7 and R@7.

    P and R are printed rounded to 3 decimals, so the check allows their rounding interval:
    F1 is increasing in both, so the true F1 lies between F1(P-h, R-h) and F1(P+h, R+h)."""
    table = _published_rows()
    assert len(table) == 4
    h = 0.0005
    for model, m in table.items():
        p, r, f1 = m["precision"], m["recall"], m["f1"]
        lo, hi = M._f1(p - h, r - h), M._f1(p + h, r + h)
        assert lo - h <= f1 <= hi + h, f"{model}: F1 {f1} not in [{lo:.4f}, {hi:.4f}]"
    # the row the metrics module quotes: P=0.277, R=0.258 -> F1=0.267
    assert round(M._f1(0.277, 0.258), 3) == 0.267
