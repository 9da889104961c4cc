"""Caption decoders over image grid features, and their decoding (greedy, beam search).

- `ShowAttendTellDecoder`: an LSTM decoder with soft additive attention over the image regions
  at every word (Show, Attend and Tell).
- `MergeCaptionModel`: the no-attention "merge" model the Flickr8k hashtag paper uses as its
  caption generator (the image is merged after the LSTM, which reads only the words).
- `doubly_stochastic_penalty`: Xu et al.'s attention regulariser (`attention_regularizer`).

Both are trained with teacher forcing (call on `[grid, tokens]` -> logits for every next word).
Only the recurrent part runs inside the symbolic time loop; the embeddings come before it and
the output layers run on all steps at once after it. Decoding goes through `init_state` /
`step`, which call the same recurrence and output-head methods on one word, so decoding sees
exactly the trained computation. `decode_captions` (greedy at width 1, else beam search; the
kit's one `hashtag_kit.decoding.beam_search`, compiled) works for either model, batched over
images, with the trigram repetition penalty of Melas-Kyriazi et al. 2018 (`trigram_alpha`),
which a flat decoder needs to write paragraphs that do not repeat themselves.

Example:
    >>> import numpy as np
    >>> model = ShowAttendTellDecoder(vocab_size=30, embed_dim=8, units=16, attention_units=8)
    >>> logits = model([np.zeros((2, 49, 32), "float32"), np.zeros((2, 5), "int32")])
    >>> tuple(logits.shape)
    (2, 5, 30)
    >>> seqs, _ = decode_captions(model, np.zeros((2, 49, 32)), start_id=2, end_id=3, max_length=4)
    >>> len(seqs)
    2
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from hashtag_kit.decoding import beam_search, compiled, log_softmax64
from hashtag_kit.layers.additive_attention import AdditiveAttention
from hashtag_kit.text import MAX_TEXT_WORDS
from hashtag_kit.vocabulary import END, START


def _grid_and_tokens(inputs):
    """`(grid, tokens)` of a call's inputs (or their shapes): `[grid, tokens]` or a dict."""
    if isinstance(inputs, dict):
        return inputs["grid"], inputs["tokens"]
    grid, tokens = inputs
    return grid, tokens


def _lstm_update(cell, z, c):
    """New LSTM state (h, c) from the pre-activation `z = x W + h W_rec + b` (batch, 4 units).

    The gate arithmetic of `keras.layers.LSTMCell` (its fused implementation: gates i, f, g, o
    in that order), so the cell's weights keep their meaning; the models compute `z` in two
    parts: the word's share for all steps at once, the rest inside the time loop.
    """
    i, f, g, o = ops.split(z, 4, axis=-1)
    c = cell.recurrent_activation(f) * c + cell.recurrent_activation(i) * cell.activation(g)
    h = cell.recurrent_activation(o) * cell.activation(c)
    return h, c


def _scan_over_time(step_fn, per_step, initial):
    """Run `step_fn(carry, x_t) -> carry` over the time axis of `per_step` (steps, batch, ...).

    A `tf.scan` (not a Python loop), so the traced graph is the size of one step, however long
    the captions. Returns every step's carry, batch-major: each (batch, steps, ...).
    """
    out = tf.scan(step_fn, per_step, initializer=initial)
    return tuple(tf.transpose(t, (1, 0, *range(2, len(t.shape)))) for t in out)


def doubly_stochastic_penalty(alphas, tokens):
    """Xu et al.'s doubly stochastic attention penalty, without its factor lambda.

    `mean_i (1 - sum_t alpha_{t,i})^2`, averaged over the regions i and the batch, where t runs
    over the non-padding positions (input token != 0). It pushes every region to receive, over
    the whole caption, about as much attention as any other (Xu et al. 2015, eq. 14). The paper
    sums over the regions beside a log-likelihood summed over the words; the kit's loss is a
    per-word mean, so the penalty is a per-region mean (a sum over 49 regions dominated training).

    Args:
        alphas: (batch, steps, regions) attention weights.
        tokens: (batch, steps) input word ids; 0 = padding.

    Returns:
        a scalar.
    """
    keep = ops.cast(ops.not_equal(tokens, 0), alphas.dtype)  # (batch, steps)
    per_region = ops.sum(alphas * ops.expand_dims(keep, -1), axis=1)  # (batch, regions)
    return ops.mean(ops.square(1.0 - per_region))


