"""Caption metrics: pycocoevalcap figures against independent computations on a hand-made case."""

from __future__ import annotations

import math
import shutil
import warnings
from collections import Counter

import numpy as np
import pytest

from hashtag_kit.evaluation import captions as cm

REFS = {
    "a": ["a dog runs on the green grass", "a brown dog running in a park", "dog on grass"],
    "b": ["a red boat on the sea at sunset", "a small boat sailing on the water"],
    "c": ["two people walk in the snow", "people walking on a snowy road", "a snowy road"],
}
CANDS = {
    "a": "a dog runs on the grass",
    "b": "a red boat sailing on the sea",
    "c": "two people walking on the snowy road",
}


def _ngrams(words, n):
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _my_bleu(refs, cands, max_n=4):
    """Papineni et al. 2002, corpus level, closest reference length (ties -> shorter)."""
    correct, guess = [0] * max_n, [0] * max_n
    c_len = r_len = 0
    for k, cand in cands.items():
        hyp = cand.split()
        rs = [r.split() for r in refs[k]]
        c_len += len(hyp)
        r_len += min((abs(len(r) - len(hyp)), len(r)) for r in rs)[1]
        for n in range(1, max_n + 1):
            h = _ngrams(hyp, n)
            maxref = Counter()
            for r in rs:
                for g, c in _ngrams(r, n).items():
                    maxref[g] = max(maxref[g], c)
            correct[n - 1] += sum(min(c, maxref[g]) for g, c in h.items())
            guess[n - 1] += max(len(hyp) - n + 1, 0)
    bp = 1.0 if c_len >= r_len else math.exp(1 - r_len / c_len)
    out = []
    for n in range(1, max_n + 1):
        logp = sum(math.log(correct[i] / guess[i]) for i in range(n)) / n
        out.append(bp * math.exp(logp))
    return out


def _my_rouge_l(refs, cands, beta=1.2):
    """Lin 2004 ROUGE-L F-measure, max precision/recall over references, mean over images."""

    def lcs(x, y):
        t = np.zeros((len(x) + 1, len(y) + 1), int)
        for i, a in enumerate(x, 1):
            for j, b in enumerate(y, 1):
                t[i, j] = t[i - 1, j - 1] + 1 if a == b else max(t[i - 1, j], t[i, j - 1])
        return t[-1, -1]

    scores = []
    for k, cand in cands.items():
        c = cand.split()
        ps, rs = [], []
        for ref in refs[k]:
            r = ref.split()
            m = lcs(r, c)
            ps.append(m / len(c))
            rs.append(m / len(r))
        p, r = max(ps), max(rs)
        scores.append(0.0 if p == 0 or r == 0 else (1 + beta**2) * p * r / (r + beta**2 * p))
    return float(np.mean(scores))


def _my_cider_d(refs, cands, n_max=4, sigma=6.0):
    """Vedantam et al. 2015 CIDEr-D: tf-idf n-gram cosine, clipped, Gaussian length penalty, x10."""
    ids = list(cands)
    ref_grams = {k: [_ngrams_all(r.split(), n_max) for r in refs[k]] for k in ids}
    df = Counter()
    for k in ids:
        for g in set(g for r in ref_grams[k] for g in r):
            df[g] += 1
    log_n = math.log(len(ids))

    def vec(counts):
        v = [dict() for _ in range(n_max)]
        for g, tf in counts.items():
            v[len(g) - 1][g] = tf * (log_n - math.log(max(1.0, df[g])))
        norms = [math.sqrt(sum(x * x for x in d.values())) for d in v]
        return v, norms

    scores = []
    for k in ids:
        hyp = cands[k].split()
        vh, nh = vec(_ngrams_all(hyp, n_max))
        total = np.zeros(n_max)
        for ref, rg in zip(refs[k], ref_grams[k], strict=True):
            vr, nr = vec(rg)
            delta = len(hyp) - len(ref.split())
            for n in range(n_max):
                s = sum(min(w, vr[n].get(g, 0.0)) * vr[n].get(g, 0.0) for g, w in vh[n].items())
                if nh[n] and nr[n]:
                    s /= nh[n] * nr[n]
                total[n] += s * math.exp(-(delta**2) / (2 * sigma**2))
        scores.append(10.0 * total.mean() / len(refs[k]))
    return float(np.mean(scores))


def _ngrams_all(words, n_max):
    c = Counter()
    for n in range(1, n_max + 1):
        c.update(_ngrams(words, n))
    return c


