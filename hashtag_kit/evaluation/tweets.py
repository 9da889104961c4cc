"""Evaluations that write `metrics.json`: `python -m hashtag_kit evaluate <name>`.

`fusion` — a seed study of notebook 02's fusions on a run (`hashtag_kit.evaluation.seed_study`).
`flickr8k` — a finished Flickr8k run scored on a split's photos without retraining
(`hashtag_kit.evaluation.flickr8k`: protocol, options and the metrics.json schema).

This module is the real-data evaluation `tweets`: the TweetEval "emoji" tweets that carry
hashtags (Barbieri et al. 2020; cross-posts from Instagram). Protocol:

- posts come from `load_dataset("tweets", ..., location="keep")`: hashtags are extracted from
  each tweet and REMOVED from the text the model reads, so no model can copy the answer (the
  Instagram " @ Place" suffix, not a hashtag, stays in the text);
- train on TweetEval's train split, keep the epoch with the lowest val loss, report on test;
- the tag vocabulary is every tag used at least `--min-tag-freq` times in the training posts;
  a post's ground truth is its tags in that vocabulary; posts with no such tag, and posts whose
  text is blank once hashtags are removed, are left out and counted (`extra.protocol`);
- text features: Universal Sentence Encoder multilingual v3 (`hashtag_kit.encoders`), cached
  under the output folder;
- models: notebook 02's encoder-decoder reading the text alone (no personalisation: TweetEval
  has no user ids) vs the popularity baseline; the one trained model is reported twice: tags
  ranked by the decoder's first-step distribution ("encoder-decoder text",
  `first_step_ranking`) and by beam search ("encoder-decoder text, beam", what
  `Recommender.recommend` returns by default);
- `--limit N` keeps the first N training posts and N // 4 val and test posts (default 12,000);
  `--limit 0` is the full run (about 21k train / 22k test tweets).

The evaluation runs as notebook 07 (`notebooks/07_tweeteval.ipynb`); this module holds what the
notebook and its tests share.

Usage (the subset run takes about a minute on 2 cores; the full run a few minutes):
    python -m hashtag_kit evaluate tweets [--data DIR] [--out outputs/tweets-eval] [--limit N]
    make evaluate-tweets        # the full run

Both execute notebook 07 (papermill; `tools/studies.py`) into `<out>/executed/`. It writes
`<out>/evaluate_tweets/metrics.json` (the kit's metrics schema; `split` is "tweeteval";
`extra.protocol` holds the sizes and what was left out) beside the trained model's stage files
(`python -m hashtag_kit recommend --run <out>/evaluate_tweets --text "..."` serves it); the
command then prints Hit@K of every model.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from hashtag_kit.data.posts import Post
from hashtag_kit.features.cache import FeatureSet
from hashtag_kit.recommender import Recommender
from hashtag_kit.report import RunReport

STAGE = "evaluate_tweets"
TEXT_ENCODER = "use_multilingual_v3"
DEFAULT_LIMIT = 12000
#: the text-only model's `TrainConfig` settings: small and strongly regularised (larger or looser
#: settings overfit the few thousand tweets within 3 epochs)
MODEL_SETTINGS = {
    "modality": "text",
    "personalisation": False,
    "modality_dropout": 0.0,
    "units": 128,
    "embed_dim": 64,
    "max_tags": 6,
    "batch_size": 64,
    "dropout": 0.5,
    "learning_rate": 1e-3,
}
#: beam width of the "encoder-decoder text, beam" ranking (`Recommender.recommend`'s default)
BEAM_WIDTH = 3
DEFAULT_EPOCHS = 8
DEFAULT_MIN_TAG_FREQ = 20
KS = tuple(range(1, 11))


def split_tweets(
    posts: list[Post], limit: int, min_tag_freq: int, report: RunReport
) -> tuple[dict[str, list[Post]], list[str], dict]:
    """TweetEval's own train/val/test parts, the tag vocabulary, and the protocol notes.

    Returns:
        parts: {"train", "val", "test"} posts, each post's hashtags restricted to the vocabulary.
        vocab: tags with at least `min_tag_freq` uses in the training posts, most used first.
        protocol: sizes and what was left out, for `metrics.json`'s `extra`.
    """
    raw: dict[str, list[Post]] = {"train": [], "val": [], "test": []}
    for p in posts:
        part = str(p.meta.get("split", "")).lower()
        part = {"validation": "val", "dev": "val"}.get(part, part)
        if part not in raw:
            report.skip("tweets_unknown_split", p.id, f"split {p.meta.get('split')!r}")
            continue
        raw[part].append(p)
    if limit:
        caps = {"train": limit, "val": max(limit // 4, 1), "test": max(limit // 4, 1)}
        raw = {k: v[: caps[k]] for k, v in raw.items()}
    counts = Counter(t for p in raw["train"] for t in dict.fromkeys(p.hashtags))
    vocab = [
        t for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_tag_freq
    ]
    if not vocab:
        raise ValueError(
            f"no hashtag is used {min_tag_freq}+ times in the {len(raw['train'])} training "
            "tweets: lower --min-tag-freq or raise --limit"
        )
    in_vocab = set(vocab)
    parts: dict[str, list[Post]] = {}
    protocol: dict = {
        "split": "TweetEval emoji task's own train / val / test files",
        "min_tag_freq": min_tag_freq,
        "limit": limit,
        "n_tags": len(vocab),
        "n_tags_in_train_posts": len(counts),
    }
    for part, plist in raw.items():
        kept, no_tag, no_text = [], 0, 0
        for p in plist:
            tags = [t for t in dict.fromkeys(p.hashtags) if t in in_vocab]
            if not tags:
                no_tag += 1
                report.skip(f"{part}_no_tag_in_vocab", p.id)
                continue
            if not p.has_text:
                no_text += 1
                report.skip(f"{part}_blank_text", p.id, "only hashtags; nothing left to read")
                continue
            kept.append(Post(id=p.id, hashtags=tags, user=p.user, text=p.text, meta=dict(p.meta)))
        parts[part] = kept
        protocol[f"n_{part}_loaded"] = len(plist)
        protocol[f"n_{part}"] = len(kept)
        protocol[f"n_{part}_without_vocab_tag"] = no_tag
        protocol[f"n_{part}_blank_text"] = no_text
    for part in ("train", "test"):
        if not parts[part]:
            raise ValueError(f"no usable {part} tweets left; raise --limit or lower --min-tag-freq")
    return parts, vocab, protocol


def text_arrays(posts: list[Post], text: FeatureSet, tokens, max_tags: int):
    """`hashtag_kit.training.PostArrays` of text-only posts (the image input is absent):
    `text` holds the posts' text features (any superset, taken in `posts` order)."""
    from hashtag_kit.training import make_arrays  # lazy: loads TensorFlow

    ids = [p.id for p in posts]
    n = len(ids)
    text = text.take(ids)
    text = FeatureSet(ids, np.asarray(text.pooled, "float32"), None, text.mask.astype(bool), {})
    no_image = FeatureSet(ids, np.zeros((n, 1), "float32"), None, np.zeros(n, bool), {})
    return make_arrays(posts, no_image, text, tokens, np.zeros((n, 1), "int32"), max_tags, 1)


def first_step_ranking(model, inputs: dict, tokens, k: int, batch_size: int = 512):
    """Tags ranked by the decoder's FIRST-step distribution (after `<start>`), top `k` per post.

    The trained model read as a multi-label classifier: every tag is scored by the probability
    that the decoder emits it first (`Recommender.recommend(..., ranking="first_step")`; posts
    with neither text nor image get an empty list). Beam decoding instead returns the sequence
    the decoder emits until `<end>`, filled up to K in this first-step order.
    """
    rec = Recommender(model, tokens, {}, {"history_len": 1, "existing_len": 1})
    features = {key: inputs[key] for key in ("image", "image_mask", "text", "text_mask")}
    out = rec.recommend_batch(
        features=features, k=k, ranking="first_step", batch_size=batch_size, report=RunReport()
    )
    return [r.tags for r in out]