@keras.saving.register_keras_serializable(package="hashtag_kit")
class ShowAttendTellDecoder(keras.Model):
    """LSTM caption decoder with soft additive attention over image regions.

    At step t, with previous word y, state (h, c) and region features V = relu(W a_r):
    `z, alpha = Attention(h, V)`; `z = sigmoid(w_b h) * z` (gating scalar); `h, c = LSTM([E y; z],
    (h, c))`; `logits = L_o(dropout(E y + L_h h + L_z z))` (deep output). The initial state is
    `tanh(W_h mean_r V_r)`, `tanh(W_c mean_r V_r)`.

    With `attention_regularizer` > 0, training adds `lambda * doubly_stochastic_penalty` to the
    loss with `add_loss`, which `model.fit` adds to the compiled loss.

    Args:
        vocab_size: number of word ids (ids 0-3: pad, unk, start, end).
        embed_dim: word embedding size (also the deep-output size).
        units: LSTM units.
        attention_units: hidden size of the additive attention MLP.
        feature_dim: size the image regions are projected to (default `units`).
        dropout: dropout rate before the word classifier.
        gate: use Show-Attend-Tell's gating scalar on the context.
        attention_regularizer: lambda of the doubly stochastic attention penalty (0 = off;
            Xu et al. use 1).
        **kwargs: passed to `keras.Model` (name, ...).

    Call arguments:
        inputs: `[grid, tokens]` (or a dict with those keys): grid (batch, regions, channels)
            float image features, tokens (batch, steps) int word ids starting with `<start>`
            (0 = padding).
        training: dropout on/off (and the attention penalty, when set).
        return_attention: also return the attention weights (batch, steps, regions).

    Returns:
        logits (batch, steps, vocab_size) for the next word at every position.

    Example:
        >>> import numpy as np
        >>> m = ShowAttendTellDecoder(vocab_size=20, embed_dim=8, units=16, attention_units=8)
        >>> logits, alphas = m([np.zeros((2, 49, 32)), np.zeros((2, 6), "int32")],
        ...                    return_attention=True)
        >>> tuple(logits.shape), tuple(alphas.shape)
        ((2, 6, 20), (2, 6, 49))

    Reference:
        Xu et al., "Show, Attend and Tell: Neural Image Caption Generation with Visual
        Attention", ICML 2015; Bahdanau et al., ICLR 2015 (additive attention).
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 256,
        units: int = 512,
        attention_units: int = 256,
        feature_dim: int | None = None,
        dropout: float = 0.3,
        gate: bool = True,
        attention_regularizer: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size = int(vocab_size)
        self.embed_dim = int(embed_dim)
        self.units = int(units)
        self.attention_units = int(attention_units)
        self.feature_dim = int(feature_dim or units)
        self.dropout = float(dropout)
        self.gate = bool(gate)
        self.attention_regularizer = float(attention_regularizer)
        self.feature_proj = keras.layers.Dense(self.feature_dim, activation="relu", name="regions")
        self.init_h = keras.layers.Dense(self.units, activation="tanh", name="init_h")
        self.init_c = keras.layers.Dense(self.units, activation="tanh", name="init_c")
        self.attention = AdditiveAttention(self.attention_units, name="attention")
        self.gate_dense = keras.layers.Dense(1, activation="sigmoid", name="gate")
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embed_dim, name="embed")
        self.cell = keras.layers.LSTMCell(self.units, name="lstm")
        self.out_h = keras.layers.Dense(self.embed_dim, name="deep_out_h")
        self.out_z = keras.layers.Dense(self.embed_dim, use_bias=False, name="deep_out_z")
        self.drop = keras.layers.Dropout(self.dropout)
        self.classifier = keras.layers.Dense(self.vocab_size, name="words")

    def build(self, input_shape) -> None:
        grid_shape, _ = _grid_and_tokens(input_shape)
        regions, channels = grid_shape[1], grid_shape[2]
        self.feature_proj.build((None, regions, channels))
        self.init_h.build((None, self.feature_dim))
        self.init_c.build((None, self.feature_dim))
        self.attention.build((None, self.units), (None, regions, self.feature_dim))
        self.gate_dense.build((None, self.units))
        self.embedding.build((None,))
        self.cell.build((None, self.embed_dim + self.feature_dim))
        self.out_h.build((None, self.units))
        self.out_z.build((None, self.feature_dim))
        self.classifier.build((None, self.embed_dim))
        self.built = True

    def init_state(self, grid, training=None):
        """(memory, [h, c]) for a batch of images.

        memory is `(regions, keys)`: the projected regions (batch, regions, feature_dim) and the
        attention's projection of them (batch, regions, attention_units), both computed once
        per image; h and c are (batch, units).
        """
        regions = self.feature_proj(ops.cast(grid, "float32"))
        keys = self.attention.project_values(regions)
        mean = ops.mean(regions, axis=1)
        return (regions, keys), [self.init_h(mean), self.init_c(mean)]

    def _word_gates(self, emb):
        """The word's share of the LSTM pre-activation, `E y W_e + b`: (..., 4 * units)."""
        return ops.matmul(emb, self.cell.kernel[: self.embed_dim]) + self.cell.bias

    def _loop_weights(self):
        """The context's rows of the LSTM input kernel stacked on the recurrent kernel,
        (feature_dim + units, 4 * units), so a step does one matmul of `[z; h]`; read once per
        call, as slicing the kernel inside the time loop would slice its gradient every step."""
        return ops.concatenate(
            [self.cell.kernel[self.embed_dim :], self.cell.recurrent_kernel], axis=0
        )

    def _recurrence(self, memory, states, word_gates, weights):
        """Attention, gate and LSTM for one step: (new [h, c], context (batch, feature_dim),
        attention weights (batch, regions)); `weights` from `_loop_weights()`."""
        regions, keys = memory
        h, c = states
        context, alpha = self.attention(h, regions, projected_values=keys)
        if self.gate:
            context = context * self.gate_dense(h)
        z = word_gates + ops.matmul(ops.concatenate([context, h], axis=-1), weights)
        h, c = _lstm_update(self.cell, z, c)
        return [h, c], context, alpha

    def _output_head(self, emb, h, context, training=None):
        """Deep output and word classifier: logits (..., vocab_size) from (..., embed_dim),
        (..., units) and (..., feature_dim); any leading axes (one step or all steps)."""
        deep = emb + self.out_h(h) + self.out_z(context)
        return self.classifier(self.drop(deep, training=training))

    def step(self, memory, states, tokens, training=None):
        """One word: (logits (batch, vocab), new [h, c], attention weights (batch, regions))."""
        emb = self.embedding(tokens)  # (batch, embed_dim)
        new_states, context, alpha = self._recurrence(
            memory, states, self._word_gates(emb), self._loop_weights()
        )
        return self._output_head(emb, new_states[0], context, training), new_states, alpha

    def call(self, inputs, training=None, return_attention=False):
        grid, tokens = _grid_and_tokens(inputs)
        tokens = ops.cast(tokens, "int32")
        memory, (h, c) = self.init_state(grid, training=training)
        emb = self.embedding(ops.transpose(tokens))  # (steps, batch, embed_dim)
        regions, weights = memory[0], self._loop_weights()

        def one_step(carry, word_gates_t):
            states, context, alpha = self._recurrence(memory, carry[:2], word_gates_t, weights)
            return (states[0], states[1], context, alpha)

        initial = (h, c, ops.zeros_like(regions[:, 0]), ops.zeros_like(regions[:, :, 0]))
        hs, _, contexts, alphas = _scan_over_time(one_step, self._word_gates(emb), initial)
        emb = ops.transpose(emb, (1, 0, 2))  # (batch, steps, embed_dim)
        logits = self._output_head(emb, hs, contexts, training)  # (batch, steps, vocab)
        if training and self.attention_regularizer > 0:
            self.add_loss(self.attention_regularizer * doubly_stochastic_penalty(alphas, tokens))
        if return_attention:
            return logits, alphas  # (batch, steps, regions)
        return logits

    def compute_output_shape(self, input_shape):
        _, token_shape = _grid_and_tokens(input_shape)
        return (token_shape[0], token_shape[1], self.vocab_size)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "units": self.units,
            "attention_units": self.attention_units,
            "feature_dim": self.feature_dim,
            "dropout": self.dropout,
            "gate": self.gate,
            "attention_regularizer": self.attention_regularizer,
        }


