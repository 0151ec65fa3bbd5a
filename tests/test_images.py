"""Tests for painterly.io.images: every file quirk becomes plain 8-bit sRGB, every user mistake
becomes a PainterlyError, and saving is atomic."""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, JpegImagePlugin

from painterly.errors import PainterlyError
from painterly.io import files, images

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def _two_halves(size: tuple[int, int] = (32, 24)) -> Image.Image:
    """Left half red, right half blue: tells orientation and colour apart at once."""
    img = Image.new("RGB", size, BLUE)
    img.paste(RED, (0, 0, size[0] // 2, size[1]))
    return img


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def _png_bytes(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    """A PNG written by hand, for what Pillow cannot write (16-bit RGB, lying headers)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _swapped_primaries_profile() -> bytes:
    """An RGB ICC profile whose red primary is sRGB's green (and vice versa), not named sRGB."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", data[128:132])
    entries = {bytes(data[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    red, green = entries[b"rXYZ"] + 4, entries[b"gXYZ"] + 4
    data[red : red + 8], data[green : green + 8] = data[green : green + 8], data[red : red + 8]
    name, new_name = "sRGB", "swap"
    return (
        bytes(data)
        .replace(name.encode("utf-16-be"), new_name.encode("utf-16-be"))
        .replace(name.encode(), new_name.encode())
    )


# --- reading formats ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extension", "tolerance"),
    [(".jpg", 12), (".png", 0), (".webp", 12), (".tif", 0), (".bmp", 0)],
)
def test_load_image_reads_each_format_as_rgb(tmp_path: Path, extension: str, tolerance: int):
    path = tmp_path / f"in{extension}"
    _two_halves().save(path)

    img = images.load_image(path)

    assert img.mode == "RGB"
    assert img.size == (32, 24)
    assert _close(img.getpixel((4, 12)), RED, tolerance)
    assert _close(img.getpixel((28, 12)), BLUE, tolerance)


@pytest.mark.parametrize("extension", [".gif", ".webp", ".tif"])
def test_load_image_takes_first_frame_of_multi_frame_file(tmp_path: Path, extension: str):
    path = tmp_path / f"anim{extension}"
    first, second = Image.new("RGB", (20, 20), RED), Image.new("RGB", (20, 20), BLUE)
    options = {"lossless": True} if extension == ".webp" else {}
    first.save(path, save_all=True, append_images=[second], duration=100, **options)
    with Image.open(path) as check:
        assert check.n_frames == 2

    assert images.load_image(path).getpixel((10, 10)) == RED


def test_load_image_applies_exif_orientation_6(tmp_path: Path):
    # Orientation 6 means "rotate 90° clockwise to display": the stored top-left corner ends
    # up top-right, and width and height swap.
    stored = Image.new("RGB", (40, 20), WHITE)
    stored.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)

    img = images.load_image(path)

    assert img.size == (20, 40)
    assert _close(img.getpixel((15, 4)), RED, 20)
    assert _close(img.getpixel((4, 4)), WHITE, 20)


# --- colour conversion --------------------------------------------------------------------


def test_grayscale_becomes_equal_rgb_channels(tmp_path: Path):
    path = tmp_path / "gray.png"
    Image.new("L", (16, 16), 77).save(path)

    assert images.load_image(path).getpixel((0, 0)) == (77, 77, 77)


def test_palette_image_expands_to_its_colours(tmp_path: Path):
    img = Image.new("P", (16, 16), 1)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    path = tmp_path / "palette.png"
    img.save(path)

    assert images.load_image(path).getpixel((3, 3)) == (10, 200, 30)


def test_palette_transparency_is_composited_over_white(tmp_path: Path):
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    img.paste(1, (8, 0, 16, 16))
    path = tmp_path / "palette_transparent.png"
    img.save(path, transparency=0)

    loaded = images.load_image(path)

    assert loaded.getpixel((2, 2)) == WHITE
    assert loaded.getpixel((12, 2)) == (10, 200, 30)


def test_rgba_is_composited_over_white(tmp_path: Path):
    img = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 8, 16))
    img.paste((0, 0, 0, 128), (8, 8, 16, 16))
    path = tmp_path / "alpha.png"
    img.save(path)

    loaded = images.load_image(path)

    assert loaded.getpixel((12, 2)) == WHITE
    assert loaded.getpixel((2, 2)) == RED
    assert _close(loaded.getpixel((12, 12)), (127, 127, 127), 1)


def test_grayscale_with_alpha_is_composited_over_white():
    img = Image.new("LA", (16, 16), (0, 0))
    img.paste((50, 255), (0, 0, 8, 16))

    rgb = images.to_rgb(img)

    assert rgb.getpixel((12, 0)) == WHITE
    assert rgb.getpixel((2, 0)) == (50, 50, 50)


def test_cmyk_without_profile_converts_to_rgb(tmp_path: Path):
    path = tmp_path / "cmyk.tif"
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(path)

    assert images.load_image(path).getpixel((0, 0)) == (0, 255, 255)


def test_broken_icc_profile_falls_back_to_raw_values():
    img = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    img.info["icc_profile"] = b"not an ICC profile"

    assert images.to_rgb(img).getpixel((0, 0)) == (0, 255, 255)


def test_embedded_non_srgb_profile_is_converted_to_srgb(tmp_path: Path):
    path = tmp_path / "swapped.png"
    Image.new("RGB", (16, 16), RED).save(path, icc_profile=_swapped_primaries_profile())

    assert _close(images.load_image(path).getpixel((0, 0)), (0, 255, 0), 2)


def test_embedded_srgb_profile_leaves_values_unchanged(tmp_path: Path):
    path = tmp_path / "srgb.png"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (16, 16), (13, 140, 201)).save(path, icc_profile=srgb)

    assert images.load_image(path).getpixel((0, 0)) == (13, 140, 201)


def test_16_bit_grayscale_png_is_scaled_not_clipped(tmp_path: Path):
    values = np.zeros((16, 16), dtype=np.uint16)
    values[:, :6], values[:, 6:12] = 65535, 32768
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I")

    loaded = images.load_image(path)

    assert loaded.getpixel((0, 0)) == WHITE
    assert _close(loaded.getpixel((8, 0)), (128, 128, 128), 1)
    assert loaded.getpixel((14, 0)) == (0, 0, 0)


def test_16_bit_rgb_png_reads_as_8_bit(tmp_path: Path):
    pixel = struct.pack(">HHH", 65535, 32768, 0)
    row = b"\x00" + pixel * 16
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png_bytes(16, 16, 16, 2, row * 16))

    loaded = images.load_image(path)

    assert loaded.mode == "RGB"
    assert _close(loaded.getpixel((5, 5)), (255, 128, 0), 1)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("I", 65535, 255), ("I", 32768, 128), ("F", 1.0, 255), ("F", 0.5, 128), ("F", 200.0, 200)],
)
def test_wide_grayscale_modes_are_scaled_by_their_range(mode: str, value: float, expected: int):
    assert images.to_rgb(Image.new(mode, (4, 4), value)).getpixel((0, 0)) == (expected,) * 3


