"""The kit's one beam search: batched over posts or images, compiled, over a step function.

Every decoder of the kit (the hashtag encoder-decoder, the caption decoders, CNN-RNN) decodes
with `beam_search`, called inside the model's own `tf.function` (traced once per setting and
kept on the model), as keras-hub's samplers do: the decoder steps run in a `tf.while_loop`,
for all posts and beams at once (rows `post * beam_width + beam`), with no round trip to numpy
between steps.

Rules (each an argument, so one loop serves every family):
- scores are summed log-probabilities; the `beam_width` best continuations of each post's
  beams are kept (`tf.math.top_k`: equal scores keep the lower beam, then the lower token id);
- `banned` (batch, V) ids are never emitted (special tokens, excluded or typed tags), and with
  `no_repeat` no beam emits an id twice (a hashtag set);
- a beam that emitted `end_id` (or `filler_id`) is finished: it only continues with
  `filler_id` at no cost, so it keeps its score and competes with the others;
- `trigram_alpha` adds Melas-Kyriazi et al.'s repetition penalty (`trigram_penalty`);
- the loop stops after `steps` steps, or when every beam is finished or impossible.

Example:
    >>> import tensorflow as tf
    >>> table = tf.math.log([[0.1, 0.6, 0.3], [0.1, 0.1, 0.8], [0.5, 0.25, 0.25]])
    >>> first = tf.gather(table, [0])                            # (batch=1, V=3)
    >>> out = beam_search(lambda tok, s, c: (tf.gather(table, tok), s, None),
    ...                   first, (), steps=3, beam_width=2, end_id=0)
    >>> out["tokens"].numpy()[0, 0].tolist()                     # best beam: 1, 2, then <end>
    [1, 2, 0]

Reference:
    Graves 2012 / Sutskever et al. 2014 (beam search decoding); Melas-Kyriazi, Rush & Han,
    "Training for Diversity in Image Paragraph Captioning", EMNLP 2018 (trigram penalty).
"""

from __future__ import annotations

import math

import tensorflow as tf


def log_softmax64(logits):
    """`logits - max - log(sum(exp(logits - max)))` in float64 over the last axis: (..., V)."""
    z = tf.cast(logits, "float64")
    z = z - tf.reduce_max(z, axis=-1, keepdims=True)
    return z - tf.math.log(tf.reduce_sum(tf.exp(z), axis=-1, keepdims=True))


def trigram_penalty(tokens, length, vocab_size: int, alpha: float):
    """Additive penalty on every word that would repeat a trigram of its hypothesis.

    For a hypothesis ending in words (a, b), each word w such that (a, b, w) already occurred
    gets `count * ln(1/2) * alpha` (`alpha=inf` blocks it: a -1e9 penalty).

    Args:
        tokens: (rows, S) int32 words generated so far (positions >= `length` ignored).
        length: scalar int32, the words generated (the same for every row).
        vocab_size: V.
        alpha: penalty strength (> 0).

    Returns:
        (rows, V) float64 penalties (<= 0).
    """
    rows, s = tf.shape(tokens)[0], tf.shape(tokens)[1]
    per = -1e9 if math.isinf(alpha) else math.log(0.5) * float(alpha)
    last = tf.gather(tokens, tf.maximum(length - 2, 0), axis=1)[:, None]
    prev = tf.gather(tokens, tf.maximum(length - 1, 0), axis=1)[:, None]
    j = tf.range(s - 2)[None, :]
    hit = (tokens[:, :-2] == last) & (tokens[:, 1:-1] == prev) & (j + 2 < length)
    segments = tf.range(rows)[:, None] * vocab_size + tokens[:, 2:]  # (rows, S - 2)
    out = tf.math.unsorted_segment_sum(
        tf.where(hit, tf.constant(per, "float64"), 0.0), segments, rows * vocab_size
    )
    return tf.maximum(tf.reshape(out, (rows, vocab_size)), -1e9)


def compiled(owner, key, build):
    """The decoder `build()` (a `tf.function`) for `key`, made once and kept on `owner` (a
    model; in its `__dict__`, so Keras does not track it): one trace per setting, none per
    call. With `owner.run_eagerly` its Python function instead: no tracing (one cold post)."""
    cache = owner.__dict__.setdefault("_compiled_decoders", {})
    if key not in cache:
        cache[key] = build()
    return cache[key].python_function if getattr(owner, "run_eagerly", False) else cache[key]