@keras.saving.register_keras_serializable(package="hashtag_kit")
class MergeCaptionModel(keras.Model):
    """No-attention "merge" caption model: LSTM over the words, image merged after the LSTM.

    `img = relu(W mean_r a_r)`; `h_t = LSTM(E y_t)`; `logits = L_o(relu(W_m (h_t + img)))`.
    The image never enters the recurrent state (that is what "merge" means, as opposed to
    "inject"); it is the architecture of the Keras caption tutorials the Flickr8k hashtag paper
    builds on.

    Args:
        vocab_size: number of word ids (ids 0-3: pad, unk, start, end).
        embed_dim: word embedding size.
        units: LSTM units (also the image projection and merge size).
        dropout: dropout on the image feature and the word embeddings.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: `[grid, tokens]`: grid (batch, regions, channels) float (averaged over regions),
            tokens (batch, steps) int word ids starting with `<start>`.
        training: dropout on/off.

    Returns:
        logits (batch, steps, vocab_size).

    Example:
        >>> import numpy as np
        >>> m = MergeCaptionModel(vocab_size=20, embed_dim=8, units=16)
        >>> tuple(m([np.zeros((2, 49, 32)), np.zeros((2, 6), "int32")]).shape)
        (2, 6, 20)

    Reference:
        Tanti, Gatt & Camilleri, "Where to put the Image in an Image Caption Generator", Natural
        Language Engineering 2018 (merge architecture); the Flickr8k hashtag paper (image
        captions turned into hashtags) uses this merge model as its caption generator.
    """

    def __init__(
        self, vocab_size: int, embed_dim: int = 256, units: int = 256, dropout: float = 0.3, **kw
    ):
        super().__init__(**kw)
        self.vocab_size = int(vocab_size)
        self.embed_dim = int(embed_dim)
        self.units = int(units)
        self.dropout = float(dropout)
        self.image_proj = keras.layers.Dense(self.units, activation="relu", name="image")
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embed_dim, name="embed")
        self.cell = keras.layers.LSTMCell(self.units, name="lstm")
        self.merge = keras.layers.Dense(self.units, activation="relu", name="merge")
        self.drop_img = keras.layers.Dropout(self.dropout)
        self.drop_emb = keras.layers.Dropout(self.dropout)
        self.classifier = keras.layers.Dense(self.vocab_size, name="words")

    def build(self, input_shape) -> None:
        grid_shape, _ = _grid_and_tokens(input_shape)
        self.image_proj.build((None, grid_shape[-1]))
        self.embedding.build((None,))
        self.cell.build((None, self.embed_dim))
        self.merge.build((None, self.units))
        self.classifier.build((None, self.units))
        self.built = True

    def init_state(self, grid, training=None):
        """(image vector (batch, units), zero LSTM state [h, c], each (batch, units))."""
        pooled = ops.mean(ops.cast(grid, "float32"), axis=1)
        img = self.image_proj(self.drop_img(pooled, training=training))
        zeros = ops.zeros_like(img)
        return img, [zeros, zeros]

    def _word_gates(self, tokens, training=None):
        """The LSTM input pre-activation of the words, `dropout(E y) W + b`: (..., 4 * units)."""
        emb = self.drop_emb(self.embedding(tokens), training=training)
        return ops.matmul(emb, self.cell.kernel) + self.cell.bias

    def _recurrence(self, states, word_gates, recurrent_kernel):
        """The LSTM's recurrent part for one step: new [h, c]."""
        h, c = states
        return list(_lstm_update(self.cell, word_gates + ops.matmul(h, recurrent_kernel), c))

    def _output_head(self, h, image):
        """Merge and word classifier: logits (..., vocab_size) from h (..., units) and the
        image vector broadcast against it."""
        return self.classifier(self.merge(h + image))

    def step(self, memory, states, tokens, training=None):
        """One word: (logits (batch, vocab), new [h, c], None: no attention)."""
        kernel = ops.convert_to_tensor(self.cell.recurrent_kernel)
        new_states = self._recurrence(states, self._word_gates(tokens, training), kernel)
        return self._output_head(new_states[0], memory), new_states, None

    def call(self, inputs, training=None):
        grid, tokens = _grid_and_tokens(inputs)
        image, (h, c) = self.init_state(grid, training=training)
        word_gates = self._word_gates(ops.transpose(ops.cast(tokens, "int32")), training)
        kernel = ops.convert_to_tensor(self.cell.recurrent_kernel)  # read once, not per step

        def one_step(carry, word_gates_t):
            return tuple(self._recurrence(carry, word_gates_t, kernel))

        hs, _ = _scan_over_time(one_step, word_gates, (h, c))  # (batch, steps, units)
        return self._output_head(hs, ops.expand_dims(image, 1))

    compute_output_shape = ShowAttendTellDecoder.compute_output_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "units": self.units,
            "dropout": self.dropout,
        }


