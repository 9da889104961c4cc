"""Benchmark: training speed of the encoder-decoder (ms/step and examples/s).

    python -m hashtag_kit bench train [--run outputs/default] [--batch-size 64] [--steps 20]
                                      [--units 256] [--tags 1000] [--tiny]

With `--run`, the batches are the run's cached training features (notebook 01's cache; the
embedded smoke data in a smoke run) and the run's tag vocabulary; otherwise random features of
the offline encoders' sizes (EfficientNet-Lite0 1280-d image, USE 512-d text) and `--tags`
random tags. The output says which. One step = one `train_on_batch` of a batch through
`HashtagEncoderDecoder` with `HashtagSetLoss` and Adam (the training recipe of notebook 02);
warm-up steps (graph tracing) are excluded and reported separately.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

IMAGE_DIM, TEXT_DIM = 1280, 512
HISTORY_LEN, TAGS_PER_POST = 8, 6


def random_batches(
    n_tags: int, batch_size: int, seed: int = 0, image_dim=IMAGE_DIM, text_dim=TEXT_DIM
):
    """One batch of random inputs and order-free targets of realistic shapes."""
    from hashtag_kit.vocabulary import N_SPECIAL, START

    rng = np.random.default_rng(seed)
    tags = np.zeros((batch_size, TAGS_PER_POST), "int32")
    for i in range(batch_size):
        n = int(rng.integers(1, TAGS_PER_POST + 1))
        tags[i, :n] = rng.choice(np.arange(N_SPECIAL, N_SPECIAL + n_tags), n, replace=False)
    x = {
        "image": rng.normal(size=(batch_size, image_dim)).astype("float32"),
        "image_mask": (rng.random(batch_size) > 0.1).astype("float32"),
        "text": rng.normal(size=(batch_size, text_dim)).astype("float32"),
        "text_mask": (rng.random(batch_size) > 0.2).astype("float32"),
        "history": rng.integers(N_SPECIAL, N_SPECIAL + n_tags, (batch_size, HISTORY_LEN)).astype(
            "int32"
        ),
        "decoder_in": np.concatenate([np.full((batch_size, 1), START, "int32"), tags], axis=1),
    }
    return x, tags


def run_batches(run_dir: str, batch_size: int):
    """A batch of the run's cached training features and its vocabulary size."""
    from hashtag_kit.encoders.cache import load_features
    from hashtag_kit.run import RunDir
    from hashtag_kit.vocabulary import N_SPECIAL, START

    rd = RunDir(run_dir)
    train = rd.split_posts("random")["train"][:batch_size]
    vocab = rd.load_vocab()["hashtags"]
    tag_id = {t: i + N_SPECIAL for i, t in enumerate(vocab)}
    ids = [p.id for p in train]
    img, txt = load_features(rd.path, "image", ids=ids), load_features(rd.path, "text", ids=ids)
    n = len(train)
    tags = np.zeros((n, TAGS_PER_POST), "int32")
    for i, p in enumerate(train):
        t = [tag_id[x] for x in p.hashtags if x in tag_id][:TAGS_PER_POST]
        tags[i, : len(t)] = t
    x = {
        "image": img.pooled.astype("float32"),
        "image_mask": img.mask.astype("float32"),
        "text": txt.pooled.astype("float32"),
        "text_mask": txt.mask.astype("float32"),
        "history": np.zeros((n, HISTORY_LEN), "int32"),
        "decoder_in": np.concatenate([np.full((n, 1), START, "int32"), tags], axis=1),
    }
    return x, tags, len(vocab), f"cached features of {run_dir} ({n} training posts)"


def measure(x, y, n_tags: int, units: int, steps: int, warmup: int = 2, seed: int = 0) -> dict:
    """Time `steps` training steps of a fresh model on one batch; returns the figures."""
    import keras

    from hashtag_kit.models.encoder_decoder import HashtagEncoderDecoder, HashtagSetLoss
    from hashtag_kit.vocabulary import N_SPECIAL

    keras.utils.set_random_seed(seed)
    model = HashtagEncoderDecoder(
        vocab_size=n_tags + N_SPECIAL,
        image_dim=x["image"].shape[1],
        text_dim=x["text"].shape[1],
        units=units,
        embed_dim=max(units // 2, 4),
        seed=seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=HashtagSetLoss())
    t0 = time.perf_counter()
    for _ in range(warmup):
        model.train_on_batch(x, y)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    dt = (time.perf_counter() - t0) / steps
    batch = len(y)
    params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return {
        "batch_size": batch,
        "units": units,
        "vocab_size": n_tags + N_SPECIAL,
        "trainable_params": params,
        "ms_per_step": 1000 * dt,
        "examples_per_s": batch / dt,
        "warmup_s": warm,
        "final_loss": float(np.ravel(loss)[0]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashtag_kit bench train", description=__doc__)
    parser.add_argument("--run", help="run directory with cached features (else random features)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--tags", type=int, default=1000, help="tag vocabulary (random data)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (tests)")
    args, _ = parser.parse_known_args(argv)
    if args.tiny:
        args.batch_size, args.steps, args.units, args.tags = 8, 3, 16, 30
    if args.run:
        x, y, n_tags, source = run_batches(args.run, args.batch_size)
    else:
        dims = (64, 32) if args.tiny else (IMAGE_DIM, TEXT_DIM)
        x, y = random_batches(args.tags, args.batch_size, image_dim=dims[0], text_dim=dims[1])
        n_tags = args.tags
        source = f"random features ({dims[0]}-d image, {dims[1]}-d text), {n_tags} random tags"
    r = measure(x, y, n_tags, args.units, args.steps)
    print(f"data: {source}")
    print(f"machine: {_machine()}")
    print(
        f"model: HashtagEncoderDecoder units={r['units']} vocab={r['vocab_size']} "
        f"trainable_params={r['trainable_params']:,}"
    )
    print(f"{'batch':>6} {'ms/step':>9} {'examples/s':>11} {'warm-up s':>10}")
    print(
        f"{r['batch_size']:>6} {r['ms_per_step']:>9.1f} {r['examples_per_s']:>11.1f} "
        f"{r['warmup_s']:>10.2f}"
    )
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _machine() -> str:
    """Processor, cores and the 1-minute load average (the figures depend on sharing)."""
    import os

    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{platform.processor() or platform.machine()}, {_cpus()} CPU cores, no GPU{load}"
