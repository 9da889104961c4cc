"""Additive (Bahdanau) attention pooling: a weighted average of values, weights from a small MLP."""

from __future__ import annotations

import keras
from keras import ops


def _is_shape_list(shape) -> bool:
    """True for a list of shapes ([query_shape, values_shape, ...]), False for one shape."""
    return isinstance(shape, (list, tuple)) and any(isinstance(s, (list, tuple)) for s in shape)


def _split_shapes(query_shape, values_shape):
    """(query_shape or None, values_shape) from any of the accepted call forms."""
    if _is_shape_list(query_shape):
        query_shape, values_shape = query_shape[0], query_shape[1]
    elif values_shape is None and query_shape is not None and len(query_shape) == 3:
        query_shape, values_shape = None, query_shape
    if values_shape is None:
        raise ValueError("AdditiveAttention needs `values` of shape (batch, positions, dim)")
    return query_shape, values_shape


@keras.saving.register_keras_serializable(package="hashtag_kit")
class AdditiveAttention(keras.layers.Layer):
    """Additive attention pooling over a set of values, optionally guided by a query.

    The score of value `v_r` is `w^T tanh(W_v v_r + W_q q + b)` (without the `W_q q` term when
    there is no query: self-attentive pooling); the weights are the softmax of the scores over
    the unmasked positions, and the context is the weighted sum of the values. A row whose
    positions are all masked gets zero weights and a zero context.

    Args:
        units: size of the hidden scoring layer.
        **kwargs: passed to `keras.layers.Layer` (name, dtype, ...).

    Call arguments:
        query: (batch, query_dim) guiding vector (e.g. a decoder state), or None for
            self-attentive pooling. A list `[query, values]` or `[query, values, mask]` is
            unpacked; a single 3-D tensor is taken as `values` with no query.
        values: (batch, positions, value_dim) what is attended over (image regions, words).
        mask: optional (batch, positions) bool or 0/1; False/0 positions get no weight.
        projected_values: optional (batch, positions, units) `W_v v_r + b` from
            `project_values(values)`. A decoder that attends over the same values at every
            step computes it once per image and passes it to each step instead of
            re-projecting the values every time (the result is the same).

    Returns:
        `(context, weights)`: context (batch, value_dim) and weights (batch, positions).

    Example:
        >>> import numpy as np
        >>> att = AdditiveAttention(units=8)
        >>> ctx, w = att(np.ones((2, 5), "float32"), np.ones((2, 49, 16), "float32"))
        >>> tuple(ctx.shape), tuple(w.shape)
        ((2, 16), (2, 49))
        >>> keys = att.project_values(np.ones((2, 49, 16), "float32"))  # once per image
        >>> ctx, w = att(np.ones((2, 5), "float32"), np.ones((2, 49, 16), "float32"),
        ...              projected_values=keys)
        >>> tuple(keys.shape), tuple(w.shape)
        ((2, 49, 8), (2, 49))

    Reference:
        Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to Align and
        Translate", ICLR 2015; Xu et al., "Show, Attend and Tell", ICML 2015 (over image regions).
    """

    def __init__(self, units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.supports_masking = True
        self.values_proj = keras.layers.Dense(self.units, use_bias=True, name="values_proj")
        self.query_proj = keras.layers.Dense(self.units, use_bias=False, name="query_proj")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    @staticmethod
    def _unpack(query, values, mask):
        if isinstance(query, (list, tuple)):
            parts = list(query)
            if len(parts) not in (2, 3):
                raise ValueError(
                    f"AdditiveAttention takes [query, values] or [query, values, mask], "
                    f"got a list of {len(parts)}"
                )
            query, values = parts[0], parts[1]
            if len(parts) == 3:
                mask = parts[2]
        elif values is None and query is not None and len(query.shape) == 3:
            query, values = None, query
        if values is None:
            raise ValueError("AdditiveAttention needs `values` of shape (batch, positions, dim)")
        return query, values, mask

    def build(
        self, query_shape=None, values_shape=None, mask_shape=None, projected_values_shape=None
    ):
        query_shape, values_shape = _split_shapes(query_shape, values_shape)
        self.values_proj.build(tuple(values_shape))
        if query_shape is not None:
            self.query_proj.build(tuple(query_shape))
        self.score.build((*tuple(values_shape)[:-1], self.units))
        self.built = True

    def project_values(self, values):
        """`W_v v_r + b` for every position: (batch, positions, units), for `projected_values`."""
        return self.values_proj(values)

    def call(self, query, values=None, mask=None, projected_values=None):
        query, values, mask = self._unpack(query, values, mask)
        if projected_values is None:
            projected_values = self.values_proj(values)
        hidden = projected_values  # (batch, positions, units)
        if query is not None:
            hidden = hidden + ops.expand_dims(self.query_proj(query), 1)
        scores = ops.squeeze(self.score(ops.tanh(hidden)), -1)  # (batch, positions)
        if mask is None:
            weights = ops.softmax(scores, axis=-1)
        else:
            m = ops.cast(mask, scores.dtype)
            scores = scores - 1e9 * (1.0 - m)
            weights = ops.softmax(scores, axis=-1) * m
            weights = weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1e-9)
        # sum_r weights_r v_r as a batched matmul: no (batch, positions, value_dim) temporary
        context = ops.squeeze(ops.matmul(ops.expand_dims(weights, 1), values), 1)  # (batch, dim)
        return context, weights

    def compute_mask(self, *args, **kwargs):
        return None

    def compute_output_shape(
        self, query_shape=None, values_shape=None, mask_shape=None, projected_values_shape=None
    ):
        _, values_shape = _split_shapes(query_shape, values_shape)
        return (values_shape[0], values_shape[-1]), (values_shape[0], values_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}
