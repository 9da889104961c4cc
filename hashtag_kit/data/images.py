"""Safe image reading: every image becomes uint8 RGB, or a clear `ImageError` naming the file.

Conversions (`load_image`): EXIF orientation applied; grayscale, 1-bit, palette, CMYK, YCbCr,
LAB and HSV converted to RGB; transparency (RGBA, LA, palette with transparency) composited
on white; 16-bit and 32-bit integer images scaled to 0-255 (`value * 255 / 65535`); float
images in [0, 1] scaled by 255, others clipped. `open_image` returns the same picture as a
`PIL.Image` (for callers that crop or resize with PIL next).

Reduced-scale decoding: given the size the caller needs (`size`, or `min_side` for the shorter
side), a JPEG at least `REDUCING_GAP` (2) times larger is decoded at 1/2, 1/4 or 1/8 scale by
libjpeg's DCT scaling (`Image.draft`), far cheaper than a full decode and a resize, keeping
that margin (see `open_image`). The sizes asked are turned with the EXIF orientation.

Failures (`ImageError(path, reason)`, a `ValueError`): missing file, not a file, zero bytes,
unknown format (random bytes), truncated or corrupt data, decompression bombs, paths that
escape the data folder (`resolve_image_path`). JPEGs (YCbCr and grayscale) are decoded by
libjpeg-turbo through `simplejpeg` in strict mode, pixel-identical to PIL's decoder: data that
libjpeg only warns about ("Corrupt JPEG data: ...") is refused, where PIL would return garbled
pixels without a word. Damage that still decodes as valid data cannot be seen by any decoder.

Example:
    >>> from PIL import Image
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); Image.new("L", (4, 3), 7).save(os.path.join(d, "g.png"))
    >>> load_image(os.path.join(d, "g.png")).shape
    (3, 4, 3)
    >>> check_image(os.path.join(d, "missing.png"))
    'file not found'
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image, ImageOps, UnidentifiedImageError

#: bytes at the end of a JPEG searched for the end-of-image marker (trailing padding allowed)
JPEG_TAIL = 1024


class ImageError(ValueError):
    """An image that cannot be used: `path` (the file, or the path as the data gave it) and
    `reason` (what is wrong, in words)."""

    def __init__(self, path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


def resolve_image_path(root: str | Path, rel: str | Path) -> Path:
    """The absolute path of `rel` inside `root`; `ImageError` if it escapes `root`.

    Relative paths are joined to `root`; absolute paths are accepted only inside `root`.
    Symbolic links are followed, so a link pointing out of `root` is rejected too. A path the file
    system cannot look up (a name over 255 bytes, 4,096 in all) is an `ImageError` too, not the
    `OSError` a later `is_file()` would raise. The file need not exist (`load_image` /
    `check_image` say so).

    Example:
        >>> resolve_image_path("/data/set", "img/1.jpg").as_posix()
        '/data/set/img/1.jpg'
        >>> try:
        ...     resolve_image_path("/data/set", "../../etc/passwd")
        ... except ImageError as e:
        ...     print(e)
        ../../etc/passwd: image path escapes the data folder /data/set
    """
    if rel is None or str(rel).strip() == "":
        raise ImageError(rel, "empty image path")
    if "\x00" in str(rel):
        raise ImageError(repr(str(rel)), "image path contains a NUL character")
    root_resolved = Path(os.path.realpath(root))
    resolved = Path(os.path.realpath(Path(root) / rel))  # an absolute `rel` replaces `root`
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise ImageError(rel, f"image path escapes the data folder {root}")
    if len(os.fsencode(resolved)) >= 4096 or max(len(os.fsencode(p)) for p in resolved.parts) > 255:
        raise ImageError(rel, "image path too long (a name over 255 bytes or over 4,095 in all)")
    return resolved


def _file_problem(path: Path) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return "file not found"
    except OSError as e:
        return f"cannot access file ({e.strerror or e})"
    if not path.is_file():
        return "not a regular file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    return None


#: what opening or decoding a bad image file raises (`_failure` says why in words)
_FAILURES = (Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError)


def _failure(e: Exception, truncated: tuple[str, ...]) -> str:
    """The `ImageError` reason for `e`, one of `_FAILURES`; "truncated" when its message holds
    one of the `truncated` words, else "corrupt"."""
    if isinstance(e, UnidentifiedImageError):
        return "not an image (unknown format)"
    if isinstance(e, PermissionError):
        return "cannot read file (permission denied)"
    if isinstance(e, Image.DecompressionBombError):
        return f"image too large ({e})"
    kind = "truncated" if any(w in str(e).lower() for w in truncated) else "corrupt"
    return f"{kind} image ({e})"


def check_image(path: str | Path, root: str | Path | None = None, full: bool = False) -> str | None:
    """Why the image cannot be used, or None when it looks fine.

    Fast by default: file checks, the format header, PIL's `verify()` (checksums for PNG), and
    for JPEG the end-of-image marker (a truncated JPEG lacks it).

    Args:
        path: the image file.
        root: when given, `path` must stay inside this folder (see `resolve_image_path`).
        full: decode the whole image (slower, catches every corruption).
    """
    try:
        p = _path(path, root)
    except ImageError as e:
        return e.reason
    problem = _file_problem(p)
    if problem:
        return problem
    if full:
        try:
            load_image(p)
        except ImageError as e:
            return e.reason
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(p) as im:
                fmt = im.format
                im.verify()
    except _FAILURES as e:
        return _failure(e, ("truncat",))
    if fmt == "JPEG":
        with open(p, "rb") as f:
            f.seek(max(p.stat().st_size - JPEG_TAIL, 0))
            if b"\xff\xd9" not in f.read():
                return "truncated JPEG (no end-of-image marker)"
    return None


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "L" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(im, dtype=np.float64)
        if mode == "F":
            a = a * 255.0 if a.size and np.nanmax(a) <= 1.0 else a
        else:
            a = a * (255.0 / 65535.0)
        a = np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)
        return Image.fromarray(a, mode="L").convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV, RGBX, ...


#: a JPEG is decoded at reduced scale only while it keeps this many times the pixels needed
REDUCING_GAP = 2.0
#: EXIF orientations whose upright picture swaps width and height (90 or 270 degree turns)
TURNED = (5, 6, 7, 8)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1-8) `ImageOps.exif_transpose` will apply; 1 when unreadable."""
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # malformed EXIF: the image is used as stored
        return 1


