"""Benchmark: caption training speed, the kit's loop against the TensorFlow tutorial's loop.

    python -m hashtag_kit bench caption [--data DIR] [--units 512] [--embed-dim 256]
        [--attention-units 256] [--vocab 0] [--regions 49] [--batch 64] [--length 20]
        [--steps 6] [--epochs 2] [--tiny]

Both loops train on the same data, in one run, and the output prints them side by side:

- **kit**: `hashtag_kit.captioning.train_caption_model` on a `ShowAttendTellDecoder` (Keras
  `fit`, teacher forcing in one `tf.scan`, Adam).
- **tutorial**: the training loop of the TensorFlow tutorial "Image captioning with visual
  attention" (tensorflow.org/tutorials/text/image_captioning, the Bahdanau-attention GRU
  decoder version), written here as the tutorial writes it: a `@tf.function` `train_step` with
  a gradient tape and a Python `for i in range(1, target.shape[1])` loop that calls
  `decoder(dec_input, features, hidden)` once per word, sums a per-step masked loss and applies
  Adam. Its decoder's `units` are chosen so that its trainable parameters are within 2% of the
  kit model's (both counts are printed); the vocabulary, batch size and caption length are the
  same.

Data: `--steps` batches of random float16 grids of `--regions` x 1280 (49: EfficientNet-Lite0's
7x7 grid; 196: `efficientnet_lite0_448`'s 14x14, the Flickr8k preset's) and random
word ids with caption lengths drawn like Flickr8k's training captions (10.8 +- 3.7 words, cut
at `--length` - 1). The vocabulary is `--vocab` words, or, with `--data DIR` (a folder with
`Flickr8k.token.txt` and the split lists), the size of a `CaptionTokenizer` fitted with
min_count 5 on the train list's captions (whose lengths are then sampled instead), else 4,509.

Throughput is warm, in captions (training pairs) per second: a batch over the median time of a
step, timed from fetching its batch to the end of its update (Keras fetches the batch inside the
step; the tutorial loop is timed the same way), over `--epochs` epochs after a first one that
includes tracing. The median resists other programs' bursts on a shared machine; the wall time
of the same epochs is printed beside it ("wall captions/s"). For the kit the timed epochs are
those of a second `train_caption_model` call on the model after a first 1-epoch call; both
calls' wall times and first steps are printed (a first step well above a warm one is tracing).
The default run (Flickr8k sizes) takes about 2-3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hashtag_kit.cli import integer
from hashtag_kit.data.flickr8k import load_flickr8k
from hashtag_kit.report import RunReport
from hashtag_kit.vocabulary import END, START
from tools.bench.training import _machine

REGIONS, CHANNELS = 49, 1280  # EfficientNet-Lite0's 7x7x1280 grid
DEFAULT_VOCAB = 4509  # Flickr8k's vocabulary at the previous measurement
TARGET_RATIO = 1.3
FLICKR8K_WORDS = (10.8, 3.7)  # mean, sd of the words per Flickr8k train caption


def flickr8k_vocabulary_and_lengths(data_dir: str) -> tuple[int, np.ndarray, str]:
    """(vocabulary size, words per caption, a description) of the Flickr8k train captions in
    `data_dir`; the vocabulary of a `CaptionTokenizer` fitted on them with min_count 5."""
    # lazy: TensorFlow / Keras take seconds to import
    from hashtag_kit.captioning import CaptionTokenizer, caption_words

    posts = load_flickr8k(data_dir, RunReport(), split="train")
    captions = [c for p in posts for c in p.captions]
    if not captions:
        raise ValueError(f"{data_dir}: no captions in the Flickr8k train list")
    tokenizer = CaptionTokenizer.fit(captions, min_count=5)
    lengths = np.array([len(caption_words(c)) for c in captions])
    source = (
        f"Flickr8k train captions of {data_dir} ({len(captions):,}): vocabulary at min_count 5 "
        f"and caption lengths"
    )
    return tokenizer.vocab_size, lengths, source


def synthetic_caption_data(
    n_pairs: int,
    vocab_size: int,
    max_length: int,
    *,
    word_counts: np.ndarray | None = None,
    captions_per_image: int = 5,
    regions: int = REGIONS,
    channels: int = CHANNELS,
    seed: int = 0,
):
    """A `CaptionData` of random float16 grids and random captions of realistic lengths.

    Args:
        n_pairs: (image, caption) pairs; images get `captions_per_image` captions each.
        vocab_size: word ids are drawn uniformly from the non-special ids 4 .. vocab_size - 1.
        max_length: tokens after `<start>` (captions longer than max_length - 1 words are cut).
        word_counts: caption lengths (in words) to sample from; default normal(10.8, 3.7).
        regions, channels: grid size of each image.
        seed: random seed.

    Returns:
        `CaptionData` with grid (n_images, regions, channels) float16 and pair_tokens
        (n_pairs, max_length + 1) `[<start>, w1, ..., <end>, 0, ...]`.
    """
    # lazy: TensorFlow / Keras take seconds to import
    from hashtag_kit.captioning import CaptionData

    rng = np.random.default_rng(seed)
    n_images = -(-n_pairs // captions_per_image)
    grid = rng.normal(size=(n_images, regions, channels)).astype("float16")
    if word_counts is None:
        words = np.rint(rng.normal(*FLICKR8K_WORDS, size=n_pairs)).astype(int)
    else:
        words = rng.choice(np.asarray(word_counts), size=n_pairs)
    words = np.clip(words, 1, max_length - 1)
    tokens = np.zeros((n_pairs, max_length + 1), "int32")
    tokens[:, 0] = START
    for i, n in enumerate(words):
        tokens[i, 1 : n + 1] = rng.integers(4, vocab_size, size=n)
        tokens[i, n + 1] = END
    ids = [f"img{i}" for i in range(n_images)]
    return CaptionData(
        ids=ids,
        grid=grid,
        references={i: [] for i in ids},
        images={i: None for i in ids},
        pair_image=np.arange(n_pairs) // captions_per_image,
        pair_tokens=tokens,
    )


# -- the tutorial's decoder and training loop (a reference, not a library model) --------------


def tutorial_models(vocab_size: int, embedding_dim: int, units: int):
    """The tutorial's `CNN_Encoder` and `RNN_Decoder` (with `BahdanauAttention`), as written there.

    The decoder's GRU is called on `[context; embedded word]` without an initial state, as in the
    tutorial (the previous hidden state reaches a step only through the attention query);
    feeding the state in would not change the matmuls a step does.
    """
    # lazy: TensorFlow / Keras take seconds to import
    import keras
    import tensorflow as tf

    class BahdanauAttention(keras.Model):
        def __init__(self, units):
            super().__init__()
            self.W1 = keras.layers.Dense(units)
            self.W2 = keras.layers.Dense(units)
            self.V = keras.layers.Dense(1)

        def call(self, features, hidden):
            hidden_with_time_axis = tf.expand_dims(hidden, 1)  # (batch, 1, units)
            attention_hidden_layer = tf.nn.tanh(
                self.W1(features) + self.W2(hidden_with_time_axis)
            )  # (batch, regions, units)
            score = self.V(attention_hidden_layer)  # (batch, regions, 1)
            attention_weights = tf.nn.softmax(score, axis=1)
            context_vector = tf.reduce_sum(attention_weights * features, axis=1)
            return context_vector, attention_weights

    class CNN_Encoder(keras.Model):  # noqa: N801 (the tutorial's name)
        def __init__(self, embedding_dim):
            super().__init__()
            self.fc = keras.layers.Dense(embedding_dim)

        def call(self, x):
            return tf.nn.relu(self.fc(x))  # (batch, regions, embedding_dim)

    class RNN_Decoder(keras.Model):  # noqa: N801 (the tutorial's name)
        def __init__(self, embedding_dim, units, vocab_size):
            super().__init__()
            self.units = units
            self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
            self.gru = keras.layers.GRU(
                self.units,
                return_sequences=True,
                return_state=True,
                recurrent_initializer="glorot_uniform",
            )
            self.fc1 = keras.layers.Dense(self.units)
            self.fc2 = keras.layers.Dense(vocab_size)
            self.attention = BahdanauAttention(self.units)

        def call(self, x, features, hidden):
            context_vector, attention_weights = self.attention(features, hidden)
            x = self.embedding(x)  # (batch, 1, embedding_dim)
            x = tf.concat([tf.expand_dims(context_vector, 1), x], axis=-1)
            output, state = self.gru(x)
            x = self.fc1(output)  # (batch, 1, units)
            x = tf.reshape(x, (-1, x.shape[2]))
            x = self.fc2(x)  # (batch, vocab)
            return x, state, attention_weights

        def reset_state(self, batch_size):
            return tf.zeros((batch_size, self.units))

    return CNN_Encoder(embedding_dim), RNN_Decoder(embedding_dim, units, vocab_size)


def tutorial_params(vocab_size: int, embedding_dim: int, units: int, channels: int) -> int:
    """Trainable parameters of the tutorial's encoder + decoder (Keras 3 GRU, reset_after)."""
    e, u, v = embedding_dim, units, vocab_size
    encoder = channels * e + e
    attention = (e * u + u) + (u * u + u) + (u + 1)
    gru = 3 * u * (2 * e + u + 2)  # input [context; word] of 2e, recurrent u, two biases
    return encoder + v * e + attention + gru + (u * u + u) + (u * v + v)


