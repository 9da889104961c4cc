"""Stage 01: load a dataset, clean it, freeze splits and vocabularies into a run directory.

Run it from notebook `01_preprocess.ipynb`, or headless:

    python -m hashtag_kit preprocess --run outputs/default --dataset embedded --mode smoke

Writes (see `hashtag_kit.run` for the whole layout):
    outputs/<run>/01_preprocess/posts.jsonl   cleaned posts
    outputs/<run>/01_preprocess/splits.json   random and user-disjoint splits (ids)
    outputs/<run>/01_preprocess/vocab.json    hashtag vocabulary (most frequent first)
    outputs/<run>/01_preprocess/report.json   every record skipped or repaired, by kind
    outputs/<run>/01_preprocess/metrics.json  dataset statistics
    outputs/<run>/run.json                    dataset, seed, run mode

Cleaning, in order: the loader's own checks (malformed lines, duplicate ids, paths escaping the
data folder, empty captions: see `hashtag_kit.data`); unreadable images become missing images
(counted); hashtags de-duplicated within a post; tags rarer than `min_tag_freq` over the whole
dataset dropped (as the DESIGN follow-up does); posts left without hashtags dropped (counted).
Frequencies are counted over all posts, as the papers do, before splitting.
"""

from __future__ import annotations

import inspect
import logging
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from hashtag_kit.data import get_loader, load_dataset
from hashtag_kit.data.images import check_image
from hashtag_kit.data.posts import Post, write_posts
from hashtag_kit.data.splits import make_splits, official_test_part
from hashtag_kit.report import RunReport
from hashtag_kit.run import PREPROCESS, RunDir, write_json, write_metrics

log = logging.getLogger("hashtag_kit")

RUN_MODES = ("smoke", "full")


@dataclass
class PreprocessConfig:
    """Settings of stage 01. `smoke()` shrinks the data for a run of a few minutes.

    Args:
        dataset: a name `hashtag_kit.data.load_dataset` knows ("embedded", "posts", "coco", ...).
        data_dir: the dataset folder; None for the embedded dataset's default folder.
        run_mode: "smoke" or "full".
        seed: seeds the embedded generator and the splits.
        min_tag_freq: tags used on fewer posts are dropped.
        max_posts: keep at most this many posts (loader `limit`); None keeps all.
        n_embedded_posts: size of the generated embedded dataset.
        val_fraction, test_fraction: split sizes.
        require_hashtags: drop posts left without hashtags (True for recommendation data).
        loader_options: extra keyword options for the loader (e.g. {"split": "val"}).
    """

    dataset: str = "embedded"
    data_dir: str | None = None
    run_mode: str = "full"
    seed: int = 0
    min_tag_freq: int = 3
    max_posts: int | None = None
    n_embedded_posts: int = 1200
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    require_hashtags: bool = True
    loader_options: dict | None = None

    def resolved(self) -> PreprocessConfig:
        """The config with run-mode shrinking applied (smoke: at most 2,000 posts, so the
        embedded dataset keeps its 1,200: fewer made notebook 02's fusion comparison depend on
        the seed, docs/results.md "Seed study")."""
        if self.run_mode not in RUN_MODES:
            raise ValueError(f"run_mode must be one of {RUN_MODES}, got {self.run_mode!r}")
        if self.run_mode == "smoke":
            return replace(self, max_posts=min(self.max_posts or 2000, 2000))
        return self


def load(cfg: PreprocessConfig, report: RunReport) -> list[Post]:
    """Load the configured dataset through the loader registry."""
    options = dict(cfg.loader_options or {})
    # captioning data (Flickr8k, Stanford, COCO images without objects) has no hashtags: the
    # loader must keep such posts when the run does not require hashtags
    if "require_hashtags" in inspect.signature(get_loader(cfg.dataset)).parameters:
        options.setdefault("require_hashtags", cfg.require_hashtags)
    if cfg.dataset == "embedded":
        options.setdefault("n_posts", cfg.n_embedded_posts)
        options.setdefault("seed", cfg.seed)
    return load_dataset(cfg.dataset, cfg.data_dir, report, limit=cfg.max_posts, **options)


def drop_unreadable_images(posts: list[Post], report: RunReport) -> list[Post]:
    """Posts whose image cannot be read keep their text and tags but lose the image (counted)."""
    out = []
    for p in posts:
        reason = check_image(p.image) if p.image else None
        if reason:
            where = f"post {p.id} ({p.image})"
            report.note("unreadable_image_treated_as_missing", where, reason)
            p = replace(p, image=None, meta={**p.meta, "image_error": reason})
        out.append(p)
    return out