def _with_transparency(mode: str, transparency: object) -> Image.Image:
    img = Image.new(mode, (5, 3))
    img.info["transparency"] = transparency
    return img


def _rgba_palette() -> Image.Image:
    img = Image.new("P", (5, 3))
    img.putpalette([255, 0, 0, 0, 0, 0, 255, 255], rawmode="RGBA")
    return img


# Every mode Pillow creates, and the ways a mode can carry transparency without an alpha band.
EVERY_MODE = [
    *(Image.new(mode, (5, 3)) for mode in Image.MODES),
    _with_transparency("1", 0),
    _with_transparency("L", 0),
    _with_transparency("P", 0),
    _with_transparency("P", b"\x00\x80"),
    _rgba_palette(),
    _with_transparency("RGB", (0, 0, 0)),
    _with_transparency("I", 0),
    _with_transparency("I;16", 0),
]


@pytest.mark.parametrize(
    "img", EVERY_MODE, ids=[f"{i.mode}{'+t' * ('transparency' in i.info)}" for i in EVERY_MODE]
)
def test_to_rgb_gives_rgb_of_the_same_size_in_every_pillow_mode(img: Image.Image):
    before = img.tobytes()

    rgb = images.to_rgb(img)

    assert (rgb.mode, rgb.size) == ("RGB", img.size)
    assert img.tobytes() == before


