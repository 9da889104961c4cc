"""COCO-standard caption metrics: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (through pycocoevalcap).

The scores are those of the MS-COCO caption evaluation server (Chen et al. 2015, "Microsoft COCO
Captions: Data Collection and Evaluation Server"), computed by the `pycocoevalcap` package:

- BLEU-n (Papineni et al. 2002): corpus-level modified n-gram precision with the brevity penalty,
  reference length = the closest reference per candidate (pycocoevalcap's "closest" option).
- METEOR 1.5 (Denkowski & Lavie 2014): the Java scorer shipped with pycocoevalcap (`-l en -norm`).
- ROUGE-L (Lin 2004): LCS-based F-measure with beta = 1.2, max over references, averaged over
  images.
- CIDEr-D (Vedantam et al. 2015): TF-IDF weighted n-gram (1..4) cosine with clipping and a Gaussian
  length penalty (sigma = 6), times 10, IDF from the evaluated references. pycocoevalcap's `Cider`
  class computes this D variant, as the COCO server does.

Sentences are first tokenised with the Stanford PTB tokenizer (lower-cased, punctuation removed),
which needs Java, as METEOR does. Without Java (`shutil.which("java")` is None) a warning says so,
METEOR is None, and a pure-Python tokenizer that mimics the PTB one is used; BLEU, ROUGE-L and
CIDEr-D are still computed. SPICE stays off (its first use downloads Stanford CoreNLP models).
A tokenised caption longer than `MAX_SCORED_WORDS` words is scored on its first ones, with a
warning.

A paragraph (Stanford image-paragraph, Krause et al. 2017) is scored as one sequence: its sentences
are joined into one token string (`score_paragraphs`), as Krause et al. and Melas-Kyriazi et al.
2018 evaluate.

Example:
    >>> refs = {"img1": ["a dog runs on the grass", "a brown dog running"]}
    >>> scores = score_captions(refs, {"img1": "a dog runs on grass"}, use_java=False)
    >>> sorted(scores)[:3]
    ['bleu1', 'bleu2', 'bleu3']
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil
import warnings
from collections.abc import Mapping, Sequence

from hashtag_kit.library_logs import held_back_stderr

log = logging.getLogger("hashtag_kit")

#: the words of a caption that are scored (the real datasets' longest reference has 303): ROUGE-L
#: and METEOR align every pair of words, so a 10,000-word candidate and its five references took
#: 170 s and 1.1 GB; a longer caption is scored on its first words, with a warning
MAX_SCORED_WORDS = 1_000

#: tokens the PTB tokenizer wrapper of pycocoevalcap removes after tokenising
PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--"]
    + ["...", ";"]
)


def java_available() -> bool:
    """True when a `java` executable is on PATH (needed by METEOR and the PTB tokenizer)."""
    return shutil.which("java") is not None


def _warn_no_java(what: str) -> None:
    msg = (
        f"Java was not found on PATH: {what}. Install a Java runtime (Debian: "
        "`apt-get install default-jre-headless`, or `make setup` as root) for METEOR and the "
        "Stanford PTB tokenizer."
    )
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
    log.warning(msg)


_TOKEN_RE = re.compile(r"n't|'\w+|\w+(?:[-']\w+)*|\.\.\.|--|[^\w\s]", re.UNICODE)


def simple_tokenize(text: str) -> str:
    """Pure-Python stand-in for the PTB tokenizer: lower-case, split punctuation, drop it.

    Follows the PTB conventions that matter for the scores: hyphenated words stay one token,
    clitics are split (`dog's` -> `dog 's`, `don't` -> `do n't`), punctuation is removed.

    Example:
        >>> simple_tokenize("A dog's ball, on the grass!")
        "a dog 's ball on the grass"
    """
    text = (text or "").replace("\n", " ").lower()
    text = re.sub(r"(\w)n't\b", r"\1 n't", text)
    text = re.sub(r"(\w)('(?:s|re|ve|ll|d|m))\b", r"\1 \2", text)
    tokens = _TOKEN_RE.findall(text)
    return " ".join(t for t in tokens if t not in PUNCTUATIONS)


def tokenize_captions(
    captions: Mapping[str, Sequence[str]], use_java: bool | None = None
) -> tuple[dict[str, list[str]], str]:
    """Tokenise every caption the COCO way. Returns (tokenised captions by id, tokenizer name).

    Args:
        captions: {image id: [caption, ...]}.
        use_java: True forces the Stanford PTB tokenizer, False the Python fallback, None picks
            PTB when Java is available.
    """
    if use_java is None:
        use_java = java_available()
        if not use_java:
            _warn_no_java("using the pure-Python tokenizer instead of the PTB tokenizer")
    if use_java:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # lazy: see score_systems

        # blank captions tokenise to "" without Java (the jar drops trailing blank lines)
        keyed = {}
        for k, v in captions.items():
            for j, c in enumerate(v):
                text = re.sub(r"\s+", " ", c or "").strip()
                if text:
                    keyed[f"{k}\x1e{j}"] = [{"caption": text}]
        try:
            with held_back_stderr():  # the jar's token count, at TF_CPP_MIN_LOG_LEVEL
                out = PTBTokenizer().tokenize(keyed) if keyed else {}
        except Exception as e:  # noqa: BLE001 - any Java/IO failure falls back, loudly
            problem = f"failed ({e})"
        else:
            if set(out) == set(keyed):  # nothing lost on the way through Java
                return {
                    str(k): [out.get(f"{k}\x1e{j}", [""])[0] for j in range(len(v))]
                    for k, v in captions.items()
                }, "ptb"
            problem = "lost lines"
        warnings.warn(
            f"the PTB tokenizer {problem}; using the pure-Python tokenizer", RuntimeWarning, 2
        )
    return {str(k): [simple_tokenize(c) for c in v] for k, v in captions.items()}, "simple"


def _check_inputs(
    references: Mapping[str, Sequence[str]], candidates: Mapping[str, str]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    refs = {str(k): [str(c) for c in v] for k, v in references.items()}
    cands = {str(k): ("" if v is None else str(v)) for k, v in candidates.items()}
    if not cands:
        raise ValueError("no candidate captions to score")
    missing = sorted(set(cands) - set(refs))
    if missing:
        raise ValueError(
            f"{len(missing)} candidate ids have no references, e.g. {missing[:5]}: "
            "score only images with reference captions"
        )
    empty = [k for k in cands if not any(r.strip() for r in refs[k])]
    if empty:
        raise ValueError(
            f"{len(empty)} images have no non-empty reference caption, e.g. {empty[:5]}: "
            "drop them before scoring (an empty reference cannot be matched)"
        )
    # only the images that have a candidate are scored (CIDEr's IDF uses exactly these)
    refs = {k: [r for r in refs[k] if r.strip()] for k in cands}
    return refs, cands


def score_captions(
    references: Mapping[str, Sequence[str]],
    candidates: Mapping[str, str],
    *,
    use_java: bool | None = None,
    meteor: bool = True,
) -> dict:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D of one candidate per image against its references.

    Args:
        references: {image id: [reference caption, ...]} (raw text; tokenised here).
        candidates: {image id: generated caption} (raw text); every id needs references.
        use_java: None = use Java (PTB tokenizer, METEOR) when found, else warn and fall back;
            False = never use Java (METEOR None); True = require it.
        meteor: compute METEOR (needs Java); False skips it (None).

    Returns:
        {"bleu1", "bleu2", "bleu3", "bleu4", "meteor" (float or None), "rouge_l", "cider",
         "n_images", "tokenizer" ("ptb" or "simple")}, all scores in [0, 1] except CIDEr-D
         (0..10).
    """
    return score_systems(references, {"": candidates}, use_java=use_java, meteor=meteor)[""]