# -- decoding ----------------------------------------------------------------------------------


def decode_captions(
    model,
    grid,
    *,
    start_id: int,
    end_id: int,
    beam_width: int = 1,
    max_length: int = 20,
    trigram_alpha: float = 0.0,
    length_penalty: float = 0.0,
    return_attention: bool = False,
    batch_size: int = 64,
):
    """Captions of a batch of images by `hashtag_kit.decoding.beam_search` (width 1: greedy).

    Hypotheses are ranked by their summed log-probability (plus the trigram penalty); a
    finished one keeps its score. The returned one maximises `score / len**length_penalty`
    (0 = plain log-probability).

    Args:
        model: a caption decoder with `init_state(grid)` / `step(memory, states, tokens)`
            (memory: a tensor or a tuple of per-image tensors, batch first), traceable by TF.
        grid: (batch, regions, channels) image features.
        start_id, end_id: tokenizer ids of `<start>` / `<end>`.
        beam_width: hypotheses kept per image.
        max_length: maximum words generated (not counting `<end>`), at most
            `hashtag_kit.text.MAX_TEXT_WORDS`.
        trigram_alpha: Melas-Kyriazi repetition penalty strength (0 = off; inf blocks).
        length_penalty: exponent of the length normalisation of the final choice.
        return_attention: collect the attention weights of the returned hypotheses.
        batch_size: images decoded together.

    Returns:
        (sequences, attention): word ids per image without `<start>`/`<end>`; attention a list
        of (len(sequence), regions) arrays, or None.
    """
    grid = np.asarray(grid, dtype="float32")
    if int(beam_width) < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    if not 1 <= int(max_length) <= MAX_TEXT_WORDS:  # the beam holds (images, beams, max_length)
        raise ValueError(f"max_length must be from 1 to {MAX_TEXT_WORDS:,}, got {max_length:,}")
    if not (math.isfinite(length_penalty) and length_penalty >= 0):  # NaN would pick beam 0
        raise ValueError(f"length_penalty must be a number >= 0, got {length_penalty!r}")
    key = (
        "caption", int(beam_width), int(max_length), float(trigram_alpha),
        bool(return_attention), int(start_id), int(end_id), grid.shape[1:],
    )  # fmt: skip
    fn = compiled(model, key, lambda: _caption_decoder(model, *key[1:]))
    seqs, attention = [], []
    for lo in range(0, len(grid), batch_size):
        out = {k: v.numpy() for k, v in fn(grid[lo : lo + batch_size]).items()}
        ended = np.cumsum(out["tokens"] == end_id, axis=2) > 0
        lengths = np.sum(~ended, axis=2)  # (n, beams) words before <end>
        norm = out["scores"] / np.maximum(lengths, 1) ** length_penalty
        best = np.argmax(np.where(np.isfinite(out["scores"]), norm, -np.inf), axis=1)
        for i, b in enumerate(best):
            seqs.append(out["tokens"][i, b, : lengths[i, b]].tolist())
            if "extra" in out:
                attention.append(out["extra"][i, b, : lengths[i, b]])
    return seqs, (attention if return_attention and attention else None)