def test_pillows_mode_list_holds_every_mode_the_test_above_must_cover():
    named = "1 L LA La P PA RGB RGBA RGBa RGBX CMYK YCbCr LAB HSV I I;16 I;16L I;16B I;16N F"
    assert set(named.split()) <= set(Image.MODES)


def test_premultiplied_grey_with_alpha_is_composited_over_white():
    img = Image.new("LA", (16, 16), (0, 0))
    img.paste((50, 255), (0, 0, 8, 16))

    rgb = images.to_rgb(img.convert("La"))

    assert rgb.getpixel((12, 0)) == WHITE
    assert rgb.getpixel((2, 0)) == (50, 50, 50)


def test_16_bit_grey_png_with_a_transparent_level_is_white_there(tmp_path: Path):
    values = np.full((16, 16), 40000, dtype=np.uint16)
    values[:, :8] = 5
    path = tmp_path / "grey16-trns.png"
    Image.fromarray(values).save(path, transparency=5)

    loaded = images.load_image(path)

    assert loaded.getpixel((2, 2)) == WHITE
    assert _close(loaded.getpixel((12, 2)), (156, 156, 156), 1)


def test_to_rgb_returns_a_new_image_for_rgb_input():
    img = Image.new("RGB", (4, 4), RED)

    converted = images.to_rgb(img)
    converted.putpixel((0, 0), BLUE)

    assert img.getpixel((0, 0)) == RED


# --- user errors when reading -------------------------------------------------------------


def _load_error(path: Path, role: str = "content image") -> str:
    with pytest.raises(PainterlyError) as caught:
        images.load_image(path, role)
    return str(caught.value)


def test_missing_file_is_reported_with_role_and_path(tmp_path: Path):
    message = _load_error(tmp_path / "nope.jpg", "style image")

    assert "style image" in message
    assert "nope.jpg" in message
    assert "does not exist" in message


def test_directory_is_not_an_image(tmp_path: Path):
    assert "is a directory" in _load_error(tmp_path)


def test_text_file_is_not_an_image(tmp_path: Path):
    path = tmp_path / "notes.png"
    path.write_text("hello, not an image\n")

    assert "not an image" in _load_error(path)


def test_empty_file_is_reported_as_empty(tmp_path: Path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")

    assert "empty file" in _load_error(path)


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_truncated_file_is_an_error_not_padded(tmp_path: Path, extension: str):
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    noise.save(buffer, format="JPEG" if extension == ".jpg" else "PNG")
    path = tmp_path / f"cut{extension}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])

    assert "truncated or corrupt" in _load_error(path)


@pytest.mark.parametrize("size", [(1, 1), (15, 40), (40, 15)])
def test_too_small_image_reports_its_size_and_the_minimum(tmp_path: Path, size: tuple[int, int]):
    path = tmp_path / "tiny.png"
    Image.new("RGB", size).save(path)

    message = _load_error(path)

    assert f"{size[0]}x{size[1]}" in message
    assert str(images.MIN_SIDE) in message


def test_zero_width_image_is_refused(tmp_path: Path):
    path = tmp_path / "empty.png"
    path.write_bytes(_png_bytes(0, 20, 8, 0, b""))

    _load_error(path)


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path):
    # A 40000x40000 1-bit header over a few bytes of data: 1.6 gigapixels claimed.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bytes(40000, 40000, 1, 0, b"\x00" * 64))

    message = _load_error(path)

    assert "more pixels than the limit" in message
    assert f"{images.MAX_PIXELS:,}" in message


def test_image_over_max_pixels_names_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    path = tmp_path / "big.png"
    Image.new("RGB", (40, 40)).save(path)

    message = _load_error(path)

    assert "1,600" in message
    assert "1,000" in message


