"""Presence masks for image and text, with modality dropout in training."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hashtag_kit")
class ModalityMask(keras.layers.Layer):
    """Zero out missing modalities and, in training, drop one modality of complete posts.

    One model then serves image-only, text-only and image+text posts: during training a post
    that has both modalities loses its text with probability `rate / 2` and its image with
    probability `rate / 2` (never both), so the fusion and the decoder learn to work from
    either alone. Outside training only the given masks apply.

    Args:
        rate: probability that a complete post loses one of its modalities in training.
        seed: seed of the dropout draws (an int, or None).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: list `[t, v, t_mask, v_mask]`, the order of the fusion layers: text features
            (batch, d_t), image features (batch, d_v), text and image presence (batch,) in {0, 1}.
        training: whether to apply modality dropout.

    Returns:
        `[t, v, t_mask, v_mask]` with missing or dropped modalities zeroed and the masks
        updated (masks are float32, (batch,)); ready for a fusion layer.

    Example:
        >>> import numpy as np
        >>> img, txt = np.ones((2, 3), "float32"), np.ones((2, 4), "float32")
        >>> out = ModalityMask(0.5)([txt, img, np.array([1.0, 0.0]), np.array([1.0, 1.0])])
        >>> out[0].numpy()[1].tolist()  # the second post has no text
        [0.0, 0.0, 0.0, 0.0]

    Reference:
        Neverova et al. 2016, "ModDrop: adaptive multi-modal gesture recognition" (modality
        dropout); the DESIGN follow-up (Yakovlev & Shapoval 2024) for hashtag posts without text.
    """

    def __init__(self, rate: float = 0.3, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"ModalityMask rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        text, image, text_mask, image_mask = inputs
        m_v = ops.cast(ops.reshape(image_mask, (-1,)), "float32")  # (batch,)
        m_t = ops.cast(ops.reshape(text_mask, (-1,)), "float32")
        if training and self.rate > 0:
            u = keras.random.uniform(ops.shape(m_v), seed=self.seed_generator)  # (batch,)
            both = m_v * m_t
            drop_text = both * ops.cast(u < self.rate / 2, "float32")
            drop_image = both * ops.cast((u >= self.rate / 2) & (u < self.rate), "float32")
            m_t = m_t - drop_text
            m_v = m_v - drop_image
        image = image * ops.expand_dims(ops.cast(m_v, image.dtype), -1)
        text = text * ops.expand_dims(ops.cast(m_t, text.dtype), -1)
        return [text, image, m_t, m_v]

    def compute_output_shape(self, input_shape):
        return [input_shape[0], input_shape[1], (input_shape[0][0],), (input_shape[1][0],)]

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
