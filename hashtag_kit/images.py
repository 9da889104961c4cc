"""Safe image reading: every image becomes uint8 RGB, or a clear `ImageError` naming the file.

Conversions (`load_image`): EXIF orientation applied; grayscale, 1-bit, palette, CMYK, YCbCr,
LAB and HSV converted to RGB; transparency (RGBA, LA, palette with transparency) composited
on white; 16-bit and 32-bit integer images scaled to 0-255 (`value * 255 / 65535`); float
images in [0, 1] scaled by 255, others clipped.

Failures (`ImageError(path, reason)`, a `ValueError`): missing file, not a file, zero bytes,
unknown format (random bytes), truncated or corrupt data, decompression bombs, paths that
escape the data folder (`resolve_image_path`).

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

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: bytes at the end of a JPEG searched for the end-of-image marker (trailing padding allowed)
JPEG_TAIL = 1024


class ImageError(ValueError):
    """An image that cannot be used, with the file and the reason.

    Args:
        path: the file (or the path as the data gave it).
        reason: what is wrong, in words.
    """

    def __init__(self, path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


def resolve_image_path(root: str | Path, rel: str | Path) -> Path:
    """The absolute path of `rel` inside `root`; `ImageError` if it escapes `root`.

    Relative paths are joined to `root`; absolute paths are accepted only inside `root`.
    Symbolic links are followed, so a link pointing out of `root` is rejected too. The file need
    not exist (`load_image` / `check_image` say so).

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
    candidate = Path(rel)
    if not candidate.is_absolute():
        candidate = Path(root) / candidate
    resolved = Path(os.path.realpath(candidate))
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise ImageError(rel, f"image path escapes the data folder {root}")
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


def check_image(path: str | Path, root: str | Path | None = None, full: bool = False) -> str | None:
    """Why the image cannot be used, or None when it looks fine.

    Fast by default: file checks, the format header, PIL's `verify()` (checksums for PNG), and
    for JPEG the end-of-image marker (a truncated JPEG lacks it). `full=True` decodes the image.

    Args:
        path: the image file.
        root: when given, `path` must stay inside this folder (see `resolve_image_path`).
        full: decode the whole image (slower, catches every corruption).
    """
    try:
        p = resolve_image_path(root, path) if root is not None else Path(path)
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
    except UnidentifiedImageError:
        return "not an image (unknown format)"
    except PermissionError:
        return "cannot read file (permission denied)"
    except Image.DecompressionBombError as e:
        return f"image too large ({e})"
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        kind = "truncated" if "truncat" in str(e).lower() else "corrupt"
        return f"{kind} image ({e})"
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


def _exif_upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(im) or im
    except Exception:  # malformed EXIF must not make a readable image unusable
        return im


def _size_hw(size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def load_image(
    path: str | Path, size: int | tuple[int, int] | None = None, root: str | Path | None = None
) -> np.ndarray:
    """Read an image as `uint8` RGB, shape (H, W, 3), or raise `ImageError` naming the file.

    Args:
        path: the image file.
        size: resize to `(height, width)` (an int means square) with bilinear filtering, no
            cropping; None keeps the original size.
        root: when given, `path` (relative or absolute) must stay inside this folder.

    Returns:
        np.ndarray uint8 of shape (H, W, 3) (or `size`), EXIF orientation applied.
    """
    p = resolve_image_path(root, path) if root is not None else Path(path)
    problem = _file_problem(p)
    if problem:
        raise ImageError(p, problem)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns about odd EXIF / large images
            with Image.open(p) as im:
                im.load()
                im = _exif_upright(im)
                rgb = _to_rgb(im)
                if size is not None:
                    h, w = _size_hw(size)
                    if (h, w) != (rgb.height, rgb.width):
                        rgb = rgb.resize((w, h), Image.Resampling.BILINEAR)
                arr = np.asarray(rgb, dtype=np.uint8)
    except UnidentifiedImageError as e:
        raise ImageError(p, "not an image (unknown format)") from e
    except PermissionError as e:
        raise ImageError(p, "cannot read file (permission denied)") from e
    except Image.DecompressionBombError as e:
        raise ImageError(p, f"image too large ({e})") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        reason = str(e)
        if "truncated" in reason.lower():
            raise ImageError(p, f"truncated image ({reason})") from e
        raise ImageError(p, f"corrupt image ({reason})") from e
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(p, f"unexpected decoded shape {arr.shape}")
    return arr