def test_permission_denied_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "secret.png"
    Image.new("RGB", (16, 16)).save(path)

    def refuse(*args: object, **kwargs: object) -> Image.Image:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(images.Image, "open", refuse)

    assert "permission denied" in _load_error(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores mode bits")
def test_unreadable_file_is_reported(tmp_path: Path):
    path = tmp_path / "secret.png"
    Image.new("RGB", (16, 16)).save(path)
    path.chmod(0)

    assert "permission denied" in _load_error(path)


# --- resizing and tensors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [
        ((300, 200), 150, (150, 100)),
        ((200, 300), 150, (100, 150)),
        ((301, 100), 100, (100, 33)),
        ((300, 200), 100, (100, 67)),
        ((200, 300), 100, (67, 100)),
        ((50, 40), 100, (100, 80)),
        ((1000, 2), 10, (10, 1)),
    ],
)
def test_resize_long_side_sets_longer_side_and_keeps_aspect(size, long_side, expected):
    assert images.resize_long_side(Image.new("RGB", size), long_side).size == expected


def test_to_tensor_is_1x3xhxw_float_in_unit_range():
    img = Image.new("RGB", (5, 4), (255, 0, 51))

    tensor = images.to_tensor(img)

    assert tensor.shape == (1, 3, 4, 5)
    assert tensor.dtype == torch.float32
    assert torch.allclose(tensor[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.2]))


def test_tensor_round_trip_is_exact_for_every_byte_value():
    values = np.arange(256 * 3, dtype=np.uint16).reshape(16, 16, 3) % 256
    img = Image.fromarray(values.astype(np.uint8))

    back = images.to_image(images.to_tensor(img))

    assert np.array_equal(np.asarray(back), np.asarray(img))


def test_to_image_rounds_and_clamps_and_accepts_3d():
    tensor = torch.tensor([100.6 / 255, -0.5, 1.7]).reshape(3, 1, 1)

    assert images.to_image(tensor).getpixel((0, 0)) == (101, 0, 255)


# --- output paths and saving --------------------------------------------------------------


def test_check_output_path_rejects_unknown_extension_and_lists_supported(tmp_path: Path):
    with pytest.raises(PainterlyError, match=r"\.gif.*\.png"):
        images.check_output_path(tmp_path / "out.gif")


def test_check_output_path_rejects_missing_extension(tmp_path: Path):
    with pytest.raises(PainterlyError, match="no extension"):
        images.check_output_path(tmp_path / "out")


def test_check_output_path_reports_missing_directory(tmp_path: Path):
    with pytest.raises(PainterlyError, match="does not exist"):
        images.check_output_path(tmp_path / "missing" / "out.png")


def test_check_output_path_reports_parent_that_is_a_file(tmp_path: Path):
    (tmp_path / "file").write_text("x")

    with pytest.raises(PainterlyError, match="not a directory"):
        images.check_output_path(tmp_path / "file" / "out.png")


def test_check_output_path_reports_unwritable_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)

    with pytest.raises(PainterlyError, match="not writable"):
        images.check_output_path(tmp_path / "out.png")


def test_check_output_path_refuses_existing_file_without_overwrite(tmp_path: Path):
    (tmp_path / "out.png").write_bytes(b"old")

    with pytest.raises(PainterlyError, match="already exists; pass --overwrite"):
        images.check_output_path(tmp_path / "out.png")


def test_check_output_path_allows_existing_file_with_overwrite(tmp_path: Path):
    (tmp_path / "out.png").write_bytes(b"old")

    result = images.check_output_path(tmp_path / "out.png", overwrite=True)

    assert result == (tmp_path / "out.png").resolve()


def test_check_output_path_refuses_a_directory(tmp_path: Path):
    (tmp_path / "out.png").mkdir()

    with pytest.raises(PainterlyError, match="is a directory"):
        images.check_output_path(tmp_path / "out.png", overwrite=True)


def test_check_output_path_refuses_a_directory_without_extension(tmp_path: Path):
    with pytest.raises(PainterlyError, match="is a directory"):
        images.check_output_path(tmp_path)


def test_check_output_path_leaves_no_probe_file(tmp_path: Path):
    images.check_output_path(tmp_path / "out.png")

    assert os.listdir(tmp_path) == []


