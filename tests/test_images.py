"""Safe image reading: every bad-image kind, written with PIL into tmp_path."""

from __future__ import annotations

import doctest
import os

import numpy as np
import pytest
from PIL import Image

import hashtag_kit.data.images as I
from hashtag_kit.data.images import ImageError, check_image, load_image, resolve_image_path


def test_doctests():
    assert doctest.testmod(I).failed == 0


@pytest.fixture
def rgb():
    # a smooth picture (JPEG keeps it close): gradients per channel
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, (x + y) * 2], axis=-1).astype(np.uint8)


@pytest.fixture
def jpeg(tmp_path, rgb):
    path = tmp_path / "ok.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    return path


def test_rgb_jpeg(jpeg, rgb):
    arr = load_image(jpeg)
    assert arr.shape == (40, 60, 3) and arr.dtype == np.uint8
    assert np.abs(arr.astype(int) - rgb).mean() < 4  # lossy, but the same picture
    assert check_image(jpeg) is None


def test_resize_to_height_width(jpeg):
    assert load_image(jpeg, size=(20, 30)).shape == (20, 30, 3)
    assert load_image(jpeg, size=16).shape == (16, 16, 3)


def test_grayscale(tmp_path):
    path = tmp_path / "gray.png"
    Image.new("L", (5, 4), 77).save(path)
    arr = load_image(path)
    assert arr.shape == (4, 5, 3) and (arr == 77).all()


def test_one_bit(tmp_path):
    path = tmp_path / "bw.png"
    Image.new("1", (3, 3), 1).save(path)
    assert (load_image(path) == 255).all()


def test_cmyk(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    arr = load_image(path)
    assert arr.shape == (8, 8, 3)
    r, g, b = arr[4, 4].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_rgba_composited_on_white(tmp_path):
    a = np.zeros((10, 10, 4), np.uint8)
    a[..., 0] = 255
    a[:5, :, 3] = 255  # top half opaque red, bottom half fully transparent
    path = tmp_path / "rgba.png"
    Image.fromarray(a, "RGBA").save(path)
    arr = load_image(path)
    assert arr[0, 0].tolist() == [255, 0, 0]
    assert arr[9, 9].tolist() == [255, 255, 255]


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (4, 4), 1)
    im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    path = tmp_path / "pal.png"
    im.save(path, transparency=0)
    assert load_image(path)[0, 0].tolist() == [0, 255, 0]
    path2 = tmp_path / "pal_clear.png"
    Image.new("P", (4, 4), 0).save(path2, transparency=0)
    assert load_image(path2)[0, 0].tolist() == [255, 255, 255]


def test_sixteen_bit_png_scaled(tmp_path):
    x = np.array([[0, 65535], [32896, 257 * 100]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(x).save(path)
    assert Image.open(path).mode.startswith("I")
    arr = load_image(path)
    assert arr[..., 0].tolist() == [[0, 255], [128, 100]]
    assert (arr[..., 0] == arr[..., 2]).all()


def test_float_image(tmp_path):
    path = tmp_path / "f.tiff"
    Image.fromarray(np.full((2, 2), 0.5, np.float32), mode="F").save(path)
    assert load_image(path)[0, 0].tolist() == [128, 128, 128]


def test_exif_orientation_applied(tmp_path):
    im = Image.new("RGB", (6, 2), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / "rot.jpg"
    im.save(path, exif=exif.tobytes())
    assert load_image(path).shape == (6, 2, 3)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(os.urandom(2000)), "not an image"),
        (lambda p: p.mkdir(), "not a regular file"),
    ],
    ids=["missing", "zero-byte", "random-bytes", "directory"],
)
def test_bad_files_raise_naming_the_file(tmp_path, make, reason):
    path = tmp_path / "bad.jpg"
    make(path)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(path) in str(info.value) and reason in str(info.value)
    assert info.value.path == str(path)
    assert reason in check_image(path)


def test_truncated_jpeg(tmp_path, jpeg):
    data = jpeg.read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in check_image(path)  # caught without a full decode
    with pytest.raises(ImageError, match="cut.jpg: truncated"):
        load_image(path)