def _draft(im: Image.Image, min_hw: tuple[int, int] | None, reducing_gap) -> int:
    """Ask a JPEG to decode at reduced scale (see the module doc) while the upright picture keeps
    at least `reducing_gap` x `min_hw` (height, width) pixels; returns the scale's denominator
    (1: full size). Must come before `load()`."""
    if min_hw is None or not reducing_gap:
        return 1
    h, w = (max(1, int(math.ceil(reducing_gap * n - 1e-9))) for n in min_hw)
    if _orientation(im) in TURNED:  # draft sees the stored picture: the upright one turned
        h, w = w, h
    stored_w = im.width
    # PIL picks the largest scale 1/s (s = 8, 4, 2, 1) with s <= min(W // w, H // h): both
    # decoded sides stay >= what is asked, and a smaller picture is decoded in full (formats
    # other than JPEG and MPO ignore `draft`)
    done = im.draft("RGB", (w, h))
    return 1 if done is None else round(stored_w / done[1][2])


#: EXIF orientation -> whether the upright picture's x and y run against the stored axes
_MIRRORED = {2: (1, 0), 3: (1, 1), 4: (0, 1), 6: (1, 0), 7: (1, 1), 8: (0, 1)}


def _decode_jpeg(header: Image.Image) -> Image.Image:
    """Decode a YCbCr or grayscale JPEG (`header`: opened, not loaded) strictly with `simplejpeg`
    (see the module doc; "Premature end of JPEG file" raises ValueError too) as RGB, at the scale
    `header.draft` chose (`header.size`), with the header's `info` (EXIF: the turn is applied
    after)."""
    w, h = header.size
    header.fp.seek(0)
    arr = simplejpeg.decode_jpeg(header.fp.read(), "RGB", min_height=h, min_width=w, strict=True)
    if arr.shape[:2] != (h, w):  # another scale than PIL's draft chose: PIL decodes (checked)
        header.load()
        return header
    out = Image.fromarray(arr)
    out.info.update(header.info)
    return out


def _full_box(size, full_size, scale: int, orientation: int) -> tuple[float, ...]:
    """Where the full picture (`full_size`, upright) lies in its upright decoding at 1/`scale`
    (`size`), in that decoding's pixel coordinates. libjpeg rounds a reduced side up, so the
    last column/row may stand for less than `scale` pixels; mirrored by the EXIF turn, that
    partial one comes first."""
    (w, h), (full_w, full_h) = size, full_size
    x_flip, y_flip = _MIRRORED.get(orientation, (0, 0))
    x0 = w - full_w / scale if x_flip else 0.0
    y0 = h - full_h / scale if y_flip else 0.0
    return (x0, y0, x0 + full_w / scale, y0 + full_h / scale)