def test_save_image_writes_exact_png_and_nothing_else(tmp_path: Path):
    img = _two_halves()

    result = images.save_image(img, tmp_path / "out.png")

    assert result == (tmp_path / "out.png").resolve()
    assert os.listdir(tmp_path) == ["out.png"]
    with Image.open(result) as saved:
        assert saved.format == "PNG"
        assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(img))


def test_save_image_writes_jpeg_by_extension(tmp_path: Path):
    images.save_image(_two_halves(), tmp_path / "out.JPG", quality=90)

    assert os.listdir(tmp_path) == ["out.JPG"]
    with Image.open(tmp_path / "out.JPG") as saved:
        assert saved.format == "JPEG"
        assert _close(saved.convert("RGB").getpixel((4, 4)), RED, 12)


def test_save_image_jpeg_uses_quality_and_full_colour_resolution(tmp_path: Path):
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))

    high = images.save_image(noise, tmp_path / "high.jpg", quality=95)
    low = images.save_image(noise, tmp_path / "low.jpg", quality=20)

    assert low.stat().st_size < high.stat().st_size / 2
    with Image.open(high) as saved:
        assert JpegImagePlugin.get_sampling(saved) == 0  # 4:4:4, no chroma subsampling


def test_save_image_flattens_alpha_over_white_for_jpeg(tmp_path: Path):
    img = Image.new("RGBA", (16, 16), (0, 0, 0, 0))

    images.save_image(img, tmp_path / "flat.jpg")

    assert _close(images.load_image(tmp_path / "flat.jpg").getpixel((8, 8)), WHITE, 2)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_save_image_output_gets_normal_permissions_not_temp_file_ones(tmp_path: Path):
    path = images.save_image(_two_halves(), tmp_path / "out.png")

    assert path.stat().st_mode & 0o777 == 0o666 & ~files._UMASK


def test_save_image_refuses_to_overwrite_and_keeps_old_bytes(tmp_path: Path):
    (tmp_path / "out.png").write_bytes(b"precious")

    with pytest.raises(PainterlyError, match="already exists"):
        images.save_image(_two_halves(), tmp_path / "out.png")

    assert (tmp_path / "out.png").read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_image_overwrites_when_asked(tmp_path: Path):
    (tmp_path / "out.png").write_bytes(b"old")

    images.save_image(_two_halves(), tmp_path / "out.png", overwrite=True)

    assert images.load_image(tmp_path / "out.png").getpixel((4, 4)) == RED
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_image_does_not_clobber_file_created_after_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    target = tmp_path / "out.png"
    real_check = images.check_output_path

    def check_then_race(path: Path, overwrite: bool = False, **checks: object) -> Path:
        checked = real_check(path, overwrite, **checks)
        target.write_bytes(b"arrived meanwhile")
        return checked

    monkeypatch.setattr(images, "check_output_path", check_then_race)

    with pytest.raises(PainterlyError, match="already exists"):
        images.save_image(_two_halves(), target)

    assert target.read_bytes() == b"arrived meanwhile"
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_image_works_where_hard_links_are_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def no_links(*args: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(images.os, "link", no_links)

    images.save_image(_two_halves(), tmp_path / "out.png")

    assert images.load_image(tmp_path / "out.png").getpixel((28, 4)) == BLUE
    assert os.listdir(tmp_path) == ["out.png"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_failed_save_leaves_no_output_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overwrite: bool
):
    def broken_save(self: Image.Image, *args: object, **kwargs: object) -> None:
        args[0].write(b"partial")  # type: ignore[union-attr]
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(Image.Image, "save", broken_save)

    with pytest.raises(RuntimeError, match="encoder exploded"):
        images.save_image(_two_halves(), tmp_path / "out.png", overwrite=overwrite)

    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "out.png").write_bytes(b"old")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(images.os, "fsync", full_disk)

    with pytest.raises(PainterlyError, match="No space left on device"):
        images.save_image(_two_halves(), tmp_path / "out.png", overwrite=True)

    assert (tmp_path / "out.png").read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.png"]


def test_sibling_path_inserts_tag_before_extension():
    assert files.sibling_path("out/x.png", "iter0050") == Path("out/x.iter0050.png")
    assert files.sibling_path(Path("a.b.jpg"), "interrupted") == Path("a.b.interrupted.jpg")
