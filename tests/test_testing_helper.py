import keras
import numpy as np
import pytest

from hashtag_kit.testing import check_layer


def test_check_layer_passes_dense():
    check_layer(
        keras.layers.Dense(3), np.ones((2, 4), "float32"), (2, 3), expected_trainable_params=15
    )


def test_check_layer_catches_wrong_shape_and_count():
    with pytest.raises(AssertionError, match="output shapes"):
        check_layer(keras.layers.Dense(3), np.ones((2, 4), "float32"), (2, 4))
    with pytest.raises(AssertionError, match="trainable params"):
        check_layer(
            keras.layers.Dense(3), np.ones((2, 4), "float32"), (2, 3), expected_trainable_params=12
        )
