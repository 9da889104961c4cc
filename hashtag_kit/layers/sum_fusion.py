"""Sum fusion p = t + v of projected text and image vectors (the DESIGN base model)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hashtag_kit")
class SumFusion(keras.layers.Layer):
    """Fuse a text and an image vector by adding their projections: p = P_t t + P_v v.

    Both inputs are first projected to a common size `units` (they come from different
    encoders). A missing modality (mask 0) contributes exactly zero.

    Args:
        units: size of the common space and of the fused vector.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: list `[t, v]` or `[t, v, t_mask, v_mask]`: text features (batch, d_t), image
            features (batch, d_v), optional presence masks (batch,) in {0, 1}.

    Returns:
        The fused post vector, (batch, units).

    Example:
        >>> import numpy as np
        >>> p = SumFusion(4)([np.ones((3, 5), "float32"), np.ones((3, 7), "float32")])
        >>> tuple(p.shape)
        (3, 4)

    Reference:
        Bansal et al. 2022, "DESIGN: a multimodal hashtag recommendation ..." (base model: the
        text and image representations are added).
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.text_projection = keras.layers.Dense(self.units, name="text_projection")
        self.image_projection = keras.layers.Dense(self.units, name="image_projection")

    def build(self, input_shape):
        self.text_projection.build(input_shape[0])
        self.image_projection.build(input_shape[1])

    def call(self, inputs):
        t = self.text_projection(inputs[0])  # (batch, units)
        v = self.image_projection(inputs[1])  # (batch, units)
        if len(inputs) == 4:
            t = t * ops.expand_dims(ops.cast(inputs[2], t.dtype), -1)
            v = v * ops.expand_dims(ops.cast(inputs[3], v.dtype), -1)
        return t + v

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