def score_systems(
    references: Mapping[str, Sequence[str]],
    systems: Mapping[str, Mapping[str, str]],
    *,
    use_java: bool | None = None,
    meteor: bool = True,
) -> dict[str, dict]:
    """`score_captions` for several systems at once: {system name: {image id: caption}}.

    The same figures as scoring each system alone (CIDEr-D's IDF comes from the references of
    the images each system is scored on), but the Java tokenizer and METEOR start only once.
    """
    # lazy: only caption scoring needs pycocoevalcap
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    checked = {name: _check_inputs(references, cands) for name, cands in systems.items()}
    if use_java is True and not java_available():
        raise RuntimeError(
            "use_java=True but no `java` on PATH: install default-jre-headless (or `make setup`)"
        )
    java = java_available() if use_java is None else bool(use_java)
    if use_java is None and not java:
        _warn_no_java("METEOR is skipped (None) and a pure-Python tokenizer is used")
    all_refs: dict[str, list[str]] = {}
    for refs, _ in checked.values():
        all_refs.update(refs)
    # one tokenizer run (one Java start) for references and candidates, under distinct keys
    flat = {f"c\x1f{n}\x1f{i}": [c] for n, (_, cands) in checked.items() for i, c in cands.items()}
    flat.update({f"r\x1f{i}": refs for i, refs in all_refs.items()})
    tokenized, tok_name = tokenize_captions(flat, use_java=java)
    n_long = 0
    for texts in tokenized.values():
        for j, text in enumerate(texts):
            words = text.split()
            if len(words) > MAX_SCORED_WORDS:
                texts[j], n_long = " ".join(words[:MAX_SCORED_WORDS]), n_long + 1
    if n_long:
        m = f"{MAX_SCORED_WORDS:,}"
        msg = f"{n_long} captions have more than {m} words: each is scored on its first {m}"
        warnings.warn(msg, RuntimeWarning, 2)
        log.warning(msg)

    meteor_scorer = None
    if meteor and java:
        from pycocoevalcap.meteor.meteor import Meteor  # lazy, as above

        try:
            meteor_scorer = Meteor()
        except Exception as e:  # noqa: BLE001 - no METEOR must not lose the other metrics
            warnings.warn(f"METEOR could not start ({e!r}); reporting None", RuntimeWarning, 2)
    out: dict[str, dict] = {}
    try:
        for name, (_, cands) in checked.items():
            gts = {i: tokenized[f"r\x1f{i}"] for i in cands}
            res = {i: [tokenized[f"c\x1f{name}\x1f{i}"][0]] for i in cands}
            scores: dict = {}
            with contextlib.redirect_stdout(io.StringIO()):  # pycocoevalcap prints statistics
                bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
            for n, b in enumerate(bleu, 1):
                scores[f"bleu{n}"] = float(b)
            scores["meteor"] = None
            if meteor_scorer is not None:
                try:
                    scores["meteor"] = float(meteor_scorer.compute_score(gts, res)[0])
                except Exception as e:  # noqa: BLE001 - its Java process failing loses no other
                    warnings.warn(f"METEOR failed ({e!r}); reporting None", RuntimeWarning, 1)
                    _stop_meteor(meteor_scorer)  # a failed METEOR process is not used again
                    meteor_scorer = None
            scores["rouge_l"] = float(Rouge().compute_score(gts, res)[0])
            scores["cider"] = float(Cider().compute_score(gts, res)[0])
            scores["n_images"] = len(res)
            scores["tokenizer"] = tok_name
            out[name] = scores
    finally:
        if meteor_scorer is not None:
            _stop_meteor(meteor_scorer)
    return out


