"""`UniversalSentenceEncoder`: a string-in, vector-out SavedModel (USE v4) as a Keras 3 layer."""

from __future__ import annotations

import keras

from hashtag_kit.encoders.text import load_saved_model


@keras.saving.register_keras_serializable(package="hashtag_kit")
class UniversalSentenceEncoder(keras.layers.Layer):
    """Universal Sentence Encoder (or any string-in, vector-out SavedModel) as a Keras layer.

    The SavedModel is loaded with `tf.saved_model.load` (TensorFlow backend only) and kept
    frozen; the layer has no trainable weights. A `.keras` file holding this layer stores the
    handle, not the encoder: the folder must exist where the model is loaded again.

    Args:
        handle: a local SavedModel folder (for USE v4: the unpacked TF Hub download).
        output_dim: size of the returned vectors (512 for USE).
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: string tensor `(batch,)`.

    Returns:
        float32 `(batch, output_dim)` sentence vectors.

    Example:
        >>> use = UniversalSentenceEncoder("/models/use4")
        >>> use(tf.constant(["a cat on a sofa"])).shape
        TensorShape([1, 512])

    Reference:
        Cer et al., "Universal Sentence Encoder", 2018.
    """

    def __init__(self, handle: str, output_dim: int = 512, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.handle = str(handle)
        self.output_dim = int(output_dim)
        self._module = load_saved_model(self.handle)

    def call(self, inputs):
        # lazy: TensorFlow / Keras take seconds to import
        import tensorflow as tf

        out = self._module(tf.reshape(tf.convert_to_tensor(inputs, tf.string), [-1]))
        return tf.cast(tf.reshape(out, [-1, self.output_dim]), "float32")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "handle": self.handle, "output_dim": self.output_dim}