def open_image(
    path: str | Path,
    root: str | Path | None = None,
    *,
    min_side: int | None = None,
    reducing_gap: float | None = REDUCING_GAP,
) -> Image.Image:
    """Read an image as an upright RGB `PIL.Image` (loaded), or raise `ImageError`.

    `load_image` without the copy into numpy, for code that crops or resizes with PIL next.

    Args:
        path: the image file.
        root: when given, `path` (relative or absolute) must stay inside this folder.
        min_side: the shorter side the caller needs. A JPEG is then decoded at reduced scale
            (see the module doc) as long as its shorter side stays at least `reducing_gap` x
            `min_side`, so the result can be smaller than the stored image; its `info` then
            holds `full_size` (width, height of the upright picture at full size) and
            `full_box`, where that full picture lies in the result's pixel coordinates (for
            `hashtag_kit.encoders.image.centre_crop_resize`). None: full size.
        reducing_gap: the margin kept above `min_side` (PIL's `thumbnail` keeps 2 as well):
            the resize that follows still shrinks by this factor or more, which smooths the
            DCT scaling's coarser filter, so results stay close to a full decode. None (or
            0): always decode in full.

    Example:
        >>> from PIL import Image
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); Image.new("RGB", (1600, 1200)).save(os.path.join(d, "p.jpg"))
        >>> open_image(os.path.join(d, "p.jpg"), min_side=256).size  # 1/2: 600 >= 2 x 256
        (800, 600)
        >>> open_image(os.path.join(d, "p.jpg"), min_side=256, reducing_gap=1).size  # 1/4
        (400, 300)
    """
    return _read(_path(path, root), min_side, None, reducing_gap)


def _path(path, root) -> Path:
    return resolve_image_path(root, path) if root is not None else Path(path)


def _read(p: Path, min_side, size, reducing_gap) -> Image.Image:
    min_hw = None if min_side is None else (int(min_side), int(min_side))
    problem = _file_problem(p)
    if problem:
        raise ImageError(p, problem)
    im = rgb = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns about odd EXIF / large images
            im = Image.open(p)
            full_size = im.size
            scale = _draft(im, size or min_hw, reducing_gap)
            if im.format == "JPEG" and im.mode in ("RGB", "L"):
                decoded = _decode_jpeg(im)
            else:
                im.load()  # (closes the file: a single-frame image keeps only its pixels)
                decoded = im
            orientation = _orientation(decoded)
            try:
                ImageOps.exif_transpose(decoded, in_place=True)  # no copy when already upright
            except Exception:  # malformed EXIF must not make a readable image unusable
                orientation = 1  # used as stored
            rgb = _to_rgb(decoded)
            box = None
            if scale > 1:
                if orientation in TURNED:
                    full_size = full_size[::-1]
                box = _full_box(rgb.size, full_size, scale, orientation)
            if size is not None:
                h, w = size
                if (h, w) != (rgb.height, rgb.width) or box is not None:
                    rgb = rgb.resize((w, h), Image.Resampling.BILINEAR, box=box)
            elif box is not None:  # for crops to match those of a full decode
                rgb.info.update(full_size=full_size, full_box=box)
            if rgb is im and getattr(im, "fp", None) is not None:
                rgb = im.copy()  # a multi-frame file (GIF, TIFF, MPO) stays open after load()
            return rgb
    except _FAILURES as e:
        raise ImageError(p, _failure(e, ("truncated", "premature end"))) from e
    finally:
        if im is not None and im is not rgb:
            im.close()  # the file and the pixels no longer needed


def load_image(
    path: str | Path,
    size: int | tuple[int, int] | None = None,
    root: str | Path | None = None,
    *,
    min_side: int | None = None,
    reducing_gap: float | None = REDUCING_GAP,
) -> np.ndarray:
    """Read an image as `uint8` RGB, shape (H, W, 3), or raise `ImageError` naming the file.

    Args:
        path: the image file.
        size: resize to `(height, width)` (an int means square) with bilinear filtering, no
            cropping; None keeps the original size. A large JPEG is first decoded at reduced
            scale, keeping `reducing_gap` times `size` (see `open_image`).
        root: when given, `path` (relative or absolute) must stay inside this folder.
        min_side, reducing_gap: without `size`, as in `open_image`.

    Returns:
        np.ndarray uint8 of shape (H, W, 3) (or `size`), EXIF orientation applied.
    """
    p = _path(path, root)
    if size is not None:
        h, w = (size, size) if isinstance(size, int) else size
        size = (int(h), int(w))
    arr = np.asarray(_read(p, min_side, size, reducing_gap), dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(p, f"unexpected decoded shape {arr.shape}")
    return arr


def read_image(image, where: str = "image") -> np.ndarray:
    """A path (read with `load_image`) or an image array -> uint8 RGB (H, W, 3).

    An array may be grey (H, W), RGB or RGBA (the alpha is dropped), uint8 or float (values in
    [0, 1] are scaled to [0, 255]).

    Raises:
        ImageError: an unreadable file (names it).
        ValueError: an array of another shape, or with NaN or infinite values (names `where`).
    """
    if isinstance(image, (str, Path)):
        return load_image(str(image))
    if isinstance(image, (bytes, bytearray)):
        raise ValueError(f"{where}: give a path as str or Path, or an array, not bytes")
    arr = np.asarray(image)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{where}: an image array must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or min(arr.shape[:2]) < 1:
        raise ValueError(f"{where}: an image array must be (H, W, 3), got shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{where}: the image array has NaN or infinite values")
        if arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return arr