def _stop_meteor(scorer) -> None:
    if scorer.lock.locked():  # a failed compute_score leaves the lock held; __del__ needs it
        scorer.lock.release()
    with contextlib.suppress(Exception):
        scorer.meteor_p.stdin.close()
        scorer.meteor_p.kill()
        scorer.meteor_p.wait(timeout=10)


def paragraph_as_sequence(paragraph: str | Sequence[str]) -> str:
    """One paragraph (a string, or a list of sentences) as one line of text, sentences kept."""
    if not isinstance(paragraph, str):
        paragraph = " ".join(str(s).strip() for s in paragraph)
    return re.sub(r"\s+", " ", paragraph).strip()


def score_paragraphs(
    references: Mapping[str, str | Sequence[str]],
    candidates: Mapping[str, str | Sequence[str]],
    **kwargs,
) -> dict:
    """Score generated paragraphs, each paragraph as ONE sequence (Krause et al. 2017).

    Args:
        references: {image id: reference paragraph (string or list of sentences)}; one reference
            paragraph per image, as in the Stanford image-paragraph dataset.
        candidates: {image id: generated paragraph (string or list of sentences)}.
        **kwargs: passed to `score_captions` (`use_java`, `meteor`).
    """
    return score_paragraph_systems(references, {"": candidates}, **kwargs)[""]


def score_paragraph_systems(
    references: Mapping[str, str | Sequence[str]],
    systems: Mapping[str, Mapping[str, str | Sequence[str]]],
    **kwargs,
) -> dict[str, dict]:
    """`score_paragraphs` for several systems at once (Java started once)."""
    refs = {k: [paragraph_as_sequence(v)] for k, v in references.items()}
    flat = {
        name: {k: paragraph_as_sequence(v) for k, v in cands.items()}
        for name, cands in systems.items()
    }
    return score_systems(refs, flat, **kwargs)
