"""A fake run directory for the comparison tests: metrics.json files in the kit's schema.

The figures are computed with `hashtag_kit.evaluation.ranking.ranking_metrics` from
seeded random ranked lists (so they are well-formed, not typed in); they mean nothing
beyond exercising the tables.
"""

from __future__ import annotations

import random
from pathlib import Path

from hashtag_kit.evaluation.ranking import ranking_metrics
from hashtag_kit.run import (
    ATTENTION,
    CAPTION,
    ENCODER_DECODER,
    PREPROCESS,
    RunDir,
    write_json,
    write_metrics,
)

TAGS = [f"t{i}" for i in range(30)]

ENCODER_DECODER_MODELS = {
    f"encoder-decoder {fusion}{'+user' if user else ''}": {
        "fusion": fusion,
        "personalisation": user,
        "modality": "both",
    }
    for fusion in ("concat", "sum", "weighted")
    for user in (False, True)
}
ENCODER_DECODER_MODELS["encoder-decoder weighted image only"] = {
    "fusion": "weighted",
    "personalisation": False,
    "modality": "image",
}
ATTENTION_MODELS = {
    "attention LSTM/BiLSTM": ("attention", "both"),
    "attention image only": ("attention", "image"),
    "co-attention": ("attention", "both"),
    "CNN-RNN": ("cnn-rnn", "image"),
    "kNN image": ("baseline", "image"),
}


def _ranking(rng: random.Random, skill: float) -> dict:
    """Ranking metrics of 40 fake posts whose true tags appear early with probability `skill`."""
    ranked, truth = [], []
    for _ in range(40):
        true = set(rng.sample(TAGS, 3))
        order = sorted(TAGS, key=lambda t: rng.random() - (skill if t in true else 0.0))
        ranked.append(order[:10])
        truth.append(true)
    return ranking_metrics(ranked, truth)


def _entry(rng, family, skill, variant=None, params=None, history=True) -> dict:
    return {
        "family": family,
        "description": f"fake {family} model",
        "paper": "test",
        "ranking": _ranking(rng, skill),
        "trainable_params": params,
        "ms_per_step": round(rng.uniform(2, 30), 2) if params else None,
        "history": (
            {"loss": [2.0, 1.5, 1.2 - skill], "val_loss": [2.1, 1.7, 1.5 - skill]}
            if history and params
            else None
        ),
        "variant": variant or {},
    }


def make_fake_run(
    run_dir: Path,
    stages: tuple[str, ...] = (PREPROCESS, ENCODER_DECODER, ATTENTION, CAPTION),
    seed: int = 0,
    split: str = "random",
    test_part: str | None = None,
    n_users: int | None = None,
) -> RunDir:
    """Write run.json, timings.json and the metrics.json of the given stages, whose models
    were scored on `split` (run.json's `official_test_part` is `test_part`; notebook 01
    counted `n_users` users, None: not recorded)."""
    rng = random.Random(seed)
    rd = RunDir(run_dir)
    rd.update_meta(
        dataset="embedded",
        run_mode="smoke",
        seed=seed,
        encoders={
            "image": {"name": "efficientnet_lite0", "dim": 1280},
            "text": {"name": "use_multilingual_v3", "dim": 512},
        },
        official_test_part=test_part,
    )
    sizes = {"random": {"train": 280, "val": 60, "test": 60}}
    if split == "official":
        sizes["official"] = {"train": 300, "val": 50, "test": 50}
    if PREPROCESS in stages:
        write_metrics(
            rd.stage(PREPROCESS),
            {
                "stats": {"n_posts": 400, **({} if n_users is None else {"n_users": n_users})},
                "splits": sizes,
                "n_hashtags": len(TAGS),
                "report": {"n_skipped": 3, "skipped": {"no_hashtags": 3}},
            },
            rd,
        )
    if ENCODER_DECODER in stages:
        models = {
            name: _entry(rng, "encoder-decoder", 0.3 + 0.05 * i, variant, 10_000 + 1000 * i)
            for i, (name, variant) in enumerate(ENCODER_DECODER_MODELS.items())
        }
        models["popularity"] = _entry(rng, "baseline", 0.05)
        subsets = ("without_text", "seen_users")  # notebook 02's extra: {subset: {model: ranking}}
        extra = {
            sub: {
                n: _ranking(rng, 0.2)
                for n in ("encoder-decoder sum+user", "encoder-decoder weighted+user")
            }
            for sub in subsets
        }
        extra["n_test_posts"] = 40
        write_metrics(
            rd.stage(ENCODER_DECODER), {"split": split, "models": models, "extra": extra}, rd
        )
    if ATTENTION in stages:
        models = {
            name: _entry(
                rng,
                family,
                0.2 + 0.04 * i,
                {"modality": modality},
                None if family == "baseline" else 20_000 * (i + 1),
            )
            for i, (name, (family, modality)) in enumerate(ATTENTION_MODELS.items())
        }
        models["popularity"] = _entry(rng, "baseline", 0.05)
        harrison = {  # the shape of hashtag_kit.baselines.cooccurrence.harrison_completion's output
            "cooccurrence": _ranking(rng, 0.4),
            "popularity": _ranking(rng, 0.1),
            "n_test": 40,
            "dataset": "harrison",
            "protocol": "first half of each test post's tags given, the rest hidden",
        }
        write_metrics(
            rd.stage(ATTENTION),
            {
                "split": split,
                "models": models,
                "extra": {"harrison_completion": harrison},
            },
            rd,
        )
    if CAPTION in stages:
        captions = {}
        for name, task in (("soft attention", "caption"), ("paragraph flat LSTM", "paragraph")):
            captions[name] = {
                "task": task,
                "dataset": "embedded",
                **{m: round(rng.uniform(0.05, 0.7), 4) for m in ("bleu1", "bleu2", "bleu3")},
                "bleu4": round(rng.uniform(0.05, 0.3), 4),
                "meteor": None if task == "paragraph" else 0.2,
                "rouge_l": 0.4,
                "cider": round(rng.uniform(0.1, 1.0), 4),
                "n_images": 12,
                "trainable_params": 50_000,
                "ms_per_step": 12.5,
                "history": {"loss": [3.0, 2.0], "val_loss": [3.1, 2.4]},
            }
            if task == "paragraph":
                captions[name]["repeated_trigrams_per_paragraph"] = 0.42
        models = {"captions to tags": _entry(rng, "caption-to-tags", 0.2)}
        write_metrics(
            rd.stage(CAPTION), {"split": split, "models": models, "captions": captions}, rd
        )
    write_json(rd.path / "timings.json", {s: 10.0 + i for i, s in enumerate(stages)})
    return rd
