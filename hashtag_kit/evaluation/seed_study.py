"""Seed study of notebook 02's fusions: `python -m hashtag_kit evaluate fusion`.

Why: notebook 02 trains each fusion once, with one seed, on about 120 test posts; a difference
of a few hundredths of F1@5 between two fusions is the size that changing the seed alone
produces. Whether the DESIGN follow-up's weighted fusion (Yakovlev & Shapoval 2024) helps posts
without text is a claim about the method, not one seed: this study retrains the notebook's
models for several seeds and reports the spread.

Protocol:

- the training settings are notebook 02's own, read from the run's
  `02_encoder_decoder_hashtags/metrics.json` (`extra.train_config` of the main model: weighted
  fusion + user history), with its split and beam width; only `fusion` and `seed` change (and,
  for the reference `image-only`, `modality = "image"`: the main model trained on the image
  alone, the level a fusion can reach on the text-removed posts);
- for every seed and fusion: train on the run's cached features, then Hit/P/R/F1 at K = 1..10
  on the test posts (`test`), the test posts with their text removed (`without_text`) or their
  image removed (`without_image`), and the val posts with their text removed
  (`val_without_text`);
- seed = the notebook's seed reproduces notebook 02's models and figures (tested);
- summary per subset: F1@5 and Hit@5 of each fusion, mean and sample standard deviation over
  the seeds; for each pair of fusions, in how many seeds the first scores higher F1@5 (paired
  by seed: same data, same initial RNG state) and the mean difference.

The study runs as notebook 06 (`notebooks/06_fusion_seed_study.ipynb`); this module holds what
the notebook, the command and the README generator share.

Usage:
    python -m hashtag_kit evaluate fusion --run outputs/default [--seeds 0,1,2,3,4]
        [--fusions weighted,sum,concat,image-only] [--out outputs/fusion-study]
    make evaluate-fusion          # on outputs/default, after make reproduce

Both execute notebook 06 (papermill; `tools/studies.py`) into `<out>/executed/`. It writes
`<out>/evaluate_fusion/metrics.json` (the kit's metrics schema): `models` holds each
fusion's test ranking averaged over the seeds (each metric at each K); `extra.per_seed` every
ranking as `{subset: {fusion: {seed: ranking}}}`; `extra.summary` and `extra.pairs` what is
printed. `make docs` (`tools/readme_results.py`) renders it into README.md and docs/results.md.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import fields
from pathlib import Path

from hashtag_kit.run import ENCODER_DECODER, RunDir, read_json

STAGE = "evaluate_fusion"
MAIN_MODEL = "encoder-decoder weighted+user"  # notebook 02's main model (its train_config key)
FUSIONS = ("weighted", "sum", "concat")
#: the reference: the same model trained on the image alone (module docstring)
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


def train_config(settings: dict):
    """Notebook 02's settings as a `hashtag_kit.training.TrainConfig` (unknown keys dropped)."""
    from hashtag_kit.training import TrainConfig  # lazy: loads TensorFlow

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
                cells[f"{metric}@{k}"] = {
                    "mean": statistics.fmean(values),
                    "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "values": values,
                }
            summary[subset][fusion] = cells
        pairs[subset] = {}
        for a, b in itertools.combinations(fusions, 2):
            va, vb = (summary[subset][f]["f1@5"]["values"] for f in (a, b))
            diffs = [x - y for x, y in zip(va, vb, strict=True)]
            pairs[subset][f"{a} vs {b}"] = {
                "ahead": sum(d > 0 for d in diffs),
                "behind": sum(d < 0 for d in diffs),
                "ties": sum(d == 0 for d in diffs),
                "n_seeds": len(diffs),
                "mean_difference": statistics.fmean(diffs),
            }
    return summary, pairs


def check_study(seeds, fusions) -> tuple[list[int], list[str]]:
    """(seeds, fusions) as lists; ValueError unless the fusions are known `VARIANTS` and the
    seeds distinct, at least one, and >= 0 (numpy's generators take no negative seed)."""
    seeds, fusions = [int(s) for s in seeds], list(fusions)
    bad = [f for f in fusions if f not in VARIANTS]
    if bad or not fusions:
        raise ValueError(f"fusions must be among {tuple(VARIANTS)}, got {fusions}")
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be distinct, at least one, and >= 0, got {seeds}")
    return seeds, fusions


def label(name: str) -> str:
    """A variant's name in the metrics.json model names ("weighted fusion", ...)."""
    return "trained on the image only" if name == REFERENCE else f"{name} fusion"


def median_or_none(values):
    """The median of the values that are not None (ms/step of each seed), else None."""
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
