"""The encoder-decoder hashtag recommender (AMNN / original project style) and its stage files.

A post's image and text vectors (cached encoder features) are masked for missing modalities,
fused (concat / sum / weighted), optionally joined with the user's history vector, and the
result initialises an LSTM decoder that emits hashtags one at a time. Training uses teacher
forcing with an order-free target (`HashtagSetLoss`), so the model learns a set, not an
arbitrary order. Decoding is greedy (`beam_width=1`) or beam search, never repeating a tag,
never returning special tokens, excluded tags or tags already typed. Tags the user typed are fed
as the decoder's first inputs (conditioning, the IRE project plan), and a tag the user accepts
is fed as the next input before re-ranking (the CNN-RNN Instagram project's interactive system).

Token ids follow `hashtag_kit.vocabulary` (`<pad>`, `<start>`, `<end>`, `<unk>`, then the tags);
the trained model is written and read back with `hashtag_kit.stage.save_stage` / `load_stage`.

Example:
    >>> import numpy as np
    >>> m = HashtagEncoderDecoder(vocab_size=12, image_dim=6, text_dim=5, units=8, embed_dim=4)
    >>> x = dummy_inputs(m, n=2)
    >>> ids, scores = m.decode(x, k=3, beam_width=2)
    >>> len(ids[0]), all(i >= N_SPECIAL for i in ids[0])
    (3, True)
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from hashtag_kit.decoding import beam_search, compiled
from hashtag_kit.layers import (
    ConcatFusion,
    GatedFusion,
    ModalityMask,
    SumFusion,
    UserHistoryEncoder,
)
from hashtag_kit.vocabulary import END, N_SPECIAL, PAD, START, UNK

FUSIONS = {"concat": ConcatFusion, "sum": SumFusion, "weighted": GatedFusion}
MODALITIES = ("both", "image", "text")


@keras.saving.register_keras_serializable(package="hashtag_kit")
class HashtagSetLoss(keras.losses.Loss):
    """Order-free teacher-forcing loss of a hashtag decoder.

    `y_true` holds the post's tag ids in the order they were fed to the decoder (0-padded,
    (batch, L)); the decoder input is `[<start>, y_true...]` and `y_pred` its logits
    (batch, L + 1, vocab). The target at step t is uniform over the tags at positions >= t
    (those not yet fed), or `<end>` when none is left; steps after the end are ignored. The
    per-post loss is the mean cross-entropy over its valid steps.

    Reference:
        Yang et al. 2020 (AMNN: hashtags generated one at a time by an LSTM decoder); the
        order-free target follows Vinyals et al. 2016, "Order matters" (sets as sequences).
    """

    def __init__(self, name: str = "hashtag_set_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        g = ops.cast(y_true, "int32")  # (batch, L)
        vocab = ops.shape(y_pred)[-1]
        onehot = ops.one_hot(g, vocab) * (1.0 - ops.one_hot(PAD, vocab))  # (batch, L, V)
        suffix = ops.flip(ops.cumsum(ops.flip(onehot, axis=1), axis=1), axis=1)
        suffix = ops.concatenate([suffix, ops.zeros_like(suffix[:, :1])], axis=1)  # (b, L+1, V)
        count = ops.sum(suffix, axis=-1, keepdims=True)  # (batch, L + 1, 1)
        end = ops.reshape(ops.one_hot(END, vocab), (1, 1, -1))
        target = ops.where(count > 0, suffix / ops.maximum(count, 1.0), end)
        n = ops.sum(ops.cast(g > 0, "int32"), axis=1, keepdims=True)  # (batch, 1)
        steps = ops.expand_dims(ops.arange(ops.shape(target)[1], dtype="int32"), 0)
        valid = ops.cast(steps <= n, y_pred.dtype)  # (batch, L + 1)
        ce = -ops.sum(target * ops.log_softmax(y_pred, axis=-1), axis=-1)  # (batch, L + 1)
        return ops.sum(ce * valid, axis=1) / ops.sum(valid, axis=1)


@keras.saving.register_keras_serializable(package="hashtag_kit")
class HashtagEncoderDecoder(keras.Model):
    """Fused post vector -> LSTM decoder that emits hashtags one at a time.

    Args:
        vocab_size: number of token ids, special tokens included (`hashtag_kit.vocabulary`).
        image_dim: size of the pooled image features.
        text_dim: size of the text features.
        units: size of the fused vector and of the LSTM state.
        embed_dim: size of the tag embeddings (decoder input and user history).
        fusion: "concat", "sum" or "weighted" (`ConcatFusion`, `SumFusion`, `GatedFusion`).
        personalisation: add a `UserHistoryEncoder` vector to the decoder's initial state.
        modality: "both", or "image" / "text" to use only that modality (ablation).
        modality_dropout: rate of `ModalityMask`'s modality dropout in training.
        dropout: dropout on the decoder outputs in training.
        seed: seed of the modality dropout.
        **kwargs: standard `keras.Model` arguments (name, ...).

    Call arguments:
        inputs: dict with "image" (batch, image_dim) float32, "image_mask" (batch,) in {0, 1},
            "text" (batch, text_dim), "text_mask" (batch,), "history" (batch, H) int32 tag ids
            0-padded, and "decoder_in" (batch, T) int32: `<start>` then tags (teacher forcing).
            Other keys (e.g. "existing") are ignored by the call.
        training: training mode (modality dropout, dropout, BatchNorm statistics).

    Returns:
        Scores over the vocabulary at every decoder step, (batch, T, vocab_size): logits, or
        with personalisation log-probabilities of the mixture of the decoder's softmax and a
        copy distribution over the user's earlier tags (gated per step).

    Example:
        >>> m = HashtagEncoderDecoder(vocab_size=12, image_dim=6, text_dim=5, units=8)
        >>> tuple(m(dummy_inputs(m, n=2, steps=4)).shape)
        (2, 4, 12)

    Reference:
        Yang et al. 2020, AMNN (attention-based multimodal encoder-decoder for hashtags);
        Sahliya et al. 2024 (InceptionV3 + USE encoder-decoder, the original project);
        Bansal et al. 2022 (DESIGN) and Yakovlev & Shapoval 2024 (weighted fusion, user history).
    """

    def __init__(
        self,
        vocab_size: int,
        image_dim: int,
        text_dim: int,
        units: int = 256,
        embed_dim: int = 128,
        fusion: str = "weighted",
        personalisation: bool = True,
        modality: str = "both",
        modality_dropout: float = 0.3,
        dropout: float = 0.2,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {sorted(FUSIONS)}, got {fusion!r}")
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        if vocab_size <= N_SPECIAL:
            raise ValueError(f"vocab_size {vocab_size} leaves no tag after the special tokens")
        self.vocab_size = int(vocab_size)
        self.image_dim = int(image_dim)
        self.text_dim = int(text_dim)
        self.units = int(units)
        self.embed_dim = int(embed_dim)
        self.fusion_name = fusion
        self.personalisation = bool(personalisation)
        self.modality = modality
        self.modality_dropout = float(modality_dropout)
        self.dropout_rate = float(dropout)
        self.seed = seed
        self.modality_mask = ModalityMask(self.modality_dropout, seed=seed, name="modality_mask")
        self.fusion = FUSIONS[fusion](self.units, name=f"{fusion}_fusion")
        self.user_encoder = None
        self.copy_gate = None
        if self.personalisation:
            self.user_encoder = UserHistoryEncoder(
                self.vocab_size,
                self.embed_dim,
                self.units,
                return_attention=True,
                name="user_history",
            )
            self.copy_gate = keras.layers.Dense(1, activation="sigmoid", name="copy_gate")
        self.init_h = keras.layers.Dense(self.units, activation="tanh", name="init_h")
        self.init_c = keras.layers.Dense(self.units, name="init_c")
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embed_dim, name="tag_embed")
        self.decoder = keras.layers.LSTM(
            self.units, return_sequences=True, return_state=True, name="decoder"
        )
        self.output_dropout = keras.layers.Dropout(self.dropout_rate, seed=seed)
        self.output_layer = keras.layers.Dense(self.vocab_size, name="tag_logits")
        self.build()

    # -- building -------------------------------------------------------------------------------
    def build(self, input_shape=None):
        # every size is known from the arguments: build eagerly, whatever the input shapes
        state_in = self.units * (2 if self.user_encoder is not None else 1)
        shapes = [
            (self.fusion, [(None, self.text_dim), (None, self.image_dim), (None,), (None,)]),
            (self.user_encoder, [(None, self.units), (None, None)]),
            (self.init_h, (None, state_in)),
            (self.init_c, (None, state_in)),
            (self.embedding, (None, None)),
            (self.decoder, (None, None, self.embed_dim)),
            (self.output_layer, (None, self.units)),
            (self.copy_gate, (None, self.units)),
        ]
        for layer, shape in shapes:
            if layer is not None and not layer.built:
                layer.build(shape)
        self.built = True

    # -- forward --------------------------------------------------------------------------------
    def _encode(self, inputs: dict, training=None):
        """(h0, c0, copy) where copy (batch, V) is the history attention spread over tag ids
        (all zero without history), or None without personalisation."""
        m_v = ops.cast(ops.reshape(inputs["image_mask"], (-1,)), "float32")
        m_t = ops.cast(ops.reshape(inputs["text_mask"], (-1,)), "float32")
        if self.modality == "image":
            m_t = m_t * 0.0
        elif self.modality == "text":
            m_v = m_v * 0.0
        # encoders differ in scale (USE vectors have norm 1, CNN features far more): each
        # vector is rescaled to norm sqrt(dim), so both modalities start on an equal footing
        image = _rescale(ops.cast(inputs["image"], "float32"))
        text = _rescale(ops.cast(inputs["text"], "float32"))
        text, image, m_t, m_v = self.modality_mask([text, image, m_t, m_v], training=training)
        post = self.fusion([text, image, m_t, m_v], training=training)  # (batch, units)
        copy = None
        if self.user_encoder is not None:
            history = ops.cast(inputs["history"], "int32")
            user, attn = self.user_encoder([post, history])  # (batch, units), (batch, H)
            post = ops.concatenate([post, user], axis=-1)
            copy = ops.einsum("bh,bhv->bv", attn, ops.one_hot(history, self.vocab_size))
        return self.init_h(post), self.init_c(post), copy

    def _scores(self, states, copy):
        """Decoder outputs (..., units) -> logits, or with a copy distribution (batch, V) the
        log of the mixture (1 - g)·softmax(logits) + g·copy with a learned gate g per step
        (a pointer-generator over the user's history, See et al. 2017)."""
        logits = self.output_layer(states)
        if copy is None:
            return logits
        has = ops.cast(ops.sum(copy, axis=-1, keepdims=True) > 0, logits.dtype)  # (batch, 1)
        if len(logits.shape) == 3:
            copy, has = ops.expand_dims(copy, 1), ops.expand_dims(has, 1)
        gate = self.copy_gate(states) * has
        probs = (1.0 - gate) * ops.softmax(logits, axis=-1) + gate * copy
        return ops.log(probs + 1e-9)

    def call(self, inputs, training=None):
        h0, c0, copy = self._encode(inputs, training=training)
        x = self.embedding(ops.cast(inputs["decoder_in"], "int32"))  # (batch, T, embed_dim)
        seq, _, _ = self.decoder(x, initial_state=[h0, c0], training=training)  # (b, T, units)
        return self._scores(self.output_dropout(seq, training=training), copy)  # (b, T, V)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "image_dim": self.image_dim,
            "text_dim": self.text_dim,
            "units": self.units,
            "embed_dim": self.embed_dim,
            "fusion": self.fusion_name,
            "personalisation": self.personalisation,
            "modality": self.modality,
            "modality_dropout": self.modality_dropout,
            "dropout": self.dropout_rate,
            "seed": self.seed,
        }

    # -- decoding -------------------------------------------------------------------------------
    def decode(
        self,
        inputs: dict,
        k: int,
        beam_width: int = 3,
        exclude: list[set[int]] | None = None,
        batch_size: int = 512,
        after_end: str = "fill",
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Ranked tag ids and scores per post: the decoded tag set, then the next-best tags.

        Beam search emits the post's tag set and stops at `<end>` (as `generate`); when that
        set has fewer than `k` tags, the rest is filled with the tags the first decoding step
        ranks highest (the decoder was trained to spread that step's probability over all of
        a post's tags: its ranking of the tags not emitted yet). Forcing the beam on past the
        end instead (`after_end="ban"`, `<end>` disabled) asks the decoder for tags after it
        has said the set is complete, and its later picks are weak.

        Args:
            inputs: dict as for the call, without "decoder_in"; "existing" (batch, E) int32
                0-padded holds tags the user already typed: they are fed to the decoder first
                and never suggested again. "history" may be omitted (cold start).
            k: number of tags per post.
            beam_width: 1 = greedy decoding.
            exclude: per post, tag ids never to return.
            batch_size: posts decoded together.
            after_end: "fill" (default; see above) or "ban" (beam search over `k` steps with
                the end token disabled).

        Returns:
            `(ids, scores)`: per post, `k` distinct tag ids (fewer when the vocabulary runs out)
            and their scores, non-increasing, higher = better: for decoded tags the
            probability the decoder gives to the ranked prefix ending at that tag; for filled
            tags the last decoded prefix's probability times the tag's first-step probability.
        """
        if after_end not in ("fill", "ban"):
            raise ValueError(f"after_end must be 'fill' or 'ban', got {after_end!r}")
        fill = after_end == "fill"  # stopping at <end> is what leaves slots to fill
        return self._search(inputs, k, beam_width, exclude, fill, batch_size, fill=fill)

    def generate(
        self,
        inputs: dict,
        max_tags: int = 10,
        beam_width: int = 3,
        exclude: list[set[int]] | None = None,
        batch_size: int = 512,
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Like `decode`, but a beam stops at the end token: a variable-length set of tags."""
        return self._search(inputs, max_tags, beam_width, exclude, True, batch_size)

    def rerank_after_accept(
        self,
        inputs: dict,
        accepted: list[list[int]],
        k: int,
        beam_width: int = 3,
        exclude: list[set[int]] | None = None,
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Suggestions after the user accepted tags: each accepted tag is fed as the next
        decoder input (after the tags already typed) and the rest is re-ranked."""
        existing = _existing(inputs, len(accepted))
        rows = [
            list(e[e > 0]) + [int(a) for a in acc]
            for e, acc in zip(existing, accepted, strict=True)
        ]
        width = max(1, max(len(r) for r in rows))
        padded = np.zeros((len(rows), width), "int32")
        for i, r in enumerate(rows):
            padded[i, : len(r)] = r
        return self.decode({**inputs, "existing": padded}, k, beam_width, exclude)

    def rank_first_step(
        self, inputs: dict, k: int, exclude: list[set[int]] | None = None, batch_size: int = 512
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Top-`k` tags of the first decoding step (after `<start>` and the typed tags), with
        their probabilities renormalised over the allowed tags: a classifier-style ranking.
        Arguments and returns as `decode` (tags of probability 0 are left out)."""
        return self._search(inputs, 0, 1, exclude, False, batch_size, top=k)

    def _decoder(self, steps: int, width: int, allow_end: bool, top: int):
        """The compiled decode of `steps` tags with `width` beams (0 steps: the first step's
        `top` renormalised probabilities), for `compiled` to keep on the model."""
        spec = {
            "image": tf.TensorSpec((None, self.image_dim), "float32"),
            "image_mask": tf.TensorSpec((None,), "float32"),
            "text": tf.TensorSpec((None, self.text_dim), "float32"),
            "text_mask": tf.TensorSpec((None,), "float32"),
            "history": tf.TensorSpec((None, None), "int32"),
            "prefix": tf.TensorSpec((None, None), "int32"),
            "banned": tf.TensorSpec((None, self.vocab_size), "bool"),
        }

        def step(tokens, state, copy):
            """One tag for every beam: (log-probs (rows, V), LSTM state, no extra)."""
            x = self.embedding(tokens)  # (rows, embed_dim)
            h, (h, c) = self.decoder.cell(x, list(state), training=False)
            copy = None if isinstance(copy, tuple) else copy  # () without personalisation
            return tf.nn.log_softmax(self._scores(h, copy)), (h, c), None

        @tf.function(input_signature=[spec], autograph=False)
        def decode(x):
            h, c, copy = self._encode(x, training=False)
            prefix = x["prefix"]  # <start> then the typed tags, 0-padded
            _, h, c = self.decoder(self.embedding(prefix), initial_state=[h, c], mask=prefix > 0)
            scores = self._scores(h, copy)  # (n, V)
            if steps == 0:  # the first step's distribution over the allowed tags
                z = tf.cast(tf.where(x["banned"], -np.inf, scores), "float64")
                p = tf.exp(z - tf.reduce_max(z, axis=1, keepdims=True))
                p, ids = tf.math.top_k(p / tf.reduce_sum(p, axis=1, keepdims=True), top)
                return {"first_ids": ids, "first": p}
            logp = tf.where(x["banned"], -np.inf, tf.nn.log_softmax(scores))
            first, first_ids = tf.math.top_k(logp, top)  # the fill order
            out = beam_search(
                step,
                logp,
                (h, c),
                () if copy is None else copy,
                steps=steps,
                beam_width=width,
                end_id=END,
                filler_id=PAD,
                banned=x["banned"],
                no_repeat=True,
            )
            return {**out, "first_ids": first_ids, "first": first}

        return decode

    def _search(self, inputs, steps, beam_width, exclude, allow_end, batch_size, fill=False, top=0):
        """`decode` / `generate` (`steps` tags) or `rank_first_step` (0 steps, `top` tags):
        the inputs as arrays, the banned ids per post, the compiled decode per batch."""
        n, vocab = _batch_len(inputs), self.vocab_size
        if exclude is not None and len(exclude) != n:
            raise ValueError(f"exclude has {len(exclude)} entries for {n} posts")
        top = min(vocab, top or 2 * steps + 2)  # enough to fill `steps` after `steps` tags
        setting = (int(steps), max(1, int(beam_width)), bool(allow_end), top)
        fn = compiled(self, setting, lambda: self._decoder(*setting))
        x = {name: np.asarray(inputs[name], "float32").reshape(n, -1) for name in ("image", "text")}
        for name in ("image_mask", "text_mask"):
            x[name] = np.asarray(inputs[name], "float32").reshape(n)
        x["history"] = np.asarray(inputs.get("history", np.zeros((n, 1))), "int32").reshape(n, -1)
        existing = _left_pack(_existing(inputs, n))
        x["prefix"] = np.concatenate([np.full((n, 1), START, "int32"), existing], axis=1)
        banned = np.zeros((n, vocab), bool)
        banned[:, [PAD, START, UNK] if allow_end else [PAD, START, END, UNK]] = True
        rows, cols = np.nonzero((existing > 0) & (existing < vocab))
        banned[rows, existing[rows, cols]] = True
        for i, ex in enumerate(exclude or []):
            banned[i, [t for t in ex if 0 <= t < vocab]] = True
        x["banned"] = banned
        ids, scores = [], []
        for lo in range(0, n, batch_size):
            out = fn({name: v[lo : lo + batch_size] for name, v in x.items()})
            out = {name: v.numpy() for name, v in out.items()}
            i, s = _ranked(out, steps, fill) if steps else _first_ranked(out)
            ids += i
            scores += s
        return ids, scores


def _first_ranked(out: dict):
    """(ids, probabilities) of the first step's ranking, tags of probability 0 left out."""
    keep = out["first"] > 0
    ids = [[int(t) for t in row[ok]] for row, ok in zip(out["first_ids"], keep, strict=True)]
    return ids, [[float(p) for p in row[ok]] for row, ok in zip(out["first"], keep, strict=True)]


def _ranked(out: dict, steps: int, fill: bool):
    """Per post: the best beam's tags until `<end>` with the probability of each ranked
    prefix, then (`fill`) the first step's ranking of the other tags up to `steps`."""
    scores = out["scores"]
    best = np.argmax(np.where(np.isfinite(scores), scores, -np.inf), axis=1)
    rows = np.arange(len(scores))
    tokens, lps = out["tokens"][rows, best], out["log_probs"][rows, best].astype(np.float64)
    # the tags before the first <end>, padding and impossible steps left out; the log
    # probability of each ranked prefix summed left to right in float64 (as Python floats)
    keep = (np.cumsum(tokens == END, axis=1) == 0) & (tokens != PAD) & np.isfinite(lps)
    cums = np.cumsum(np.where(keep, lps, 0.0), axis=1)
    # (ids, log probabilities) of each post's first step, for the fill
    firsts = zip(out["first_ids"].tolist(), out["first"].tolist(), strict=True)
    ids, probs = [], []
    per_post = zip(tokens.tolist(), keep.tolist(), cums.tolist(), firsts, strict=True)
    for row, kept, cum, (first_ids, first) in per_post:
        tags = [t for t, k in zip(row, kept, strict=True) if k]
        p = [math.exp(c) for c, k in zip(cum, kept, strict=True) if k]
        if fill and len(tags) < steps:
            last, have = (p[-1] if p else 1.0), set(tags)
            for t, lp in zip(first_ids, first, strict=True):
                if len(tags) == steps or not math.isfinite(lp):
                    break
                if t != END and t not in have:
                    tags.append(t)
                    p.append(last * math.exp(lp))
        ids.append(tags)
        probs.append(p)
    return ids, probs


def _rescale(x):
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x * (float(x.shape[-1]) ** 0.5) / ops.maximum(norm, 1e-6)


def _batch_len(inputs: dict) -> int:
    for key in ("image", "text", "image_mask", "text_mask"):
        if key in inputs:
            return len(inputs[key])
    raise ValueError("inputs need at least 'image' and 'text' arrays (and their masks)")


def _existing(inputs: dict, n: int) -> np.ndarray:
    ex = inputs.get("existing")
    if ex is None:
        return np.zeros((n, 0), "int32")
    return np.asarray(ex, "int32").reshape(n, -1)


def _left_pack(ids: np.ndarray) -> np.ndarray:
    """Move each row's non-zero ids to the front (keeping order), zeros after."""
    return np.take_along_axis(ids, np.argsort(ids == 0, axis=1, kind="stable"), axis=1)


def dummy_inputs(model: HashtagEncoderDecoder, n: int = 2, steps: int | None = None, seed=0):
    """Random inputs of the right shapes for `model` (for examples and tests).

    With `steps`, includes "decoder_in" (n, steps): `<start>` then random distinct tags.
    """
    rng = np.random.default_rng(seed)
    tags = np.arange(N_SPECIAL, model.vocab_size)
    x = {
        "image": rng.normal(size=(n, model.image_dim)).astype("float32"),
        "image_mask": np.ones(n, "float32"),
        "text": rng.normal(size=(n, model.text_dim)).astype("float32"),
        "text_mask": np.ones(n, "float32"),
        "history": rng.choice(tags, size=(n, 3)).astype("int32"),
        "existing": np.zeros((n, 2), "int32"),
    }
    if steps is not None:
        dec = np.zeros((n, steps), "int32")
        dec[:, 0] = START
        for i in range(n):
            dec[i, 1:] = rng.choice(tags, size=steps - 1, replace=False)
        x["decoder_in"] = dec
    return x


__all__ = ["HashtagEncoderDecoder", "HashtagSetLoss", "dummy_inputs"]