def beam_search(
    step_fn,
    first_logp,
    state,
    context=(),
    *,
    steps: int,
    beam_width: int,
    end_id: int,
    filler_id: int | None = None,
    banned=None,
    no_repeat: bool = False,
    trigram_alpha: float = 0.0,
    first_extra=None,
):
    """Beam search from a first distribution, continued by `step_fn` (call inside tf.function).

    Args:
        step_fn: `(tokens (rows,), state, context) -> (log_probs (rows, V), state, extra)`,
            rows = batch * beam_width; `extra` (rows, ...) or None is recorded per emitted
            token (attention weights).
        first_logp: (batch, V) log-probabilities of the first token.
        state: nest of (batch, ...) tensors after the first distribution (reordered with
            the beams); `context`: nest of (batch, ...) constants (tiled once).
        steps: most tokens per beam (`<end>` included).
        beam_width: beams per row of the batch.
        end_id: the end token; `filler_id` (default `end_id`) what finished beams emit.
        banned: (batch, V) bool, ids never emitted (None: none).
        no_repeat: never emit an id twice in a beam.
        trigram_alpha: repetition penalty strength (0 = off).
        first_extra: (batch, ...) `extra` of the first token, or None.

    Returns:
        dict of tensors: "tokens" (batch, beam_width, steps) int32 (after a beam's end,
        `filler_id`), "log_probs" (batch, beam_width, steps) each token's log-probability
        as ranked (0 after the end), "scores" (batch, beam_width) summed, best first,
        and with `first_extra` "extra" (batch, beam_width, steps, ...).
    """
    k, filler = int(beam_width), end_id if filler_id is None else int(filler_id)
    dtype, n, v = first_logp.dtype, tf.shape(first_logp)[0], tf.shape(first_logp)[1]
    rows, record = n * k, first_extra is not None
    neg = tf.constant(-math.inf, dtype)
    ids = tf.range(v)[None, None, :]
    banned = None if banned is None else tf.cast(banned, bool)[:, None, :]  # (batch, 1, V)
    finished_row = tf.where(ids == filler, tf.constant(0.0, dtype), neg)  # (1, 1, V)
    # (batch, ...) -> (rows, ...): each row repeated for its beams
    context = tf.nest.map_structure(lambda c: tf.repeat(c, k, axis=0), context)

    def select(t, logp, carry, extra):
        """Rank every beam's continuations by summed score; keep the best `k` per post."""
        tokens, lps, scores, done, used, extras = carry
        lp = tf.reshape(logp, (n, k, v))
        if trigram_alpha:
            pen = trigram_penalty(tf.reshape(tokens, (rows, steps)), t, v, trigram_alpha)
            lp = lp + tf.reshape(pen, (n, k, v))
        if no_repeat or banned is not None:
            lp = tf.where(used if no_repeat else banned, neg, lp)
        lp = tf.where(done[:, :, None], finished_row, lp)
        cand = tf.reshape(scores[:, :, None] + lp, (n, k * v))
        scores, best = tf.math.top_k(cand, k)
        parent, tok = best // v, best % v  # (n, k)
        chosen = tf.gather(tf.reshape(lp, (n, k * v)), best, batch_dims=1)
        at = tf.range(steps)[None, None, :] == t
        tokens = tf.where(at, tok[:, :, None], tf.gather(tokens, parent, batch_dims=1))
        lps = tf.where(at, chosen[:, :, None], tf.gather(lps, parent, batch_dims=1))
        done = tf.gather(done, parent, batch_dims=1) | (tok == end_id) | (tok == filler)
        if no_repeat:
            used = tf.gather(used, parent, batch_dims=1) | (ids == tok[:, :, None])
        if record:
            new = tf.gather(tf.reshape(extra, (n, k, -1)), parent, batch_dims=1)
            old = tf.gather(extras, parent, batch_dims=1)
            extras = tf.where(at[..., None], new[:, :, None], old)
        flat = tf.reshape(parent + tf.range(n)[:, None] * k, (-1,))
        return (tokens, lps, scores, done, used, extras), flat, tf.reshape(tok, (-1,))

    scores0 = tf.tile(tf.concat([[0.0], tf.fill([k - 1], -math.inf)], 0)[None], (n, 1))
    extras0 = tf.zeros((0,))
    if record:
        size = tf.reduce_prod(tf.shape(first_extra)[1:])
        extras0 = tf.zeros(tf.stack([n, k, steps, size]), first_extra.dtype)
    used0 = tf.zeros((0,), bool)
    if no_repeat:
        used0 = tf.zeros((n, k, v), bool) if banned is None else tf.tile(banned, (1, k, 1))
    carry = (
        tf.fill((n, k, steps), filler),  # a step never reached holds the filler
        tf.zeros((n, k, steps), dtype),
        tf.cast(scores0, dtype),
        tf.zeros((n, k), bool),
        used0,
        extras0,
    )
    extra0 = tf.repeat(first_extra, k, axis=0) if record else None
    carry, flat, tok = select(0, tf.repeat(first_logp, k, axis=0), carry, extra0)
    state = tf.nest.map_structure(lambda s: tf.gather(tf.repeat(s, k, axis=0), flat), state)

    def cond(t, carry, state, tok):
        return (t < steps) & tf.reduce_any(~carry[3] & tf.math.is_finite(carry[2]))

    def body(t, carry, state, tok):
        feed = tf.where(tf.reshape(carry[3], (-1,)), filler, tok)
        logp, state, extra = step_fn(feed, state, context)
        carry, flat, tok = select(t, logp, carry, extra)
        state = tf.nest.map_structure(lambda s: tf.gather(s, flat), state)
        return t + 1, carry, state, tok

    if steps > 1:
        _, carry, _, _ = tf.while_loop(cond, body, (tf.constant(1), carry, state, tok))
    tokens, lps, scores, _, _, extras = carry
    out = {"tokens": tokens, "log_probs": lps, "scores": scores}
    if record:
        shape = tf.concat([tf.stack([n, k, steps]), tf.shape(first_extra)[1:]], 0)
        out["extra"] = tf.reshape(extras, shape)
    return out
