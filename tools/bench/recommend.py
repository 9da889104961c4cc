"""Benchmark: batch and single recommendations beside their compiled floors.

    python -m hashtag_kit bench recommend [--run outputs/default] [--posts 512] [-k 7]
                                          [--beam-widths 1,3] [--repeats 3] [--tiny]

**Batch** (issue 16: beam 1 >= 40%, beam 3 >= 25% of the bare forward): posts/s of
`Recommender.recommend_batch` from cached features (no encoding, as for evaluation), beside
the bare compiled forward pass of the same model over as many rows (each post once per beam)
and K decoder steps, teacher forced (its call in a `tf.function`): the decoder work of the
search without the search. With `--run` holding a trained notebook-02 model, that model on the
run's cached test features; otherwise a fresh `HashtagEncoderDecoder` with random weights at
the offline encoders' sizes (1280-d image, 512-d text, `--tags` tags, 256 units) on random
features; the output says which. Decoding speed does not depend on what the weights learned,
only on sizes, K and the beam width.

**Single** (`--run` only; issue 16: within 1.5x): a warm `Recommender.recommend` of the run's
first test post with a photo and a caption (photo path + caption, as a user calls it), beside
the sum of its floors: the image encoder's compiled forward on the prepared photo, the text
encoder on the caption, and the model's compiled decode of the post's features.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hashtag_kit.cli import integer
from hashtag_kit.data.images import load_image
from hashtag_kit.features.cache import load_features
from hashtag_kit.recommender import Recommender
from hashtag_kit.run import RunDir
from hashtag_kit.vocabulary import N_SPECIAL, SPECIAL_TOKENS
from tools.bench.cli import _bare_inputs, pick_post
from tools.bench.training import IMAGE_DIM, TEXT_DIM, _machine

#: issue 16: recommend_batch posts/s as a fraction of the bare forward's, per beam width
TARGETS = {1: 0.40, 3: 0.25}
WIDTHS = (6, 3, 5, 8, 9, 9, 7, 7)  # the batch table's columns
#: issue 16: a warm single recommend within this factor of the sum of its floors
TARGET_SINGLE = 1.5


def random_recommender(n_tags: int, units: int, image_dim: int, text_dim: int, seed: int = 0):
    """A `Recommender` around an untrained model of the given sizes (for timing only)."""
    # lazy: TensorFlow / Keras take seconds to import
    import keras

    from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder

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

    def batch():
        return rec.recommend_batch(
            posts, features=features, users=users, k=k, beam_width=beam_width
        )

    batch()
    dt = _best_of(batch, repeats)
    n = len(posts) if posts is not None else len(next(iter(features.values())))
    assert len(batch()) == n
    return {"posts": n, "k": k, "beam_width": beam_width, "seconds": dt, "posts_per_s": n / dt}


def measure_forward(rec, posts, features, k: int, beam_width: int, repeats: int = 1) -> float:
    """Posts/s of the model's bare compiled forward pass (its call in a `tf.function`) on the
    posts' features, each post `beam_width` times, teacher forced over `k` decoder steps: the
    decoder work of a beam search without the search."""
    # lazy: TensorFlow / Keras take seconds to import
    import tensorflow as tf

    feats = rec._batch_features(posts, features, None)  # image, image_mask, text, text_mask
    n = len(feats["image"])
    users = [p.user for p in posts] if posts is not None else [None] * n
    x = rec._inputs(feats, [rec._history(u)[0] for u in users], [[]] * n, 0)
    x.pop("existing")  # the same inputs the model had in training
    x["decoder_in"] = np.ones((n, k), "int32")
    x = {key: np.repeat(v, beam_width, axis=0) for key, v in x.items()}
    forward = tf.function(lambda x: rec.model(x, training=False), reduce_retracing=True)
    forward(x)  # traced
    return n / _best_of(lambda: forward(x).numpy(), repeats)


def _best_of(fn, repeats: int) -> float:
    """The fastest of `repeats` timed calls, seconds (the machine is shared and noisy)."""
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure_single(run_dir: str, k: int, beam_width: int, repeats: int) -> dict:
    """Seconds of a warm `recommend(image=path, text=caption)` and of each of its floors."""
    photo, caption = pick_post(run_dir, None, None)
    rec = Recommender.load(run_dir)
    enc = rec.image_encoder
    prepared = enc.prepare(load_image(photo))[None]
    x = _bare_inputs(rec, rec.encode_texts([caption]))
    x["image"] = rec.encode_images([load_image(photo)])

    floors = {
        "image encoder forward (compiled, prepared photo)": lambda: enc.encode(
            prepared, grid=False
        ),
        "text encoder (caption)": lambda: rec.encode_texts([caption]),
        "decode (compiled beam search)": lambda: rec.model.decode(x, k=k, beam_width=beam_width),
    }
    out = {}
    for name, fn in floors.items():
        fn()
        out[name] = _best_of(fn, repeats)

    def recommend():
        return rec.recommend(image=photo, text=caption, k=k, beam_width=beam_width)

    recommend()
    out["recommend"] = _best_of(recommend, repeats)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashtag_kit bench recommend", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--run", help="run directory with a trained model (else random weights)")
    parser.add_argument("--posts", type=integer(1), default=512)
    parser.add_argument("-k", type=integer(1), default=7)
    parser.add_argument("--beam-widths", default="1,3", help="comma separated")
    parser.add_argument(
        "--repeats", type=integer(1), default=3, help="timed calls (the best is kept)"
    )
    parser.add_argument(
        "--tags", type=integer(1), default=1000, help="tag vocabulary (random model)"
    )
    parser.add_argument("--units", type=integer(1), default=256, help="units (random model)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (tests)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.tiny:
        args.posts, args.tags, args.units, args.repeats = 16, 30, 16, 1
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
    widths = [int(w) for w in args.beam_widths.split(",") if w.strip()]
    print(
        "batch: recommend_batch from cached features beside the bare compiled forward over as "
        f"many rows (posts x beam) and K steps; best of {args.repeats}"
    )
    head = ("posts", "k", "beam", "seconds", "posts/s", "fwd/s", "of fwd", "target")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, WIDTHS, strict=True)))
    for width in widths:
        r = measure(rec, posts, feats, args.k, width, args.repeats)
        forward = measure_forward(rec, posts, feats, args.k, width, args.repeats)
        row = (r["posts"], r["k"], width, f"{r['seconds']:.3f}", f"{r['posts_per_s']:.1f}")
        row += (
            f"{forward:.1f}",
            f"{r['posts_per_s'] / forward:.3f}",
            f"{TARGETS.get(width, 0):.2f}",
        )
        print(" ".join(f"{v:>{w}}" for v, w in zip(row, WIDTHS, strict=True)))
    if not args.run:
        print("single: needs --run (the run's own image and text encoders)")
        return 0
    width = max(widths)
    single = measure_single(args.run, args.k, width, max(args.repeats, 5))
    total = single.pop("recommend")
    floor = sum(single.values())
    print(f"single: warm recommend(image=path, text=caption), k={args.k}, beam {width}")
    for name, seconds in single.items():
        print(f"  floor: {name:<52} {seconds * 1000:>8.1f} ms")
    print(f"  sum of the floors {'':<52} {floor * 1000:>8.1f} ms")
    print(f"  recommend {'':<60} {total * 1000:>8.1f} ms")
    met = "met" if total <= TARGET_SINGLE * floor else "NOT met"
    print(f"ratio recommend / floors: {total / floor:.2f}x (target <= {TARGET_SINGLE}x: {met})")
    return 0
