"""Benchmark: posts/s of batch `Recommender.recommend_batch` from cached features.

    python -m hashtag_kit bench recommend [--run outputs/default] [--posts 512] [-k 7]
                                          [--beam-widths 1,3] [--tiny]

With `--run` holding a trained notebook-02 model, that model is timed on the run's cached test
features (no encoding: the features come from the cache, as for evaluation). Otherwise a fresh
`HashtagEncoderDecoder` with random weights at the offline encoders' sizes (1280-d image,
512-d text, `--tags` tags, 256 units) decodes random features; the output says which. Decoding
speed does not depend on what the weights learned, only on sizes, K and the beam width.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hashtag_kit.bench.training import IMAGE_DIM, TEXT_DIM, _machine


def random_recommender(n_tags: int, units: int, image_dim: int, text_dim: int, seed: int = 0):
    """A `Recommender` around an untrained model of the given sizes (for timing only)."""
    import keras

    from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder
    from hashtag_kit.recommender import Recommender
    from hashtag_kit.vocabulary import N_SPECIAL, SPECIAL_TOKENS

    keras.utils.set_random_seed(seed)
    model = HashtagEncoderDecoder(
        vocab_size=n_tags + N_SPECIAL,
        image_dim=image_dim,
        text_dim=text_dim,
        units=units,
        embed_dim=max(units // 2, 4),
    )
    model.build()
    tokens = SPECIAL_TOKENS + [f"tag{i}" for i in range(n_tags)]
    users = {f"u{i}": [N_SPECIAL + (i * 7 + j) % n_tags for j in range(5)] for i in range(50)}
    config = {
        "format_version": 1,
        "image_encoder": {"name": "random", "dim": image_dim},
        "text_encoder": {"name": "random", "dim": text_dim},
        "history_len": 8,
        "existing_len": 4,
    }
    return Recommender(model, tokens, users, config, source="random weights")


def random_features(n: int, image_dim: int, text_dim: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "image": rng.normal(size=(n, image_dim)).astype("float32"),
        "image_mask": (rng.random(n) > 0.1).astype("float32"),
        "text": rng.normal(size=(n, text_dim)).astype("float32"),
        "text_mask": np.ones(n, "float32"),
    }


def run_inputs(run_dir: str, n: int):
    """The run's trained recommender and its cached test features."""
    from hashtag_kit.encoders.cache import load_features
    from hashtag_kit.recommender import Recommender
    from hashtag_kit.run import RunDir

    rd = RunDir(run_dir)
    rec = Recommender.load(rd.path)
    posts = rd.split_posts("random")["test"][:n]
    ids = [p.id for p in posts]
    enc_img = (rec.config.get("image_encoder") or {}).get("name", "auto")
    enc_txt = (rec.config.get("text_encoder") or {}).get("name", "auto")
    feats = {
        "image": load_features(rd.path, "image", enc_img, ids=ids),
        "text": load_features(rd.path, "text", enc_txt, ids=ids),
    }
    return rec, posts, feats, f"trained model and cached test features of {run_dir}"


def measure(rec, posts, features, k: int, beam_width: int, repeats: int = 1) -> dict:
    """Posts/s of `recommend_batch` (one warm-up call excluded)."""
    users = [p.user for p in posts] if posts is not None else None
    rec.recommend_batch(posts, features=features, users=users, k=k, beam_width=beam_width)
    n = len(posts) if posts is not None else len(next(iter(features.values())))
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = rec.recommend_batch(posts, features=features, users=users, k=k, beam_width=beam_width)
    dt = (time.perf_counter() - t0) / repeats
    assert len(out) == n
    return {"posts": n, "k": k, "beam_width": beam_width, "seconds": dt, "posts_per_s": n / dt}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hashtag_kit bench recommend", description=__doc__
    )
    parser.add_argument("--run", help="run directory with a trained model (else random weights)")
    parser.add_argument("--posts", type=int, default=512)
    parser.add_argument("-k", type=int, default=7)
    parser.add_argument("--beam-widths", default="1,3", help="comma separated")
    parser.add_argument("--tags", type=int, default=1000, help="tag vocabulary (random model)")
    parser.add_argument("--units", type=int, default=256, help="units (random model)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (tests)")
    args, _ = parser.parse_known_args(argv)
    if args.tiny:
        args.posts, args.tags, args.units = 16, 30, 16
    if args.run:
        rec, posts, feats, source = run_inputs(args.run, args.posts)
    else:
        dims = (64, 32) if args.tiny else (IMAGE_DIM, TEXT_DIM)
        rec = random_recommender(args.tags, args.units, *dims)
        posts, feats = None, random_features(args.posts, *dims)
        source = (
            f"random weights and random features ({dims[0]}-d image, {dims[1]}-d text), "
            f"{args.tags} tags, {args.units} units"
        )
    print(f"data: {source}")
    print(f"machine: {_machine()}")
    print(f"{'posts':>6} {'k':>3} {'beam':>5} {'seconds':>8} {'posts/s':>9}")
    for width in [int(w) for w in args.beam_widths.split(",") if w.strip()]:
        r = measure(rec, posts, feats, args.k, width)
        print(
            f"{r['posts']:>6} {r['k']:>3} {r['beam_width']:>5} {r['seconds']:>8.3f} "
            f"{r['posts_per_s']:>9.1f}"
        )
    return 0