def matched_units(target: int, vocab_size: int, embedding_dim: int, channels: int) -> int:
    """The tutorial decoder's units whose parameter count is closest to `target`."""
    return min(
        range(1, 8193),
        key=lambda u: abs(tutorial_params(vocab_size, embedding_dim, u, channels) - target),
    )


def tutorial_loop(data, vocab_size: int, embedding_dim: int, units: int, batch_size: int):
    """(train_step, one epoch's tf.data batches, trainable parameters) of the tutorial's loop on
    `data` (grids gathered from memory and cast to float32 per batch, shuffled each epoch)."""
    # lazy: TensorFlow / Keras take seconds to import
    import keras
    import tensorflow as tf

    encoder, decoder = tutorial_models(vocab_size, embedding_dim, units)
    optimizer = keras.optimizers.Adam()
    loss_object = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
    start = START

    def loss_function(real, pred):
        mask = tf.math.logical_not(tf.math.equal(real, 0))
        loss_ = loss_object(real, pred)
        loss_ *= tf.cast(mask, dtype=loss_.dtype)
        return tf.reduce_mean(loss_)

    @tf.function
    def train_step(img_tensor, target):
        loss = 0.0
        hidden = decoder.reset_state(batch_size=target.shape[0])
        dec_input = tf.expand_dims([start] * target.shape[0], 1)
        with tf.GradientTape() as tape:
            features = encoder(img_tensor)
            for i in range(1, target.shape[1]):
                predictions, hidden, _ = decoder(dec_input, features, hidden)
                loss += loss_function(target[:, i], predictions)
                dec_input = tf.expand_dims(target[:, i], 1)  # teacher forcing
        total_loss = loss / int(target.shape[1])
        trainable_variables = encoder.trainable_variables + decoder.trainable_variables
        gradients = tape.gradient(loss, trainable_variables)
        optimizer.apply_gradients(zip(gradients, trainable_variables, strict=True))
        return loss, total_loss

    grid = tf.constant(data.grid)  # float16, as cached
    dataset = (
        tf.data.Dataset.from_tensor_slices((data.pair_image, data.pair_tokens))
        .shuffle(len(data.pair_tokens), seed=0)
        .batch(batch_size, drop_remainder=True)
        .map(lambda i, t: (tf.cast(tf.gather(grid, i), tf.float32), t))
        .prefetch(tf.data.AUTOTUNE)
    )
    # build the models on one batch so their parameters can be counted before training
    img, target = next(iter(dataset))
    decoder(target[:, :1], encoder(img), decoder.reset_state(batch_size))
    variables = encoder.trainable_variables + decoder.trainable_variables
    params = int(sum(np.prod(v.shape) for v in variables))
    return train_step, dataset, params