def dedupe_tags(posts: list[Post]) -> list[Post]:
    return [replace(p, hashtags=list(dict.fromkeys(p.hashtags))) for p in posts]


def filter_rare_tags(
    posts: list[Post], min_freq: int, report: RunReport, require_hashtags: bool = True
) -> list[Post]:
    """Drop tags used on fewer than `min_freq` posts; then posts left with none (counted)."""
    counts = Counter(t for p in posts for t in p.hashtags)
    keep = {t for t, c in counts.items() if c >= min_freq}
    dropped = len(counts) - len(keep)
    if dropped:
        report.note("rare_tags_dropped", f"min_tag_freq={min_freq}", f"{dropped} distinct tags")
    out = []
    for p in posts:
        tags = [t for t in p.hashtags if t in keep]
        if not tags and require_hashtags:
            why = "no hashtag left" if p.hashtags else "no hashtags"
            report.skip("post_without_frequent_hashtags", f"post {p.id}", why)
            continue
        out.append(replace(p, hashtags=tags))
    return out


def build_vocab(posts: list[Post], min_freq: int) -> dict:
    """Hashtag vocabulary: most frequent first, ties alphabetical."""
    counts = Counter(t for p in posts for t in p.hashtags)
    tags = sorted(counts, key=lambda t: (-counts[t], t))
    return {"hashtags": tags, "counts": {t: counts[t] for t in tags}, "min_freq": min_freq}


def dataset_stats(posts: list[Post]) -> dict:
    """What a researcher looks at first: sizes, tags per post, modality coverage."""
    n = len(posts)
    tags_per_post = np.array([len(p.hashtags) for p in posts]) if posts else np.zeros(1)
    words = np.array([len(p.text.split()) if p.has_text else 0 for p in posts]) if posts else [0]
    users = {p.user for p in posts if p.user}
    return {
        "n_posts": n,
        "n_users": len(users),
        "n_hashtags": len({t for p in posts for t in p.hashtags}),
        "tags_per_post_mean": float(np.mean(tags_per_post)),
        "tags_per_post_max": int(np.max(tags_per_post)),
        "caption_words_mean": float(np.mean(words)),
        "with_image": sum(p.has_image for p in posts),
        "with_text": sum(p.has_text for p in posts),
        "with_both": sum(p.has_image and p.has_text for p in posts),
        "with_captions": sum(bool(p.captions) for p in posts),
        "with_paragraph": sum(bool(p.paragraph) for p in posts),
    }


def preprocess(run_dir: str | Path, cfg: PreprocessConfig) -> dict:
    """Run stage 01 into `run_dir`; returns {"posts", "splits", "vocab", "report", "stats"}."""
    cfg = cfg.resolved()
    rd = RunDir(run_dir)
    stage = rd.stage(PREPROCESS)
    report = RunReport()

    posts = load(cfg, report)
    n_loaded = len(posts)
    posts = drop_unreadable_images(posts, report)
    posts = dedupe_tags(posts)
    posts = filter_rare_tags(posts, cfg.min_tag_freq, report, cfg.require_hashtags)
    if not posts:
        raise ValueError(
            f"no post of dataset {cfg.dataset!r} survived cleaning ({report.summary()}); "
            f"see {stage / 'report.json'}"
        )
    splits = make_splits(posts, cfg.seed, cfg.val_fraction, cfg.test_fraction)
    vocab = build_vocab(posts, cfg.min_tag_freq)
    stats = dataset_stats(posts)
    official_test = official_test_part(splits)
    if official_test == "val":
        report.note(
            "official_test_images_withheld",
            f"dataset {cfg.dataset}",
            "no test-list post has an image: the official split is scored on its val (dev) part",
        )

    write_posts(stage / "posts.jsonl", posts)
    write_json(stage / "splits.json", splits)
    write_json(stage / "vocab.json", vocab)
    report.write(stage / "report.json")
    config = asdict(cfg)
    rd.update_meta(
        dataset=cfg.dataset,
        data_dir=str(cfg.data_dir) if cfg.data_dir else None,
        seed=cfg.seed,
        run_mode=cfg.run_mode,
        preprocess=config,
        official_test_part=official_test,
    )
    split_sizes = {name: {part: len(ids) for part, ids in s.items()} for name, s in splits.items()}
    metrics = {"n_loaded": n_loaded, "stats": stats, "splits": split_sizes}
    write_metrics(stage, {**metrics, "report": report.to_dict(), "config": config}, rd)
    log.info("preprocess: %d posts kept of %d; %s", len(posts), n_loaded, report.summary())
    return {"posts": posts, "splits": splits, "vocab": vocab, "report": report, "stats": stats}
