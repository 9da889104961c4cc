"""Concatenation fusion of a text vector and an image vector (the original project's fusion)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hashtag_kit")
class ConcatFusion(keras.layers.Layer):
    """Fuse a text and an image vector by concatenation followed by one projection.

    p = W [m_t·t ; m_v·v] + b. The original project (Sahliya et al. 2024) concatenates the
    InceptionV3 image vector and the Universal Sentence Encoder text vector before its decoder;
    the projection brings the result to `units` so the fusions of this kit are interchangeable.

    Args:
        units: size of the fused vector.
        **kwargs: standard `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: list `[t, v]` or `[t, v, t_mask, v_mask]`: text features `t` (batch, d_t),
            image features `v` (batch, d_v) and, optionally, presence masks (batch,) in {0, 1};
            a missing modality contributes zeros.

    Returns:
        The fused post vector, (batch, units).

    Example:
        >>> import numpy as np
        >>> p = ConcatFusion(8)([np.ones((2, 5), "float32"), np.ones((2, 3), "float32")])
        >>> tuple(p.shape)
        (2, 8)

    Reference:
        Sahliya et al. 2024, multimodal hashtag recommendation with InceptionV3 and USE
        (concatenated encoders feeding an LSTM decoder); Yang et al. 2020 (AMNN).
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.projection = keras.layers.Dense(self.units, name="projection")

    def build(self, input_shape):
        d_t, d_v = input_shape[0][-1], input_shape[1][-1]
        self.projection.build((None, d_t + d_v))

    def call(self, inputs):
        t, v = inputs[0], inputs[1]
        if len(inputs) == 4:
            t = t * ops.expand_dims(ops.cast(inputs[2], t.dtype), -1)
            v = v * ops.expand_dims(ops.cast(inputs[3], v.dtype), -1)
        return self.projection(ops.concatenate([t, v], axis=-1))  # (batch, units)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
