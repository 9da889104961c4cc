"""Co-attention between image regions and words (Zhang et al., IJCAI 2017)."""

from __future__ import annotations

import keras
from keras import ops

from hashtag_kit.layers.additive_attention import AdditiveAttention


@keras.saving.register_keras_serializable(package="hashtag_kit")
class CoAttention(keras.layers.Layer):
    """Text-guided attention over image regions, then image-guided attention over words.

    1. the text summary `t` is the masked mean of the word vectors;
    2. `t` guides additive attention over the image regions: image context `v`;
    3. `v` guides additive attention over the words: text context `s`.

    Both attentions are `AdditiveAttention` layers of `units` hidden units. A post without
    words (all masked) gets a zero text summary (the image attention is then unguided) and a
    zero text context.

    Args:
        units: hidden size of both attention scorers.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: a list `[regions, words]` or `[regions, words, word_mask]`:
            regions (batch, n_regions, image_dim), words (batch, n_words, text_dim),
            word_mask (batch, n_words) bool or 0/1 (True/1 = a real word).

    Returns:
        `(image_context, text_context, image_weights, text_weights)` of shapes
        (batch, image_dim), (batch, text_dim), (batch, n_regions), (batch, n_words).

    Example:
        >>> import numpy as np
        >>> co = CoAttention(units=8)
        >>> v, s, a_img, a_txt = co([np.ones((2, 49, 32), "float32"),
        ...                          np.ones((2, 6, 16), "float32")])
        >>> tuple(v.shape), tuple(s.shape), tuple(a_img.shape), tuple(a_txt.shape)
        ((2, 32), (2, 16), (2, 49), (2, 6))

    Reference:
        Zhang, Wang, Huang, Huang & Gong, "Hashtag Recommendation for Multimodal Microblog
        Using Co-Attention Network", IJCAI 2017.
    """

    def __init__(self, units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.supports_masking = True  # word masks are passed explicitly as the third input
        self.image_attention = AdditiveAttention(self.units, name="text_guided_image_attention")
        self.text_attention = AdditiveAttention(self.units, name="image_guided_text_attention")

    def build(self, inputs_shape):
        regions_shape, words_shape = tuple(inputs_shape[0]), tuple(inputs_shape[1])
        self.image_attention.build(words_shape[:1] + words_shape[2:], regions_shape)
        self.text_attention.build(regions_shape[:1] + regions_shape[2:], words_shape)
        self.built = True

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError("CoAttention takes [regions, words] or [regions, words, word_mask]")
        regions, words = inputs[0], inputs[1]
        mask = inputs[2] if len(inputs) == 3 else None
        if mask is None:
            m = ops.ones(ops.shape(words)[:2], dtype=words.dtype)
        else:
            m = ops.cast(mask, words.dtype)
        summary = ops.sum(words * ops.expand_dims(m, -1), axis=1) / ops.maximum(
            ops.sum(m, axis=1, keepdims=True), 1.0
        )  # (batch, text_dim)
        image_context, image_weights = self.image_attention(summary, regions)
        text_context, text_weights = self.text_attention(image_context, words, mask=m)
        return image_context, text_context, image_weights, text_weights

    def compute_mask(self, *args, **kwargs):
        return None

    def compute_output_shape(self, inputs_shape):
        r, w = tuple(inputs_shape[0]), tuple(inputs_shape[1])
        return (r[0], r[-1]), (w[0], w[-1]), (r[0], r[1]), (w[0], w[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}
