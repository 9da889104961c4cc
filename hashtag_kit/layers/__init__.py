"""Reusable Keras layers of the kit (one concept per layer, all `.keras` serializable)."""

from hashtag_kit.layers.additive_attention import AdditiveAttention  # noqa: F401