# -- measurement -------------------------------------------------------------------------------


def measure_kit(data, args, vocab_size: int) -> dict:
    """Time two `train_caption_model` calls on one model: 1 epoch, then 1 + `args.epochs`.

    A step is timed from the batch's begin to its end (Keras fetches the batch inside the
    step); the warm step is the median over the second call's epochs after its first, and the
    warm wall time is those epochs' wall time. Each call's first step shows its tracing.
    """
    # lazy: TensorFlow / Keras take seconds to import
    import keras

    from hashtag_kit.captioning import train_caption_model
    from hashtag_kit.models.caption_decoder import ShowAttendTellDecoder
    from hashtag_kit.training import StepTimer

    keras.utils.set_random_seed(0)
    model = ShowAttendTellDecoder(
        vocab_size,
        embed_dim=args.embed_dim,
        units=args.units,
        attention_units=args.attention_units,
    )
    model([data.grid[:1].astype("float32"), data.pair_tokens[:1, :-1]])  # build
    params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    calls = []
    for epochs in (1, 1 + args.epochs):
        timer = StepTimer()
        t0 = time.perf_counter()
        train_caption_model(model, data, epochs=epochs, batch_size=args.batch, callbacks=[timer])
        seconds = time.perf_counter() - t0
        calls.append({"s": seconds, "epochs": epochs, "first_step_s": timer.steps[0][0]})
    step_s = float(np.median([t for epoch in timer.steps[1:] for t in epoch]))
    return {
        "params": params,
        "step_s": step_s,
        "captions_per_s": args.batch / step_s,
        "wall_captions_per_s": args.epochs * len(data.pair_tokens) / sum(timer.epochs[1:]),
        "first_step_s": calls[0]["first_step_s"],
        "calls": calls,
    }


