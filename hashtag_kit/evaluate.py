"""Evaluations that write `metrics.json`: `python -m hashtag_kit evaluate <name>`.

`fusion` — a seed study of notebook 02's fusions on a run (`hashtag_kit.fusion_study`: its
protocol and options there).

`flickr8k` — a finished Flickr8k run scored on a split's photos without retraining
(`hashtag_kit.evaluation.flickr8k`: protocol, options and the metrics.json schema there;
`python -m hashtag_kit evaluate flickr8k --help`).

The rest of this module is the real-data evaluation:

`tweets` — the TweetEval "emoji" tweets that carry hashtags (Barbieri et al. 2020; cross-posts
from Instagram). Protocol:

- posts come from `load_dataset("tweets", ..., location="keep")`: hashtags are extracted from
  each tweet and REMOVED from the text the model reads, so no model can copy the answer (the
  Instagram " @ Place" suffix, not a hashtag, stays in the text);
- train on TweetEval's train split, keep the epoch with the lowest loss on its val split
  (early stopping), report on its test split;
- the tag vocabulary is every tag used at least `--min-tag-freq` times in the training posts;
  a post's ground truth is its tags in that vocabulary; posts with no such tag, and posts whose
  text is blank once hashtags are removed (a text-only model sees nothing), are left out and
  counted (`extra.protocol` in metrics.json);
- text features: Universal Sentence Encoder multilingual v3 (`hashtag_kit.encoders`), cached
  under the output folder;
- models: the text-only encoder-decoder of notebook 02 (`hashtag_kit.models.encoder_decoder`,
  image input masked out, no personalisation: TweetEval has no user ids) vs the popularity
  baseline (`hashtag_kit.baselines.ranking`); the one trained model is reported twice: tags ranked by
  the decoder's first-step distribution ("encoder-decoder text", `first_step_ranking`) and by
  beam-search decoding ("encoder-decoder text, beam", what `Recommender.recommend` returns by
  default);
- `--limit N` keeps the first N training posts and N // 4 val and test posts (the test suite's
  subset, default 12,000); `--limit 0` is the full run (about 21k train / 22k test tweets).

Usage (the subset run takes about a minute on 2 cores; the full run a few minutes):
    python -m hashtag_kit evaluate tweets [--data DIR] [--out outputs/tweets-eval] [--limit N]
    make evaluate-tweets        # the full run

Writes `<out>/evaluate_tweets/metrics.json` (the kit's metrics schema; `split` is "tweeteval";
`extra.protocol` holds the sizes and what was left out) beside the trained model's stage files
(`python -m hashtag_kit recommend --run <out>/evaluate_tweets --text "..."` serves it), and
prints Hit@5 of every model.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from hashtag_kit import fusion_study
from hashtag_kit.data.posts import Post
from hashtag_kit.report import RunReport
from hashtag_kit.run import RunDir, write_metrics

STAGE = "evaluate_tweets"
TEXT_ENCODER = "use_multilingual_v3"
DEFAULT_LIMIT = 12000
#: the text-only model's settings: small and strongly regularised (a few thousand tweets;
#: larger/looser settings overfit within 3 epochs on the val split)
MODEL_SETTINGS = {"units": 128, "dropout": 0.5, "learning_rate": 1e-3}
DEFAULT_EPOCHS = 8
DEFAULT_MIN_TAG_FREQ = 20
KS = tuple(range(1, 11))


def _default_data_dir() -> Path:
    return Path(os.environ.get("HASHTAG_KIT_DATA", "../shared/data"))


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


def _text_features(run_dir: Path, posts: list[Post], report: RunReport):
    """(features (N, 512) float32, mask (N,) float32, encoder info) of the posts' texts."""
    from hashtag_kit.encoders.cache import extract_features

    fs = extract_features(run_dir, posts, "text", TEXT_ENCODER, report=report, progress=False)
    fs = fs.take([p.id for p in posts])
    return np.asarray(fs.pooled, dtype="float32"), np.asarray(fs.mask, dtype="float32"), fs.encoder