def _nltk_bleu(references, candidates) -> dict:
    """Corpus BLEU-1..4 through NLTK's `corpus_bleu` (no smoothing), on the pure-Python PTB
    stand-in's tokens: NLTK's brevity penalty uses the closest reference length, as
    pycocoevalcap's "closest" option does, so both agree to ~1e-6 when every order matches."""
    from nltk.translate.bleu_score import corpus_bleu

    ids = list(candidates)
    refs = [[cm.simple_tokenize(r).split() for r in references[i]] for i in ids]
    hyps = [cm.simple_tokenize(candidates[i]).split() for i in ids]
    weights = [(1.0,), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25)]
    return {f"bleu{n}": float(b) for n, b in enumerate(corpus_bleu(refs, hyps, weights), 1)}


def test_simple_tokenizer_follows_ptb_conventions():
    assert cm.simple_tokenize("A Dog's ball, on the grass!") == "a dog 's ball on the grass"
    assert cm.simple_tokenize("It doesn't go - well-known...") == "it does n't go well-known"
    assert cm.simple_tokenize("") == ""


def test_pycocoevalcap_matches_independent_bleu_rouge_cider():
    got = cm.score_captions(REFS, CANDS, use_java=False)
    assert got["tokenizer"] == "simple" and got["meteor"] is None and got["n_images"] == 3
    mine = _my_bleu(REFS, CANDS)
    for n in range(4):
        assert got[f"bleu{n + 1}"] == pytest.approx(mine[n], rel=1e-6)
    assert got["rouge_l"] == pytest.approx(_my_rouge_l(REFS, CANDS), rel=1e-9)
    assert got["cider"] == pytest.approx(_my_cider_d(REFS, CANDS), rel=1e-9)
    # and BLEU agrees with NLTK's corpus_bleu
    nl = _nltk_bleu(REFS, CANDS)
    for n in range(1, 5):
        assert got[f"bleu{n}"] == pytest.approx(nl[f"bleu{n}"], rel=1e-6)


def test_scores_order_good_above_bad():
    bad = {k: "the the the" for k in CANDS}
    good = cm.score_captions(REFS, CANDS, use_java=False)
    worse = cm.score_captions(REFS, bad, use_java=False)
    for key in ("bleu1", "bleu4", "rouge_l", "cider"):
        assert good[key] > worse[key]
    perfect = cm.score_captions(REFS, {k: v[0] for k, v in REFS.items()}, use_java=False)
    assert perfect["bleu4"] == pytest.approx(1.0)
    assert perfect["rouge_l"] == pytest.approx(1.0)


def test_several_systems_scored_at_once_equal_one_by_one():
    bad = {k: "a dog on the sea" for k in CANDS}
    both = cm.score_systems(REFS, {"good": CANDS, "bad": bad}, use_java=False)
    assert both["good"] == cm.score_captions(REFS, CANDS, use_java=False)
    assert both["bad"] == cm.score_captions(REFS, bad, use_java=False)
    part = cm.score_systems(REFS, {"two": {"a": CANDS["a"], "b": CANDS["b"]}}, use_java=False)
    assert part["two"]["n_images"] == 2  # IDF and averages over the system's own images


def test_bad_inputs_name_the_image():
    with pytest.raises(ValueError, match="zz"):
        cm.score_captions(REFS, {"zz": "a dog"}, use_java=False)
    with pytest.raises(ValueError, match="'e'"):
        cm.score_captions({"e": ["  "]}, {"e": "a dog"}, use_java=False)
    with pytest.raises(ValueError, match="no candidate"):
        cm.score_captions(REFS, {}, use_java=False)
    # an empty generated caption is scored (zero), not a crash
    got = cm.score_captions(REFS, {"a": "", "b": CANDS["b"]}, use_java=False)
    assert 0 < got["bleu1"] < 1


