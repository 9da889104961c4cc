"""Craft PyTorch weight files (legacy and zip format) without torch, for the unpickler tests.

`legacy_file` / `zip_file` write a state dict of float32 tensors given as views
`(storage key, offset, size, stride)` into named storages, so tests can craft any header: a
negative stride, an offset past the storage, a wrong element count. Pickle writes torch's
globals by module and name, so `fake_torch` puts stand-in `torch` / `torch._utils` modules in
`sys.modules` while pickling (torch itself is never imported).
"""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

from hashtag_kit.encoders.torch_weights import MAGIC_NUMBER, PROTOCOL_VERSION


@contextlib.contextmanager
def fake_torch():
    """Temporary stand-ins so pickle can *write* torch globals."""
    utils = types.ModuleType("torch._utils")
    torch = types.ModuleType("torch")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - never called
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2

    class FloatStorage:
        pass

    FloatStorage.__module__ = "torch"
    FloatStorage.__qualname__ = "FloatStorage"
    torch.FloatStorage = FloatStorage
    torch._utils = utils
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride)

    def __reduce__(self):
        storage, offset, size, stride = self.args
        fn = sys.modules["torch._utils"]._rebuild_tensor_v2
        return (fn, (storage, offset, size, stride, False, collections.OrderedDict()))


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            ftype = sys.modules["torch"].FloatStorage
            return ("storage", ftype, obj.key, "cpu", obj.numel, None)
        return None


def _state_pickle(tensors: dict, storages: dict) -> bytes:
    refs = {k: _Storage(k, np.asarray(v).size) for k, v in storages.items()}
    state = collections.OrderedDict(
        (name, _Tensor(refs.get(key) or _Storage(key, 1), offset, size, stride))
        for name, (key, offset, size, stride) in tensors.items()
    )
    buf = io.BytesIO()
    with fake_torch():
        _TorchPickler(buf, 2).dump(state)
    return buf.getvalue()


def legacy_header() -> bytes:
    """The three pickles before the state dict: magic number, protocol, system info."""
    head = pickle.dumps(MAGIC_NUMBER, 2) + pickle.dumps(PROTOCOL_VERSION, 2)
    return head + pickle.dumps({"protocol_version": PROTOCOL_VERSION, "little_endian": True}, 2)


def legacy_file(
    tensors: dict, storages: dict, numel: dict | None = None, keys: list | None = None
) -> bytes:
    """A legacy (pre-1.6) `torch.save` file. `tensors`: name -> (storage key, offset, size,
    stride; a key missing from `storages` is a storage the file lacks); `storages`: key ->
    float32 values; `numel`: key -> the element count to write in the storage's header instead
    of the true one; `keys`: the trailing storage key list instead of `list(storages)` (each
    listed key is followed by that storage's bytes). Crafted headers, for the refusal tests."""
    keys = list(storages) if keys is None else keys
    tail = pickle.dumps(keys, 2)
    for key in keys:
        values = storages.get(key, np.zeros(1))
        data = np.asarray(values, "<f4")
        tail += struct.pack("<q", (numel or {}).get(key, data.size)) + data.tobytes()
    return legacy_header() + _state_pickle(tensors, storages) + tail


def zip_file(tensors: dict, storages: dict) -> bytes:
    """The same state dict in the zip format (PyTorch >= 1.6)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", _state_pickle(tensors, storages))
        for key, values in storages.items():
            z.writestr(f"archive/data/{key}", np.asarray(values, "<f4").tobytes())
    return buf.getvalue()
