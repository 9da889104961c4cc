"""The one shared check every layer and model of the kit passes (keras-hub style).

`check_layer` asserts, for a layer or model and example inputs:
1. the output shape (or shapes, for several outputs);
2. the `.keras` serialization round trip: a model wrapping the layer is saved and loaded and
   gives the same outputs on the same inputs;
3. the trainable weight count (number of scalar parameters);
4. one training step runs and changes the trainable weights, with finite loss.

Example:
    >>> import keras, numpy as np
    >>> check_layer(keras.layers.Dense(3), np.ones((2, 4), "float32"),
    ...             expected_output_shape=(2, 3), expected_trainable_params=15)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _shape_of(t) -> tuple:
    return tuple(int(d) for d in t.shape)


def check_layer(
    layer: keras.layers.Layer,
    inputs,
    expected_output_shape,
    expected_trainable_params: int | None = None,
    call_kwargs: dict | None = None,
    train: bool = True,
    atol: float = 1e-5,
) -> None:
    """Run the shared checks on `layer` called with `inputs` (array, list or dict of arrays).

    Args:
        layer: a fresh layer or model instance.
        inputs: example inputs; a list/tuple is passed positionally as a list, a dict by name.
        expected_output_shape: shape tuple, or a list of tuples for several outputs.
        expected_trainable_params: scalar trainable parameter count, or None to skip.
        call_kwargs: extra constant keyword arguments for the call (e.g. `{"training": False}`).
        train: also run one optimisation step and check the weights move.
        atol: tolerance of the save/load comparison.
    """
    call_kwargs = dict(call_kwargs or {})
    if isinstance(inputs, dict):
        sym = {
            k: keras.Input(shape=v.shape[1:], dtype=str(v.dtype), name=k) for k, v in inputs.items()
        }
        feed = inputs
    elif isinstance(inputs, (list, tuple)):
        sym = [keras.Input(shape=v.shape[1:], dtype=str(v.dtype)) for v in inputs]
        feed = list(inputs)
    else:
        sym = keras.Input(shape=inputs.shape[1:], dtype=str(inputs.dtype))
        feed = inputs
    out = layer(sym, **call_kwargs)
    model = keras.Model(sym, out)

    # 1. output shape(s)
    got = _as_list(model(feed, training=False))
    want = expected_output_shape
    want = list(want) if isinstance(want, list) else [want]
    assert [_shape_of(g) for g in got] == [tuple(w) for w in want], (
        f"output shapes {[_shape_of(g) for g in got]} != expected {want}"
    )

    # 2. .keras round trip
    before = [keras.ops.convert_to_numpy(g) for g in got]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "layer.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
    after = [keras.ops.convert_to_numpy(g) for g in _as_list(loaded(feed, training=False))]
    for b, a in zip(before, after, strict=True):
        np.testing.assert_allclose(a, b, atol=atol, err_msg="outputs differ after .keras save/load")

    # 3. trainable parameter count
    if expected_trainable_params is not None:
        n = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        assert n == expected_trainable_params, (
            f"{n} trainable params != {expected_trainable_params}"
        )

    # 4. one training step moves the weights
    if train and model.trainable_weights:
        targets = [np.random.default_rng(0).normal(size=b.shape).astype("float32") for b in before]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=["mse"] * len(targets))
        w0 = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
        loss = model.train_on_batch(feed, targets if len(targets) > 1 else targets[0])
        loss = float(np.ravel(loss)[0])
        assert np.isfinite(loss), f"training step gave loss {loss}"
        w1 = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
        assert any(not np.allclose(a, b) for a, b in zip(w0, w1, strict=True)), (
            "one training step did not change any trainable weight"
        )
