"""Fault classes from the trust-and-crash audit (issue 19): hostile weight files, ...

Each test asserts what a user sees: one clear error naming the file and the reason, nothing
executed, nothing corrupted, identical results after recovery.
"""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import torch_files

from hashtag_kit.encoders import efficientnet_lite as effl
from hashtag_kit.encoders.torch_weights import (
    UnsafeWeightsError,
    WeightFileError,
    file_sha256,
    load_state_dict,
)

# -- weight files: every tensor checked against its storage before memory is touched ----------
STORAGES = {"s": np.arange(12)}
GOOD = {"w": ("s", 0, (3, 4), (4, 1)), "b": ("s", 8, (4,), (1,))}


def _refused(path, *match):
    with pytest.raises(WeightFileError) as err:
        load_state_dict(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message, message
    for m in match:
        assert m in message, message
    return message


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
@pytest.mark.parametrize(
    "tensor, match",
    [
        (("s", 11, (3,), (-5,)), "negative"),  # reads before the storage: refused, not a crash
        (("s", 0, (3, 4), (-1, 1)), "negative"),
        (("s", -4, (4,), (1,)), "offset"),
        (("s", 9, (4,), (1,)), "reads element 12 of a storage of 12"),
        (("s", 0, (3, 4), (5, 1)), "reads element"),  # strides walk past the end
        (("s", 0, (3, 4), (1,)), "rank"),
        (("s", 0, (3, 4), (4.0, 1)), "integers"),
        (("s", 0, (1 << 20, 1 << 20), (0, 0)), "elements"),  # a 1e12-element broadcast view
        (("nope", 0, (1,), (1,)), "nope"),  # a storage the file does not have
    ],
)
def test_crafted_tensor_headers_are_refused_naming_the_file(tmp_path, fmt, tensor, match):
    path = tmp_path / f"crafted.{fmt}.pth"
    write = torch_files.legacy_file if fmt == "legacy" else torch_files.zip_file
    path.write_bytes(write({"w": tensor, "b": GOOD["b"]}, STORAGES))
    _refused(path, match)


@pytest.mark.parametrize(
    "numel, match",
    [(-1, "claims -1 elements"), (1 << 40, "bytes left"), (13, "bytes left")],
)
def test_crafted_storage_counts_are_refused(tmp_path, numel, match):
    """A negative count once made `f.read(-8)` read the whole rest of the file; a huge one was
    a bare MemoryError."""
    path = tmp_path / "count.pth"
    path.write_bytes(torch_files.legacy_file(GOOD, STORAGES, numel={"s": numel}))
    _refused(path, match)


@pytest.mark.parametrize("keys", [["s", "z"], ["s", "s"]])
def test_unknown_or_repeated_storage_keys_are_refused(tmp_path, keys):
    path = tmp_path / "keys.pth"
    path.write_bytes(torch_files.legacy_file(GOOD, STORAGES, keys=keys))
    _refused(path, "unknown or listed twice")


def test_zip_bomb_members_are_refused(tmp_path):
    import zipfile

    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", b"\x00" * (300 << 20))  # 300 MB of zeros, ~300 kB stored
    _refused(path, "expands")


def test_missing_and_foreign_files_say_what_they_are(tmp_path):
    _refused(tmp_path / "absent.pth", "not found")
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n")
    _refused(text, "not a")


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_random_byte_flips_never_crash(tmp_path, fmt):
    """Fuzz: 400 copies of a small weight file, each with 1-3 random bytes changed. Every load
    either returns float32 tensors of the state dict's names or refuses with a one-line error
    naming the file; no other exception, no crash (a crash would end the test process)."""
    write = torch_files.legacy_file if fmt == "legacy" else torch_files.zip_file
    original = write(GOOD, STORAGES)
    rng = random.Random(19)
    path = tmp_path / "fuzz.pth"
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(400):
        data = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            sd = load_state_dict(path)
        except (WeightFileError, UnsafeWeightsError) as e:
            assert str(e).startswith(str(path)) and "\n" not in str(e), e
            outcomes["refused"] += 1
        else:
            assert all(isinstance(v, np.ndarray) for v in sd.values())
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 50, outcomes  # the fuzz reaches the checks


def test_a_flipped_weight_byte_is_refused_when_the_digest_is_known(tmp_path):
    """Parsing cannot see a changed weight value; the packaged file's SHA-256 can, so the
    EfficientNet-Lite0 weights are checked against it before they are read."""
    real = effl.weights_path()
    assert file_sha256(real) == effl.IMAGENET_SHA256
    copy = tmp_path / real.name
    shutil.copy(real, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit inside the float data
    copy.write_bytes(bytes(data))
    load_state_dict(copy)  # parses: the structure is intact
    with pytest.raises(WeightFileError, match="SHA-256"):
        load_state_dict(copy, sha256=effl.IMAGENET_SHA256)