def evaluate_tweets(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    limit: int = DEFAULT_LIMIT,
    min_tag_freq: int = DEFAULT_MIN_TAG_FREQ,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    k: int = 5,
    verbose: bool = True,
) -> dict:
    """Run the TweetEval evaluation and write `<out_dir>/evaluate_tweets/metrics.json`.

    The trained model is saved beside it with the stage files, so
    `python -m hashtag_kit recommend --run <out_dir>/evaluate_tweets --text "..."` serves it.

    Args:
        data_dir: the real-data folder holding `tweeteval/` (or that folder itself).
        out_dir: the output run folder (features cached under `<out_dir>/features/`).
        limit: training tweets read (val and test: limit // 4); 0 = all.
        min_tag_freq: vocabulary = tags used at least this often in the training tweets.
        epochs: training epochs (the best epoch on val loss is kept).
        seed: seeds everything.
        k: the K of the printed Hit@K.
        verbose: print progress and the figures.

    Returns the metrics dict that was written.
    """
    import keras

    from hashtag_kit.baselines.ranking import PopularityRecommender
    from hashtag_kit.data import load_dataset
    from hashtag_kit.evaluation.ranking import ranking_metrics

    keras.utils.set_random_seed(seed)
    say = print if verbose else (lambda *a, **kw: None)
    out_dir = Path(out_dir)
    rd = RunDir(out_dir)
    stage_dir = rd.stage(STAGE)
    report = RunReport()
    t0 = time.perf_counter()
    # the text keeps its Instagram " @ Place" suffix (it is part of what the user posted, not a
    # hashtag); hashtags, including ones cut by truncation, are removed from it
    posts = load_dataset("tweets", Path(data_dir), report, location="keep")
    parts, vocab, protocol = split_tweets(posts, limit, min_tag_freq, report)
    say(
        f"tweets: {protocol['n_train']} train / {protocol['n_val']} val / {protocol['n_test']} "
        f"test posts, {len(vocab)} tags (freq >= {min_tag_freq})"
    )
    rd.update_meta(
        dataset="tweeteval",
        run_mode="full" if not limit else f"subset (--limit {limit})",
        seed=seed,
    )

    # features of every kept post, cached under the output folder
    all_posts = parts["train"] + parts["val"] + parts["test"]
    feats, mask, encoder = _text_features(out_dir, all_posts, report)
    n_tr, n_va = len(parts["train"]), len(parts["val"])
    split_feats = {
        "train": (feats[:n_tr], mask[:n_tr]),
        "val": (feats[n_tr : n_tr + n_va], mask[n_tr : n_tr + n_va]),
        "test": (feats[n_tr + n_va :], mask[n_tr + n_va :]),
    }
    truth = [set(p.hashtags) for p in parts["test"]]

    # popularity baseline
    pop = PopularityRecommender().fit(parts["train"], vocab=vocab)
    pop_ranked = pop.recommend(parts["test"], k=max(KS))
    models = {
        "popularity": {
            "family": "baseline",
            "description": "the most used training tags, the same list for every tweet",
            "paper": "Park et al. 2016 (HARRISON); Bansal et al. 2022 (DESIGN)",
            "ranking": ranking_metrics(pop_ranked, truth, KS),
            "trainable_params": None,
            "ms_per_step": None,
            "history": None,
            "variant": {"modality": "none"},
        }
    }

    # text-only encoder-decoder
    split_feats["encoder"] = encoder
    entry, ranked = train_text_encoder_decoder(
        parts,
        split_feats,
        vocab,
        epochs=epochs,
        seed=seed,
        k=max(KS),
        say=say,
        stage_dir=stage_dir,
        **MODEL_SETTINGS,
    )
    models["encoder-decoder text"] = {
        **entry,
        "description": entry["description"] + "; tags ranked by the decoder's first-step "
        "distribution (`first_step_ranking`)",
        "ranking": ranking_metrics(ranked["first_step"], truth, KS),
        "variant": {**entry["variant"], "ranking": "first step"},
    }
    models["encoder-decoder text, beam"] = {
        **entry,
        "description": entry["description"] + "; tags by beam search decoding (width 3), as "
        "`Recommender.recommend` returns them",
        "ranking": ranking_metrics(ranked["beam"], truth, KS),
        "variant": {**entry["variant"], "ranking": "beam 3"},
    }

    protocol["seconds"] = round(time.perf_counter() - t0, 1)
    protocol["text_encoder"] = encoder
    protocol["report"] = report.to_dict()
    metrics = {"split": "tweeteval", "models": models, "extra": {"protocol": protocol}}
    write_metrics(stage_dir, metrics, run_dir=rd)
    report.write(stage_dir / "report.json")
    for name, m in models.items():
        say(f"{name:<30} Hit@{k} = {m['ranking']['hit_rate'][str(k)]:.3f}")
    say(f"wrote {stage_dir / 'metrics.json'} ({protocol['seconds']} s)")
    return rd.metrics(STAGE)