def test_a_caption_over_the_word_limit_is_scored_on_its_first_words_with_a_warning():
    """ROUGE-L and METEOR align every pair of words: 10,000-word captions took 170 s an image."""
    m = cm.MAX_SCORED_WORDS
    long, first = " ".join(["dog", "runs"] * m), " ".join(["dog", "runs"] * (m // 2))  # 2m, m
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # at the limit: no warning
        at_limit = cm.score_captions({"a": [first]}, {"a": first}, use_java=False)
    with pytest.warns(RuntimeWarning, match=f"^2 captions have more than {m:,} words: each is sc"):
        cut = cm.score_captions({"a": [long]}, {"a": long}, use_java=False)
    assert cut == at_limit and cut["rouge_l"] == 1.0


def test_paragraph_scored_as_one_sequence():
    ref = {"p": "A boat is on the sea. The sky is orange. A bird flies."}
    cand = {"p": ["A boat is on the sea.", "The sky is orange."]}
    got = cm.score_paragraphs(ref, cand, use_java=False)
    joined = cm.score_captions(
        {"p": [cm.paragraph_as_sequence(ref["p"])]},
        {"p": "A boat is on the sea. The sky is orange."},
        use_java=False,
    )
    assert got["bleu4"] == pytest.approx(joined["bleu4"])
    assert got["bleu4"] > 0.5  # 4-grams across the sentence boundary match as one sequence
    many = cm.score_paragraph_systems(ref, {"c": cand}, use_java=False)
    assert many["c"] == got


def test_without_java_warns_and_still_scores(monkeypatch):
    monkeypatch.setattr(cm.shutil, "which", lambda name: None)
    with pytest.warns(RuntimeWarning, match="Java was not found"):
        got = cm.score_captions(REFS, CANDS)
    assert got["meteor"] is None and got["tokenizer"] == "simple" and got["cider"] > 0
    with pytest.raises(RuntimeError, match="default-jre-headless"):
        cm.score_captions(REFS, CANDS, use_java=True)


def test_java_is_installed_here():
    """CI installs Java (`make setup` -> default-jre-headless); METEOR depends on it."""
    assert shutil.which("java"), "no java on PATH: run `make java` (installs default-jre-headless)"


@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java (make java)")
def test_ptb_tokenizer_and_meteor_with_java(monkeypatch):
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    perfect_cands = {k: v[0] for k, v in REFS.items()}
    runs, tokenize = [], PTBTokenizer.tokenize
    monkeypatch.setattr(
        PTBTokenizer, "tokenize", lambda self, c: runs.append(1) or tokenize(self, c)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback may happen
        both = cm.score_systems(REFS, {"x": CANDS, "p": perfect_cands}, use_java=True)
    assert len(runs) == 1  # one Java start tokenises the references and both systems
    got, perfect = both["x"], both["p"]
    assert got["tokenizer"] == "ptb"
    # on these plain captions the PTB tokenizer and the Python stand-in agree exactly
    simple = cm.score_captions(REFS, CANDS, use_java=False)
    for key in ("bleu1", "bleu4", "rouge_l", "cider"):
        assert got[key] == pytest.approx(simple[key], rel=1e-9)
    assert 0.2 < got["meteor"] < perfect["meteor"] <= 1.0
    assert perfect["meteor"] > 0.9
    toks, name = cm.tokenize_captions(
        {"x": ["A Dog's ball, on the grass!", "  "], "y": ["two\nlines"], "z": [""]}, use_java=True
    )
    assert name == "ptb"
    assert toks == {"x": ["a dog 's ball on the grass", ""], "y": ["two lines"], "z": [""]}


def _meteor_by_hand(matches: int, chunks: int, hyp_len: int, ref_len: int) -> float:
    """METEOR 1.5 (Denkowski & Lavie 2014), English defaults alpha 0.85, beta 0.2, gamma 0.6,
    for exact matches of content words only (no function words, stems or synonyms, so the
    delta weighting cancels out): Fmean * (1 - gamma * (chunks / matches) ** beta)."""
    alpha, beta, gamma = 0.85, 0.2, 0.6
    p, r = matches / hyp_len, matches / ref_len
    fmean = p * r / (alpha * p + (1 - alpha) * r)
    return fmean * (1 - gamma * (chunks / matches) ** beta)


@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java (make java)")
def test_meteor_matches_its_formula_computed_by_hand():
    refs = {"img": ["zebra giraffe elephant lion"]}
    systems = {
        "prefix": {"img": "zebra giraffe"},  # 2 matches, 1 chunk
        "scattered": {"img": "zebra elephant"},  # 2 matches, 2 chunks (not adjacent in ref)
        "reversed": {"img": "lion elephant giraffe zebra"},  # 4 matches, 4 chunks
        "identical": {"img": "zebra giraffe elephant lion"},
    }
    got = cm.score_systems(refs, systems, use_java=True)
    assert got["prefix"]["meteor"] == pytest.approx(_meteor_by_hand(2, 1, 2, 4), abs=1e-6)
    assert got["scattered"]["meteor"] == pytest.approx(_meteor_by_hand(2, 2, 2, 4), abs=1e-6)
    assert got["reversed"]["meteor"] == pytest.approx(_meteor_by_hand(4, 4, 4, 4), abs=1e-6)
    assert got["identical"]["meteor"] == pytest.approx(1.0)  # no fragmentation for an exact copy
