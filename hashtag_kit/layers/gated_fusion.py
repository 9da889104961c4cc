"""Weighted (gated) fusion of text and image vectors (the DESIGN follow-up)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hashtag_kit")
class GatedFusion(keras.layers.Layer):
    """Weighted fusion with a learned per-dimension gate between text and image.

    t and v are first projected to a common size `units`; then
    f = concat(t, v) -> BatchNorm -> Dense + LeakyReLU -> BatchNorm -> Dense + sigmoid = w and
    p = (1 - w)·t + w·v. With presence masks, a missing modality's projection is zeroed before
    the gate sees it: the fused vector of a post without text is then w·v, built from the image
    alone, with a gate that has learned (under modality dropout) how to weigh and rescale the
    image vector per dimension when the text is absent, rather than a fixed sum.

    Args:
        units: size of the common space, the gate and the fused vector.
        hidden_units: size of the gate's hidden layer (default: `units`).
        negative_slope: slope of the LeakyReLU for negative inputs.
        return_gate: also return the gate `w` (batch, units).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: list `[t, v]` or `[t, v, t_mask, v_mask]`: text features (batch, d_t), image
            features (batch, d_v), optional presence masks (batch,) in {0, 1}.
        training: whether BatchNorm uses batch statistics.

    Returns:
        The fused vector (batch, units), or `[p, w]` when `return_gate`.

    Example:
        >>> import numpy as np
        >>> t, v = np.ones((2, 5), "float32"), np.ones((2, 7), "float32")
        >>> p, w = GatedFusion(4, return_gate=True)([t, v, np.zeros(2), np.ones(2)])
        >>> tuple(p.shape), tuple(w.shape)  # no text: p = w * v, from the image alone
        ((2, 4), (2, 4))

    Reference:
        Yakovlev & Shapoval 2024, follow-up of DESIGN (Bansal et al. 2022): weighted fusion of
        text and image embeddings with a learned gate.
    """

    def __init__(
        self,
        units: int,
        hidden_units: int | None = None,
        negative_slope: float = 0.2,
        return_gate: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = int(units)
        self.hidden_units = int(hidden_units or units)
        self.negative_slope = float(negative_slope)
        self.return_gate = bool(return_gate)
        self.text_projection = keras.layers.Dense(self.units, name="text_projection")
        self.image_projection = keras.layers.Dense(self.units, name="image_projection")
        self.norm_in = keras.layers.BatchNormalization(name="norm_in")
        self.hidden = keras.layers.Dense(self.hidden_units, name="hidden")
        self.norm_hidden = keras.layers.BatchNormalization(name="norm_hidden")
        self.gate = keras.layers.Dense(self.units, activation="sigmoid", name="gate")

    def build(self, input_shape):
        self.text_projection.build(input_shape[0])
        self.image_projection.build(input_shape[1])
        self.norm_in.build((None, 2 * self.units))
        self.hidden.build((None, 2 * self.units))
        self.norm_hidden.build((None, self.hidden_units))
        self.gate.build((None, self.hidden_units))

    def call(self, inputs, training=None):
        t = self.text_projection(inputs[0])  # (batch, units)
        v = self.image_projection(inputs[1])  # (batch, units)
        if len(inputs) == 4:
            m_t = ops.expand_dims(ops.cast(inputs[2], t.dtype), -1)  # (batch, 1)
            m_v = ops.expand_dims(ops.cast(inputs[3], v.dtype), -1)
            t, v = t * m_t, v * m_v
        f = self.norm_in(ops.concatenate([t, v], axis=-1), training=training)
        h = ops.leaky_relu(self.hidden(f), negative_slope=self.negative_slope)
        h = self.norm_hidden(h, training=training)
        w = self.gate(h)  # (batch, units) in (0, 1)
        p = (1.0 - w) * t + w * v
        return [p, w] if self.return_gate else p

    def compute_output_shape(self, input_shape):
        shape = (input_shape[0][0], self.units)
        return [shape, shape] if self.return_gate else shape

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "hidden_units": self.hidden_units,
            "negative_slope": self.negative_slope,
            "return_gate": self.return_gate,
        }