def test_truncated_and_corrupt_png(tmp_path, rgb):
    good = tmp_path / "good.png"
    Image.fromarray(rgb).save(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    assert check_image(cut) is not None
    with pytest.raises(ImageError, match="cut.png"):
        load_image(cut)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # damaged compressed data: PNG checksum fails
    bad = tmp_path / "crc.png"
    bad.write_bytes(bytes(flipped))
    assert check_image(bad) is not None
    assert check_image(bad, full=True) is not None


def test_error_is_a_value_error_and_picklable():
    import pickle

    e = ImageError("x.jpg", "empty file (0 bytes)")
    assert isinstance(e, ValueError)
    again = pickle.loads(pickle.dumps(e))
    assert (again.path, again.reason) == ("x.jpg", "empty file (0 bytes)")


def test_resolve_inside_root(tmp_path):
    (tmp_path / "img").mkdir()
    assert resolve_image_path(tmp_path, "img/a.jpg") == (tmp_path / "img/a.jpg").resolve()
    inside_abs = str(tmp_path / "img" / "a.jpg")
    assert resolve_image_path(tmp_path, inside_abs) == (tmp_path / "img/a.jpg").resolve()
    assert resolve_image_path(tmp_path, "img/../img/a.jpg").name == "a.jpg"


@pytest.mark.parametrize(
    "rel", ["../../etc/passwd", "/etc/passwd", "img/../../x.jpg", "", "a\x00b"]
)
def test_resolve_rejects_escapes(tmp_path, rel):
    with pytest.raises(ImageError):
        resolve_image_path(tmp_path / "root", rel)


def test_resolve_rejects_symlink_out(tmp_path, jpeg):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.jpg").symlink_to(jpeg)  # jpeg lives outside root
    with pytest.raises(ImageError, match="escapes the data folder"):
        resolve_image_path(root, "link.jpg")
    with pytest.raises(ImageError, match="escapes"):
        load_image("link.jpg", root=root)
    assert "escapes" in check_image("link.jpg", root=root)


def test_load_with_root(tmp_path, jpeg):
    assert load_image("ok.jpg", root=tmp_path).shape == (40, 60, 3)


def _png_header_only(path, width, height):
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_decompression_bomb_refused(tmp_path):
    path = tmp_path / "bomb.png"
    _png_header_only(path, 60000, 60000)  # 3.6 gigapixels declared
    with pytest.raises(ImageError, match="bomb.png: image too large"):
        load_image(path)
    assert "too large" in check_image(path)


def test_header_without_pixels(tmp_path):
    path = tmp_path / "empty_pixels.png"
    _png_header_only(path, 4, 4)
    with pytest.raises(ImageError, match="empty_pixels.png"):
        load_image(path)


def test_damaged_files_never_escape_as_other_errors(tmp_path, jpeg):
    """Seeded fuzz: cut or scribbled JPEG/PNG/GIF files give an array or an ImageError."""
    rng = np.random.default_rng(0)
    sources = [jpeg.read_bytes()]
    for fmt in ("PNG", "GIF", "BMP", "WEBP", "TIFF"):
        buf = tmp_path / f"src.{fmt.lower()}"
        Image.new("RGB", (24, 16), (10, 200, 30)).save(buf, format=fmt)
        sources.append(buf.read_bytes())
    outcomes = {"ok": 0, "error": 0}
    for i in range(120):
        data = bytearray(sources[i % len(sources)])
        if i % 2:
            data = data[: int(rng.integers(1, len(data)))]
        else:
            for _ in range(int(rng.integers(1, 8))):
                data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        path = tmp_path / f"fuzz{i}.img"
        path.write_bytes(bytes(data))
        reason = check_image(path)
        assert reason is None or isinstance(reason, str)
        try:
            arr = load_image(path)
        except ImageError as e:
            assert str(path) in str(e)
            outcomes["error"] += 1
        else:
            assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
            outcomes["ok"] += 1
    assert outcomes["error"] > 20  # the damage was real


# -- reduced-scale JPEG decoding (libjpeg DCT scaling through Image.draft) ----------------------
@pytest.fixture
def big_jpeg(tmp_path):
    """A 1600x1200 JPEG with detail at every scale (noise over gradients)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1200, 0:1600]
    base = np.stack([x // 7, y // 5, (x + y) // 11], axis=-1) % 256
    noise = rng.integers(-20, 21, (1200, 1600, 3))
    path = tmp_path / "big.jpg"
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def test_open_image_decodes_large_jpegs_at_reduced_scale(big_jpeg, tmp_path):
    assert I.open_image(big_jpeg).size == (1600, 1200)  # nothing asked: full size
    # the shorter side keeps REDUCING_GAP (2) x min_side: 1/2 keeps 600 >= 2 x 256
    assert I.open_image(big_jpeg, min_side=256).size == (800, 600)
    assert I.open_image(big_jpeg, min_side=256, reducing_gap=1).size == (400, 300)
    assert I.open_image(big_jpeg, min_side=75, reducing_gap=1).size == (200, 150)  # 1/8
    assert I.open_image(big_jpeg, min_side=256, reducing_gap=None).size == (1600, 1200)
    assert I.open_image(big_jpeg, min_side=601).size == (1600, 1200)  # 1/2 would be too small
    assert load_image(big_jpeg, min_side=256).shape == (600, 800, 3)
    png = tmp_path / "big.png"
    Image.open(big_jpeg).save(png)
    assert I.open_image(png, min_side=64).size == (1600, 1200)  # other formats: in full
    assert I.open_image(big_jpeg, min_side=256).mode == "RGB"


def test_reduced_scale_decoding_stays_close_to_a_full_decode(big_jpeg):
    full = load_image(big_jpeg, size=(300, 400), reducing_gap=None)
    fast = load_image(big_jpeg, size=(300, 400))  # decoded at 800x600, then resized
    assert fast.shape == full.shape == (300, 400, 3)
    assert np.abs(fast.astype(int) - full).mean() < 2


def test_reduced_scale_respects_the_exif_turn(tmp_path, monkeypatch):
    """`draft` runs on the stored picture, before the EXIF turn: the sizes asked for the
    upright picture are turned too, else a tall request on a turned photo decodes too small."""
    stored = np.zeros((400, 1600, 3), np.uint8)  # 1600 wide, 400 tall as stored
    stored[:, :800] = (255, 0, 0)  # left half red: the top once turned (orientation 6)
    stored[:, 800:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: 400 wide, 1600 tall
    path = tmp_path / "turned.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    decoded = []
    to_rgb = I._to_rgb
    monkeypatch.setattr(I, "_to_rgb", lambda im: decoded.append(im.size) or to_rgb(im))

    out = load_image(path, size=(200, 50))  # upright (height, width)
    assert out.shape == (200, 50, 3)
    assert decoded[-1] == (100, 400)  # 1/4 scale, upright: 2x the asked width and height
    assert out[:80, :, 0].min() > 200 and out[-80:, :, 2].min() > 200  # red on top
    # a wide request: 1/4 scale of the stored picture would be 100 px wide once turned (<
    # 2 x 200), so the photo is decoded in full
    assert load_image(path, size=(50, 200)).shape == (50, 200, 3)
    assert decoded[-1] == (400, 1600)
    assert I.open_image(path, min_side=50).size == (100, 400)  # shorter side: either way


def test_reduced_scale_crops_match_a_full_decode_in_every_orientation(tmp_path):
    """Odd sides (1203x803): a side decoded at 1/8 rounds up, so its last pixel stands for
    fewer than 8; the EXIF turn may move it first. The crop must follow it in every
    orientation, else it is shifted by up to half a pixel (errors 8-11x as large)."""
    from hashtag_kit.encoders.image import centre_crop_resize

    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (51, 76, 3), dtype=np.uint8)  # detail near the 1/8 scale
    picture = Image.fromarray(small).resize((1203, 803), Image.Resampling.BICUBIC)
    errors = []
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}.jpg"
        picture.save(path, exif=exif.tobytes(), quality=95)
        full = centre_crop_resize(I.open_image(path, reducing_gap=None), 64)
        im = I.open_image(path, min_side=90, reducing_gap=1)
        assert im.size == ((151, 101) if orientation < 5 else (101, 151))  # 1/8 scale
        errors.append(np.abs(centre_crop_resize(im, 64).astype(int) - full).mean())
    assert max(errors) < 4 and max(errors) - min(errors) < 0.2, errors  # 2.56 in all 8


@pytest.mark.realdata
def test_reduced_scale_on_real_photos_is_close_to_a_full_decode(real_data):
    """COCO photos (640x480-ish) cropped and resized to 96 px as the encoders do: decoding them
    at 1/2 scale changes the pixels by little (they would for a 224 input from 1024+ px)."""
    from hashtag_kit.encoders.image import centre_crop_resize, decode_min_side

    photos = sorted((real_data / "coco-mini").glob("*2017/*.jpg"))[::12]
    size, diffs = 96, []
    for path in photos:
        full = centre_crop_resize(I.open_image(path, reducing_gap=None), size)
        im = I.open_image(path, min_side=decode_min_side(size))
        if im.size == Image.open(path).size:
            continue  # too small for 1/2 scale with the margin
        diffs.append(np.abs(centre_crop_resize(im, size).astype(int) - full).mean())
    assert len(diffs) >= 10
    assert np.mean(diffs) < 1 and max(diffs) < 1.5  # (0-255 scale; 0.54 and 0.71 measured)


# -- strict JPEG decoding (libjpeg-turbo through simplejpeg) -----------------------------------
def _pil_decode(path, min_side=None, reducing_gap=I.REDUCING_GAP):
    """PIL's own decoder, as the kit read JPEGs before: draft, load, EXIF turn, RGB."""
    from PIL import ImageOps

    im = Image.open(path)
    if min_side is not None:
        I._draft(im, (min_side, min_side), reducing_gap)
    im.load()
    return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def test_jpeg_decoding_is_pixel_identical_to_pils(tmp_path):
    """Gray, 4:4:4 and 4:2:0 colour, odd sides, every EXIF turn, full and 1/2, 1/4, 1/8 scale."""
    rng = np.random.default_rng(2)
    pic = Image.fromarray(rng.integers(0, 256, (51, 76, 3), dtype=np.uint8)).resize((603, 401))
    checked = 0
    for orientation in (1, 3, 6, 7):
        exif = Image.Exif()
        exif[0x0112] = orientation
        for mode, subsampling in (("RGB", 0), ("RGB", 2), ("L", 0)):
            path = tmp_path / f"p{orientation}{mode}{subsampling}.jpg"
            pic.convert(mode).save(path, exif=exif.tobytes(), quality=90, subsampling=subsampling)
            for min_side in (None, 150, 60, 30):
                ours = np.asarray(I.open_image(path, min_side=min_side))
                assert np.array_equal(ours, _pil_decode(path, min_side)), (path, min_side)
                checked += 1
    assert checked == 48


def test_corrupt_jpeg_data_is_refused_not_decoded_garbled(tmp_path):
    """Bytes scribbled over a JPEG's compressed data, its end marker kept: PIL decodes every one
    of these without a word (libjpeg's "Corrupt JPEG data" warnings are hidden), the kit names
    the file. Damage that still decodes as valid data cannot be seen by any decoder."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:128]
    pic = np.stack([x * 2, y * 2, x + y], axis=-1) + rng.integers(-30, 31, (96, 128, 3))
    good = tmp_path / "good.jpg"
    Image.fromarray(np.clip(pic, 0, 255).astype(np.uint8)).save(good, quality=90)
    data = good.read_bytes()
    refused = 0
    for i, start in enumerate(range(len(data) // 3, len(data) - 100, 97)):
        damaged = bytearray(data)
        damaged[start : start + 8] = b"\x55" * 8
        path = tmp_path / f"damaged{i}.jpg"
        path.write_bytes(bytes(damaged))
        Image.open(path).load()  # PIL: no error
        assert check_image(path) is None  # the fast check sees a whole file
        try:
            load_image(path)
        except ImageError as e:
            assert str(e).startswith(f"{path}: corrupt image (Corrupt JPEG data")
            assert check_image(path, full=True) == e.reason
            refused += 1
    assert refused >= 15, refused  # 22 of 31 with simplejpeg 1.9 (libjpeg-turbo 3)


@pytest.mark.realdata
def test_real_photos_decode_as_pils_decoder_does(real_data):
    photos = sorted((real_data / "coco-mini").glob("*2017/*.jpg"))[::20]
    photos += sorted((real_data / "flickr8k" / "Flicker8k_Dataset").glob("*.jpg"))[::700]
    assert len(photos) >= 20
    for path in photos:
        for min_side in (None, 112):
            assert np.array_equal(
                np.asarray(I.open_image(path, min_side=min_side)), _pil_decode(path, min_side)
            ), path
