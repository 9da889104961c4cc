"""Hashtags from image captions: the Flickr8k hashtag paper's method.

A caption generator describes the image; the description is tokenised, its stopwords removed,
and the remaining keywords, in order, are the recommended hashtags. With several captions per
image (beam candidates, or several reference captions) keywords are ranked by how many captions
use them, then by first appearance.

Optionally the keywords are matched to a hashtag vocabulary (`vocab`): a keyword is kept when it
is a known tag, or when its singular (`hashtag_kit.text.singular_guesses`: `dogs` -> `dog`, `men` ->
`man`) is; the others are dropped. Without a vocabulary every keyword is a hashtag, as in the
paper.

The lists are scored with the same set metrics as every recommender of the kit
(`hashtag_kit.evaluation.ranking.ranking_metrics`) against the post's hashtags: on the embedded data
the post's tags, on COCO the object category and supercategory names.

Example:
    >>> captions_to_hashtags("A brown dog runs on the beach")
    ['brown', 'dog', 'runs', 'beach']
    >>> captions_to_hashtags(["a dog on a beach", "two dogs play"], vocab={"dog", "beach"})
    ['dog', 'beach']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

from hashtag_kit.data.posts import Post
from hashtag_kit.evaluation.ranking import DEFAULT_KS, ranking_metrics
from hashtag_kit.text import normalise_hashtag, remove_stopwords, singular_guesses, tokenize

#: words a caption generator writes that carry no content as tags (beyond the stopword list)
CAPTION_FILLER = frozenset({"<unk>", "image", "picture", "photo", "view", "shot", "scene"})


def caption_keywords(caption: str | None, stopwords: Iterable[str] | None = None) -> list[str]:
    """Content words of one caption, in order, without repeats: tokens minus stopwords.

    Args:
        caption: the caption text (generated or reference).
        stopwords: the list to remove (default: `hashtag_kit.text.load_stopwords()`).
    """
    tokens = [t for t in tokenize(caption) if not t.isdigit() and len(t) > 1]
    words = [w for w in remove_stopwords(tokens, stopwords) if w not in CAPTION_FILLER]
    tags = [normalise_hashtag(w) for w in words]
    return list(dict.fromkeys(t for t in tags if t))


def match_vocab(keyword: str, vocab: Collection[str]) -> str | None:
    """The vocabulary tag a keyword stands for: itself, or its singular, else None."""
    if keyword in vocab:
        return keyword
    return next((s for s in singular_guesses(keyword) if s in vocab), None)


def captions_to_hashtags(
    captions: str | Sequence[str],
    k: int | None = None,
    *,
    vocab: Collection[str] | None = None,
    stopwords: Iterable[str] | None = None,
) -> list[str]:
    """Ranked hashtags from one caption or several captions of the same image.

    Args:
        captions: a caption, or several (ranked by how many captions use a keyword, then by
            first appearance).
        k: keep the top k (None = all).
        vocab: when given, keep only keywords that are (or whose singular is) a known tag.
        stopwords: stopword list (default `hashtag_kit.text.load_stopwords()`).
    """
    if isinstance(captions, str) or captions is None:
        captions = [captions or ""]
    counts: Counter = Counter()  # keys in order of first appearance
    for cap in captions:
        tags = caption_keywords(cap, stopwords)
        if vocab is not None:
            tags = list(dict.fromkeys(t for t in (match_vocab(w, vocab) for w in tags) if t))
        counts.update(tags)
    ranked = sorted(counts, key=lambda t: -counts[t])  # stable: ties keep first appearance
    return ranked if k is None else ranked[:k]


def evaluate_caption_hashtags(
    posts: Sequence[Post],
    captions: Mapping[str, str | Sequence[str]],
    *,
    k: int = 10,
    ks: Iterable[int] = DEFAULT_KS,
    vocab: Collection[str] | None = None,
) -> dict:
    """`ranking_metrics` of caption keywords against each post's hashtags.

    Args:
        posts: the evaluated posts (their `hashtags` are the ground truth); every post needs an
            entry in `captions` (a missing one is an error naming the post).
        captions: {post id: caption or captions}.
        k: list length.
        ks: cut-offs for the metrics.
        vocab: optional hashtag vocabulary to match keywords to (and to restrict the truth to,
            so that both sides talk about the same tags).
    """
    missing = [p.id for p in posts if p.id not in captions]
    if missing:
        raise ValueError(f"no caption for {len(missing)} posts, e.g. {missing[:5]}")
    ranked = [captions_to_hashtags(captions[p.id], k, vocab=vocab) for p in posts]
    # posts left without tags are counted by ranking_metrics, not scored
    truth = [{t for t in p.hashtags if vocab is None or t in vocab} for p in posts]
    return ranking_metrics(ranked, truth, ks)
