"""Attention over a user's earlier hashtags, with a learned fallback for cold-start users."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hashtag_kit")
class UserHistoryEncoder(keras.layers.Layer):
    """Encode the hashtags a user used before into a vector, attending with the post as query.

    Each earlier tag id is embedded; the post vector (the query) scores every valid history
    entry, a softmax over the valid entries weights them, and the weighted sum is projected to
    `units`. A user without history (all ids 0: unknown, cold-start or anonymous) gets a learned
    "no history" vector instead, so nothing breaks and nothing is made up.

    Args:
        vocab_size: number of tag ids (id 0 is padding).
        embed_dim: size of the tag embeddings.
        units: size of the output vector.
        return_attention: also return the attention weights over the history entries
            (batch, H), all zero for a user without history (used by the decoder's copy path).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: list `[query, history]`: the post vector (batch, d_q) and the user's earlier
            tag ids (batch, H) int, 0-padded.

    Returns:
        The user vector (batch, units), or `[user, attention]` when `return_attention`.

    Example:
        >>> import numpy as np
        >>> enc = UserHistoryEncoder(vocab_size=10, embed_dim=4, units=3)
        >>> u = enc([np.ones((2, 5), "float32"), np.array([[4, 5, 0], [0, 0, 0]])])
        >>> tuple(u.shape)  # the second user is cold-start: gets the "no history" vector
        (2, 3)

    Reference:
        Yakovlev & Shapoval 2024 (DESIGN follow-up: user history for personalised hashtags);
        Zhang et al. 2019, MaCon (attention over a user's earlier posts' hashtags).
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        units: int = 64,
        return_attention: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.return_attention = bool(return_attention)
        self.vocab_size = int(vocab_size)
        self.embed_dim = int(embed_dim)
        self.units = int(units)
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embed_dim, name="embedding")
        self.query = keras.layers.Dense(self.embed_dim, use_bias=False, name="query")
        self.output_projection = keras.layers.Dense(self.units, activation="tanh", name="output")

    def build(self, input_shape):
        self.embedding.build(input_shape[1])
        self.query.build(input_shape[0])
        self.output_projection.build((None, self.embed_dim))
        self.no_history = self.add_weight(
            shape=(self.units,), initializer="zeros", name="no_history"
        )

    def call(self, inputs):
        query, history = inputs
        history = ops.cast(history, "int32")
        valid = ops.cast(history > 0, "float32")  # (batch, H)
        keys = self.embedding(history)  # (batch, H, embed_dim)
        q = self.query(query)  # (batch, embed_dim)
        scores = ops.einsum("bhd,bd->bh", keys, q) / (self.embed_dim**0.5)  # (batch, H)
        # softmax over the valid entries only (a row without any gets all-zero weights)
        scores = scores - ops.max(scores + (1.0 - valid) * -1e9, axis=-1, keepdims=True)
        weights = ops.exp(ops.minimum(scores, 0.0)) * valid
        attn = weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1e-9)
        context = ops.einsum("bh,bhd->bd", attn, keys)  # (batch, embed_dim)
        user = self.output_projection(context)  # (batch, units)
        has = ops.expand_dims(ops.cast(ops.sum(valid, axis=-1) > 0, user.dtype), -1)
        user = has * user + (1.0 - has) * self.no_history
        return [user, attn] if self.return_attention else user

    def compute_output_shape(self, input_shape):
        user = (input_shape[0][0], self.units)
        return [user, tuple(input_shape[1])] if self.return_attention else user

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "units": self.units,
            "return_attention": self.return_attention,
        }