def _arrays(posts: list[Post], feats: np.ndarray, mask: np.ndarray, tokens, max_tags: int):
    """`hashtag_kit.training.PostArrays` of text-only posts (the image input is absent)."""
    from hashtag_kit.encoders.cache import FeatureSet
    from hashtag_kit.training import make_arrays

    ids = [p.id for p in posts]
    n = len(ids)
    text = FeatureSet(ids, feats, None, mask.astype(bool), {"name": TEXT_ENCODER})
    no_image = FeatureSet(ids, np.zeros((n, 1), "float32"), None, np.zeros(n, bool), {})
    return make_arrays(posts, no_image, text, tokens, np.zeros((n, 1), "int32"), max_tags, 1)


class _BestWeights:
    """Keras callback keeping the weights of the epoch with the lowest validation loss."""

    def __new__(cls):
        import keras

        class BestWeights(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.best, self.best_epoch, self.weights = float("inf"), None, None

            def on_epoch_end(self, epoch, logs=None):
                loss = (logs or {}).get("val_loss")
                if loss is not None and loss < self.best:
                    self.best, self.best_epoch = float(loss), int(epoch)
                    self.weights = [w.copy() for w in self.model.get_weights()]

        return BestWeights()


def first_step_ranking(model, inputs: dict, tokens, k: int, batch_size: int = 512):
    """Tags ranked by the decoder's FIRST-step distribution (after `<start>`), top `k` per post.

    The same trained model as beam decoding, read as a multi-label classifier: every tag is
    scored by the probability that the decoder emits it first. Beam decoding (`model.decode`)
    instead returns the tag sequence the decoder emits until `<end>`, then fills up to K in
    this first-step order. Both rankings are reported. (`Recommender.recommend(..., ranking="first_step")` serves
    the same ranking; posts with neither text nor image get an empty list.)
    """
    from hashtag_kit.recommender import Recommender

    rec = Recommender(model, tokens, {}, {"history_len": 1, "existing_len": 1})
    features = {key: inputs[key] for key in ("image", "image_mask", "text", "text_mask")}
    out = rec.recommend_batch(
        features=features, k=k, ranking="first_step", batch_size=batch_size, report=RunReport()
    )
    return [r.tags for r in out]


def train_text_encoder_decoder(
    parts,
    split_feats,
    vocab,
    *,
    epochs,
    seed,
    k,
    say,
    units=256,
    beam_width=3,
    stage_dir=None,
    **config,
):
    """Train notebook 02's encoder-decoder on text features only; rank tags for the test posts.

    The model is `HashtagEncoderDecoder` with `modality="text"` (no image input, no modality
    dropout) and no personalisation (TweetEval has no user ids), trained by
    `hashtag_kit.training.train` (order-free teacher forcing, Adam) for `epochs` epochs, keeping
    the weights of the epoch with the lowest validation loss (early stopping on the val split). With `stage_dir`, the model is saved there with the
    stage files (`save_stage`), so `Recommender.load(stage_dir)` serves it.

    Returns:
        (the metrics.json model entry without "ranking", {"first_step": ranked tag lists of the
        test posts by `first_step_ranking`, "beam": by beam decoding}).
    """
    from hashtag_kit.training import TrainConfig, make_tokens, recommend_tags, train

    settings = {
        "modality": "text",
        "personalisation": False,
        "modality_dropout": 0.0,
        "units": units,
        "embed_dim": units // 2,
        "max_tags": 6,
        "batch_size": 64,
        **config,
    }
    config = TrainConfig(epochs=epochs, seed=seed, **settings)
    tokens = make_tokens(vocab)
    arrays = {
        part: _arrays(parts[part], *split_feats[part], tokens, config.max_tags)
        for part in ("train", "val", "test")
    }
    say(f"training the text-only encoder-decoder ({epochs} epochs, {units} units) ...")
    best = _BestWeights()
    result = train(config, arrays["train"], arrays["val"], len(tokens), callbacks=[best])
    if best.weights is not None:  # early stopping: the epoch with the lowest val loss
        result.model.set_weights(best.weights)
        say(f"best epoch by val loss: {best.best_epoch + 1} of {epochs}")
    ranked = {
        "first_step": first_step_ranking(result.model, arrays["test"].inputs, tokens, k),
        "beam": recommend_tags(result.model, arrays["test"], tokens, k=k, beam_width=beam_width),
    }
    if stage_dir is not None:
        from hashtag_kit.stage import save_stage

        text_info = {"name": TEXT_ENCODER, "dim": int(split_feats["train"][0].shape[1])}
        save_stage(
            stage_dir,
            result.model,
            tokens,
            {},
            {
                "image_encoder": None,
                "text_encoder": split_feats.get("encoder") or text_info,
                "history_len": 1,
                "existing_len": 1,
                "dataset": "tweeteval",
            },
        )
    entry = {
        "family": "encoder-decoder",
        "description": "text-only encoder-decoder (USE multilingual -> LSTM tag decoder), "
        "hashtags removed from the input",
        "paper": "Yang et al. 2020 (AMNN); Sahliya et al. 2024 (original project)",
        "trainable_params": int(result.trainable_params),
        "ms_per_step": result.ms_per_step,
        "history": result.history,
        "variant": {
            **config.variant(),
            "units": config.units,
            "dropout": config.dropout,
            "learning_rate": config.learning_rate,
            "epochs": epochs,
            "best_epoch": None if best.best_epoch is None else best.best_epoch + 1,
        },
    }
    return entry, ranked


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hashtag_kit evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "name",
        choices=["tweets", "fusion", "flickr8k"],
        help="which evaluation: tweets (TweetEval, real data), fusion (seed study of "
        "notebook 02's fusions, `hashtag_kit.fusion_study`) or flickr8k (a finished Flickr8k "
        "run on a split's photos; its own options: `evaluate flickr8k --help`)",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="real-data folder holding tweeteval/ (default $HASHTAG_KIT_DATA or ../shared/data)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default outputs/tweets-eval or outputs/fusion-study)",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help="training tweets to use, val/test get limit // 4 (0 = all; default %(default)s)",
    )
    p.add_argument(
        "--min-tag-freq",
        type=int,
        default=DEFAULT_MIN_TAG_FREQ,
        help="vocabulary: tags used this often in train (default %(default)s)",
    )
    p.add_argument(
        "--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs (best epoch on val loss kept)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-k", type=int, default=5, help="the K of the printed Hit@K")
    fusion_study.add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["flickr8k"]:  # its own options (hashtag_kit.evaluation.flickr8k)
        from hashtag_kit.evaluation import flickr8k as evaluate_flickr8k

        return evaluate_flickr8k.main(argv[1:])
    args = _parser().parse_args(argv)
    if args.name == "fusion":
        return fusion_study.run_from_args(args)
    data = args.data or _default_data_dir()
    if not (Path(data) / "tweeteval").is_dir() and not list(Path(data).glob("*_text.txt")):
        print(
            f"error: {Path(data) / 'tweeteval'} not found: pass --data <folder holding tweeteval/> "
            "or set HASHTAG_KIT_DATA",
            file=sys.stderr,
        )
        return 2
    evaluate_tweets(
        data,
        args.out if args.out is not None else Path("outputs/tweets-eval"),
        limit=args.limit,
        min_tag_freq=args.min_tag_freq,
        epochs=args.epochs,
        seed=args.seed,
        k=args.k,
    )
    return 0
