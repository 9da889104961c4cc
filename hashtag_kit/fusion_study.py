"""Seed study of notebook 02's fusions: `python -m hashtag_kit evaluate fusion`.

Why: notebook 02 trains each fusion once, with one seed, and compares them on the run's test
posts (about 120 of the embedded data's 1,200, in both modes). A difference of a few
hundredths of F1@5 between two fusions is then of the size that changing the seed alone
produces. Whether the DESIGN
follow-up's weighted fusion (Yakovlev & Shapoval 2024) helps posts without text, as its gate
can lean on the image, is a claim about the method, not about one seed; this study retrains the
notebook's models for several seeds and reports the spread.

Protocol:

- the training settings are notebook 02's own, read from the run's
  `02_encoder_decoder_hashtags/metrics.json` (`extra.train_config` of the main model: weighted
  fusion + user history), with its split and beam width; only `fusion` and `seed` change
  (and, for the reference `image-only`, `modality = "image"`: the main model trained on the
  image alone, what the picture can tell; how close each fusion comes to it on the
  text-removed posts shows how well it uses the picture when the caption is missing);
- for every seed and fusion: train on the run's cached features, then Hit/P/R/F1 at K = 1..10
  on the test posts (`test`), the test posts with their text removed (`without_text`) or their
  image removed (`without_image`), and the val posts with their text removed
  (`val_without_text`);
- seed = the notebook's seed reproduces the notebook's models: their figures equal notebook
  02's (a test checks it);
- summary per subset: F1@5 and Hit@5 of each fusion, mean and sample standard deviation over
  the seeds; for each pair of fusions, in how many seeds the first scores higher F1@5 than the
  second (paired by seed: same data, same initial RNG state) and the mean difference.

Usage:
    python -m hashtag_kit evaluate fusion --run outputs/default [--seeds 0,1,2,3,4]
        [--fusions weighted,sum,concat,image-only] [--out outputs/fusion-study]
    make evaluate-fusion          # on outputs/default, after make reproduce

Writes `<out>/evaluate_fusion/metrics.json` (the kit's metrics schema): `models` holds each
fusion's test ranking averaged over the seeds (each metric at each K); `extra.per_seed` every
ranking as `{subset: {fusion: {seed: ranking}}}`; `extra.summary` and `extra.pairs` what is
printed. `make docs` (`tools/readme_results.py`) renders it into README.md and docs/results.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

from hashtag_kit.run import ENCODER_DECODER, RunDir, read_json, write_metrics

STAGE = "evaluate_fusion"
MAIN_MODEL = "encoder-decoder weighted+user"  # notebook 02's main model (its train_config key)
FUSIONS = ("weighted", "sum", "concat")
#: the reference: the same model trained on the image alone (what the picture can tell with the
#: text removed, the level a fusion can reach on `without_text`)
REFERENCE = "image-only"
#: what each compared name changes in notebook 02's main model (default: all, in this order)
VARIANTS = {**{f: {"fusion": f} for f in FUSIONS}, REFERENCE: {"modality": "image"}}
SUBSETS = ("test", "without_text", "without_image", "val_without_text")
SUMMARY_CELLS = (("f1", "5"), ("hit_rate", "5"))
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
PAPER = "Bansal et al. 2022 (DESIGN); Yakovlev & Shapoval 2024 (weighted fusion)"


def notebook_settings(run_dir: str | Path) -> tuple[dict, str, int]:
    """(main model's train config as a dict, split, beam width) from the run's notebook 02.

    Raises FileNotFoundError / ValueError naming the file when notebook 02 has not run or its
    metrics.json lacks them.
    """
    path = RunDir(run_dir).path / ENCODER_DECODER / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: run notebook 02_encoder_decoder_hashtags on this run first "
            "(the study retrains its models with its settings)"
        )
    m = read_json(path)
    try:
        config = m["extra"]["train_config"][MAIN_MODEL]
        return dict(config), str(m["split"]), int(m["extra"]["beam_width"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{path}: no extra.train_config[{MAIN_MODEL!r}], split or extra.beam_width ({e}); "
            "re-run notebook 02 with this version of the kit"
        ) from e


def _config(settings: dict):
    from hashtag_kit.training import TrainConfig

    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in settings.items() if k in known})


def mean_ranking(rankings: list[dict]) -> dict:
    """Each metric at each K averaged over `rankings` (dicts of `ranking_metrics`)."""
    out: dict = {}
    for key, value in rankings[0].items():
        if isinstance(value, dict):
            out[key] = {k: statistics.fmean(r[key][k] for r in rankings) for k in value}
        else:
            out[key] = statistics.fmean(r[key] for r in rankings)
    return out


def summarise(per_seed: dict, seeds, fusions) -> tuple[dict, dict]:
    """(summary, pairs) of per-seed rankings `{subset: {fusion: {seed: ranking}}}`.

    summary[subset][fusion]["f1@5"] = {"mean", "sd", "values"}; pairs[subset]["a vs b"] =
    {"ahead", "behind", "ties", "n_seeds", "mean_difference"} on F1@5.
    """
    summary: dict = {}
    pairs: dict = {}
    for subset, by_fusion in per_seed.items():
        summary[subset] = {}
        for fusion in fusions:
            cells = {}
            for metric, k in SUMMARY_CELLS:
                values = [by_fusion[fusion][str(s)][metric][k] for s in seeds]
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                cells[f"{metric}@{k}"] = {
                    "mean": statistics.fmean(values),
                    "sd": sd,
                    "values": values,
                }
            summary[subset][fusion] = cells
        pairs[subset] = {}
        for a, b in itertools.combinations(fusions, 2):
            va = summary[subset][a]["f1@5"]["values"]
            vb = summary[subset][b]["f1@5"]["values"]
            diffs = [x - y for x, y in zip(va, vb, strict=True)]
            pairs[subset][f"{a} vs {b}"] = {
                "ahead": sum(d > 0 for d in diffs),
                "behind": sum(d < 0 for d in diffs),
                "ties": sum(d == 0 for d in diffs),
                "n_seeds": len(diffs),
                "mean_difference": statistics.fmean(diffs),
            }
    return summary, pairs


def fusion_study(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    seeds=DEFAULT_SEEDS,
    fusions=tuple(VARIANTS),
    verbose: bool = True,
) -> dict:
    """Train notebook 02's model with each fusion for each seed; write and return metrics.

    Args:
        run_dir: a run directory where notebooks 01 and 02 have run (cached features, split,
            vocabulary, notebook 02's settings).
        out_dir: output folder; the metrics go to `<out_dir>/evaluate_fusion/metrics.json`.
        seeds: the seeds (each seeds weights, modality dropout and shuffles, as in notebook 02).
        fusions: variants compared, from "weighted", "sum", "concat" and "image-only" (the
            main model trained on the image alone, a reference for the text-removed posts).

    Returns:
        The metrics dict written.
    """
    seeds = [int(s) for s in seeds]
    fusions = list(fusions)
    bad = [f for f in fusions if f not in VARIANTS]
    if bad or not fusions:
        raise ValueError(f"fusions must be among {tuple(VARIANTS)}, got {fusions}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    rd = RunDir(run_dir)
    settings, split, beam_width = notebook_settings(rd.path)
    import keras  # after the checks: a wrong call fails fast, without loading TensorFlow

    from hashtag_kit.training import evaluate, load_run_data, train

    base = _config(settings)
    data = load_run_data(rd.path, base, split=split)
    parts = {
        "test": data.test,
        "without_text": data.test.without("text"),
        "without_image": data.test.without("image"),
        "val_without_text": data.val.without("text"),
    }
    per_seed: dict = {s: {f: {} for f in fusions} for s in SUBSETS}
    costs: dict = {f: [] for f in fusions}  # (trainable params, ms/step) per seed
    t_start = time.perf_counter()
    for seed in seeds:
        for fusion in fusions:
            cfg = replace(base, **VARIANTS[fusion], seed=seed)
            keras.utils.set_random_seed(seed)
            t0 = time.perf_counter()
            result = train(cfg, data.train, data.val, data.vocab_size)
            for subset, arrays in parts.items():
                per_seed[subset][fusion][str(seed)] = evaluate(
                    result.model, arrays, data.tokens, beam_width=beam_width
                )
            costs[fusion].append((result.trainable_params, result.ms_per_step))
            if verbose:
                f1 = {s: per_seed[s][fusion][str(seed)]["f1"]["5"] for s in SUBSETS}
                cells = "  ".join(f"{s} {v:.3f}" for s, v in f1.items())
                print(
                    f"seed {seed} {fusion:<8} F1@5  {cells}  ({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
    summary, pairs = summarise(per_seed, seeds, fusions)
    models = {
        f"{_label(fusion)}, mean of {len(seeds)} seeds": {
            "family": "encoder-decoder",
            "description": (
                f"notebook 02's main model with {_label(fusion)}, retrained for seeds "
                f"{', '.join(map(str, seeds))}; each metric averaged over the seeds"
            ),
            "paper": PAPER,
            "ranking": mean_ranking([per_seed["test"][fusion][str(s)] for s in seeds]),
            "trainable_params": costs[fusion][0][0],
            "ms_per_step": _median_or_none([ms for _, ms in costs[fusion]]),
            "history": None,
            "variant": {**replace(base, **VARIANTS[fusion]).variant(), "trained": True},
        }
        for fusion in fusions
    }
    extra = {
        "protocol": {
            "source_run": str(rd.path),
            "split": split,
            "beam_width": beam_width,
            "seeds": seeds,
            "fusions": fusions,
            "subsets": list(SUBSETS),
            "n_train": len(data.train),
            "n_val": len(data.val),
            "n_test": len(data.test),
            "train_config": asdict(base),
            "seconds": round(time.perf_counter() - t_start, 1),
        },
        "per_seed": per_seed,
        "summary": summary,
        "pairs": pairs,
    }
    metrics = {"split": split, "models": models, "extra": extra}
    out = Path(out_dir) / STAGE
    out.mkdir(parents=True, exist_ok=True)
    path = write_metrics(out, metrics, run_dir=rd)
    if verbose:
        print(format_summary(summary, pairs))
        print("wrote", path)
    return read_json(path)


def _label(name: str) -> str:
    return "trained on the image only" if name == REFERENCE else f"{name} fusion"


def _median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def format_summary(summary: dict, pairs: dict) -> str:
    """The printed summary: F1@5 per fusion (values per seed, mean ± sd) and the pairs."""
    lines = []
    for subset, by_fusion in summary.items():
        lines.append(f"{subset}: F1@5 per seed, mean ± sd")
        for fusion, cells in by_fusion.items():
            c = cells["f1@5"]
            values = " ".join(f"{v:.3f}" for v in c["values"])
            lines.append(f"  {fusion:<10} {values}   {c['mean']:.3f} ± {c['sd']:.3f}")
        for name, p in pairs[subset].items():
            lines.append(
                f"  {name}: higher in {p['ahead']} of {p['n_seeds']} seeds "
                f"(lower in {p['behind']}), mean difference {p['mean_difference']:+.3f}"
            )
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `evaluate fusion` options (added to `python -m hashtag_kit evaluate`'s parser)."""
    p.add_argument(
        "--run",
        type=Path,
        default=Path("outputs/default"),
        help="fusion: run directory where notebooks 01 and 02 ran (default %(default)s)",
    )
    p.add_argument(
        "--seeds",
        type=_ints,
        default=list(DEFAULT_SEEDS),
        help="fusion: comma-separated seeds (default 0,1,2,3,4)",
    )
    p.add_argument(
        "--fusions",
        type=_names,
        default=list(VARIANTS),
        help="fusion: comma-separated fusions, and image-only for the reference model trained "
        "on the image alone (default weighted,sum,concat,image-only)",
    )


def run_from_args(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = args.out if args.out is not None else Path("outputs/fusion-study")
    try:
        fusion_study(args.run, out, seeds=args.seeds, fusions=args.fusions)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