def measure_tutorial(data, args, vocab_size: int, units: int) -> dict:
    """Time the tutorial loop: a first epoch (with tracing), then `args.epochs` timed epochs.

    A step is timed from fetching its batch to the end of `train_step`, as the kit's step
    timer does (its data comes inside the step); the warm step is the median.
    """
    # lazy: TensorFlow / Keras take seconds to import
    import keras

    keras.utils.set_random_seed(0)
    train_step, dataset, params = tutorial_loop(data, vocab_size, args.embed_dim, units, args.batch)
    t0 = time.perf_counter()
    first_step = None
    for img, target in dataset:  # first epoch: tracing
        loss, _ = train_step(img, target)
        float(loss)
        first_step = first_step or time.perf_counter() - t0
    steps = []
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        batches = iter(dataset)
        while True:
            t = time.perf_counter()
            try:
                img, target = next(batches)
            except StopIteration:
                break
            loss, _ = train_step(img, target)
            float(loss)
            steps.append(time.perf_counter() - t)
    seconds = time.perf_counter() - t0
    step_s = float(np.median(steps))
    return {
        "params": params,
        "units": units,
        "first_step_s": first_step,
        "step_s": step_s,
        "captions_per_s": args.batch / step_s,
        "wall_captions_per_s": len(steps) * args.batch / seconds,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashtag_kit bench caption", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--data", help="Flickr8k folder (Flickr8k.token.txt): vocabulary size")
    parser.add_argument("--units", type=integer(1), default=512, help="kit LSTM units")
    parser.add_argument("--embed-dim", type=integer(1), default=256)
    parser.add_argument("--attention-units", type=integer(1), default=256)
    parser.add_argument(
        "--vocab", type=integer(0), default=0, help=f"0 = from --data, else {DEFAULT_VOCAB}"
    )
    parser.add_argument(
        "--regions",
        type=integer(1),
        default=None,
        help=f"grid regions per image (default {REGIONS}; 196: the Flickr8k preset's 14x14)",
    )
    parser.add_argument("--batch", type=integer(1), default=64)
    parser.add_argument("--length", type=integer(1), default=20, help="caption length (max tokens)")
    parser.add_argument("--steps", type=integer(1), default=6, help="batches per epoch")
    parser.add_argument("--epochs", type=integer(1), default=2, help="timed (warm) epochs")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (tests)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    regions, channels = args.regions or REGIONS, CHANNELS
    if args.tiny:
        args.units, args.embed_dim, args.attention_units = 16, 8, 8
        args.batch, args.length, args.steps, args.epochs = 4, 4, 2, 1
        args.vocab = args.vocab or (0 if args.data else 40)
        regions, channels = args.regions or 4, 16
    word_counts, source = None, "built-in lengths (Flickr8k train: 10.8 +- 3.7 words)"
    vocab = args.vocab
    if args.data:
        data_vocab, word_counts, source = flickr8k_vocabulary_and_lengths(args.data)
        vocab = vocab or data_vocab
    vocab = vocab or DEFAULT_VOCAB
    n_pairs = args.steps * args.batch
    data = synthetic_caption_data(
        n_pairs, vocab, args.length, word_counts=word_counts, regions=regions, channels=channels
    )
    words = (data.pair_tokens[:, 1:] > 3).sum(axis=1)
    print(
        f"data: {n_pairs:,} random captions ({words.mean():.1f} words on average, {source}), "
        f"random float16 {regions}x{channels} grids, vocabulary {vocab:,}"
    )
    print(f"machine: {_machine()}")
    kit = measure_kit(data, args, vocab)
    units = matched_units(kit["params"], vocab, args.embed_dim, channels)
    tut = measure_tutorial(data, args, vocab, units)
    diff = 100.0 * (tut["params"] - kit["params"]) / kit["params"]
    print(
        f"sizes: batch {args.batch}, caption length {args.length}, {args.steps} batches per "
        f"epoch, {args.epochs} timed epochs after a first one"
    )
    print(
        f"kit:      ShowAttendTellDecoder embed_dim {args.embed_dim}, units {args.units}, "
        f"attention_units {args.attention_units}: {kit['params']:,} trainable params"
    )
    print(
        f"tutorial: CNN_Encoder + RNN_Decoder embedding_dim {args.embed_dim}, units {units}: "
        f"{tut['params']:,} trainable params ({diff:+.2f}%)"
    )
    print(
        f"{'loop':<34} {'captions/s':>10} {'ms/step':>8} {'wall captions/s':>16} "
        f"{'first step s':>13}"
    )
    for name, r in (("kit train_caption_model", kit), ("tutorial tf.function train_step", tut)):
        print(
            f"{name:<34} {r['captions_per_s']:>10.1f} {1000 * r['step_s']:>8.1f} "
            f"{r['wall_captions_per_s']:>16.1f} {r['first_step_s']:>13.2f}"
        )
    ratio = kit["captions_per_s"] / tut["captions_per_s"]
    wall_ratio = kit["wall_captions_per_s"] / tut["wall_captions_per_s"]
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f"ratio kit/tutorial: {ratio:.2f}x (target >= {TARGET_RATIO}x: {verdict}); "
        f"by wall time of the warm epochs {wall_ratio:.2f}x"
    )
    first, second = kit["calls"]
    print(
        f"train_caption_model on one model: first call {first['s']:.2f} s ({first['epochs']} "
        f"epoch of {args.steps} steps; first step {first['first_step_s']:.2f} s), second call "
        f"{second['s']:.2f} s ({second['epochs']} epochs; first step "
        f"{second['first_step_s']:.2f} s, a warm step {kit['step_s']:.2f} s)"
    )
    return 0