def _caption_decoder(model, width, max_length, trigram_alpha, attention, start_id, end_id, shape):
    @tf.function(input_signature=[tf.TensorSpec((None, *shape), "float32")], autograph=False)
    def decode(grid):
        def step(tokens, states, memory):
            logits, states, alpha = model.step(memory, list(states), tokens)
            return log_softmax64(logits), tuple(states), alpha

        memory, states = model.init_state(grid)
        start = tf.fill(tf.shape(grid)[:1], start_id)
        first, states, first_alpha = step(start, states, memory)
        return beam_search(
            step,
            first,
            states,
            memory,
            steps=max_length,
            beam_width=width,
            end_id=end_id,
            trigram_alpha=trigram_alpha,
            first_extra=first_alpha if attention else None,
        )

    return decode


def generate_captions(model, grid, tokenizer, **kwargs) -> tuple[list[str], list | None]:
    """`decode_captions` with the vocabulary's `<start>` / `<end>` ids, decoded to text by the
    tokenizer; (texts, attention or None). `**kwargs` go to `decode_captions` (`beam_width`,
    `max_length`, `trigram_alpha`, ...)."""
    seqs, attention = decode_captions(model, grid, start_id=START, end_id=END, **kwargs)
    return [tokenizer.decode(s) for s in seqs], attention
