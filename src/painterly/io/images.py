"""Reading, colour conversion, resizing and atomic saving of images.

Everything the networks see is sRGB without alpha, so every way an image file can differ
from that (EXIF rotation, ICC profiles, 16-bit samples, CMYK, palettes, transparency) is
resolved here, once (16-bit samples are kept beside the 8-bit image, see
:mod:`painterly.io.deep`), and every user mistake (missing file, not an image, truncated, too
small, too large, unwritable output) becomes one :class:`PainterlyError` sentence. No model
code lives here.
"""

from __future__ import annotations

import ctypes
import functools
import io
import logging
import os
import stat
import struct
import warnings
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
import torch
from PIL import (
    ExifTags,
    Image,
    ImageFile,
    ImageMode,
    ImageOps,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    _imaging,
)

from painterly.errors import PainterlyError, printable
from painterly.io import deep
from painterly.io.files import Inputs, check_target, os_reason, write_atomically

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without LittleCMS: keep the raw values.
    ImageCms = None  # type: ignore[assignment]

MIN_SIDE = 16
"""Smallest side accepted: VGG-19 max-pools four times before conv5_1, so 16 px keeps ≥1 px."""

MAX_PIXELS = 178_956_970
"""Largest width × height decoded; Pillow's own decompression-bomb error threshold."""

MAX_DECODE_BYTES = 4 * MAX_PIXELS
"""Most memory reading one image may take (see :func:`decode_memory`): as much as one 8-bit
RGB frame of ``MAX_PIXELS``, the largest that Pillow's pixel limit means to allow."""

MAX_RLE_BMP_PIXELS = 4096 * 4096
"""Largest run-length-encoded BMP decoded. Pillow decodes these in Python and pads a row
that ends early one byte at a time: 553 bytes of end-of-row codes claiming 1572864x20 pixels
took 6 s to decode. The time grows with the pixels, so this bounds it (to about half that)."""

READ_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "AVIF")
"""Pillow plugins tried when reading; the rest (EPS via Ghostscript, rare formats) are not."""

OUTPUT_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
"""Output file extension (lower case) → Pillow format name."""

DEEP_FORMATS = ("PNG", "TIFF")
"""The output formats that hold 16 bits a channel."""

_WHITE = (255, 255, 255)
_JPEG_EXIF_LIMIT = 65533  # an APP1 segment's length field; Pillow raises for more
_HIGH_BIT_DEPTH = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
_BLOCK_PIXELS = 1 << 20  # high-bit-depth images are scaled this many pixels at a time
IMAGE_FORMAT_NAMES = "JPEG, PNG, WebP, TIFF, BMP or GIF"
_MODE_NAMES = {
    "1": "1-bit",
    "L": "greyscale",
    "LA": "greyscale and alpha",
    "P": "palette",
    "PA": "palette and alpha",
    "I;16": "16-bit greyscale",
    "I": "32-bit integer",
    "F": "32-bit float",
}

_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # POSIX only, as are pipes that block an open
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)

_PNG_TEXT_LIMITS = ("MAX_TEXT_CHUNK", "MAX_TEXT_MEMORY")
"""The settings Pillow's ValueError names when a PNG's text or ICC profile inflates too far."""

_DECODE_OVERHEAD = 48 * 2**20
"""Memory a decode takes whatever the image's size: line buffers, colour transforms, and the
bands of rows in which high-bit-depth images are scaled (see _high_bit_depth_to_l)."""

_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    RuntimeError,
    TypeError,
    KeyError,
    IndexError,
    ArithmeticError,
    struct.error,
)
"""What Pillow's plugins raise on damaged files (AVIF's RuntimeError, a TIFF's TypeError for
missing dimensions, struct.error and IndexError from short headers, ZeroDivisionError from
zero resolutions…); a :exc:`MemoryError` is reported on its own."""


class ImageTooLarge(PainterlyError):
    """An image refused for its size (the studio answers 413 Content Too Large for it)."""


def load_image(path: str | os.PathLike[str], role: str = "image") -> Image.Image:
    """Read an image file as a fully loaded 8-bit RGB image, upright and in sRGB.

    A 16-bit file (grey, or RGB without a profile other than sRGB) comes back as a
    :class:`~painterly.io.deep.DeepImage` that also holds its 16-bit samples, and the
    file's EXIF (upright: without its Orientation) is kept in ``info["exif"]``.
    Only the first frame of an animated file is used. ``role`` ("content image", "style
    image") names the image in error messages so the user knows which argument is wrong.

    Raises:
        PainterlyError: if the path is missing, unreadable or not a regular file (a
            directory, named pipe, device or socket), the file is empty, not an image,
            truncated or corrupt, or :func:`decode_image` refuses it for its size.
    """
    path = Path(path)
    what = f"The {role} '{path}'"
    with _open_regular_file(path, what) as file:
        return decode_image(file, what, MAX_PIXELS, MAX_DECODE_BYTES)


def read_input(path: str | os.PathLike[str], role: str = "image") -> bytes:
    """The bytes of an input file, with :func:`load_image`'s checks of what the path is
    (a regular file with content), for a worker elsewhere to decode with
    :func:`image_from_bytes`."""
    with _open_regular_file(Path(path), f"The {role} '{Path(path)}'") as file:
        return file.read()


def image_from_bytes(data: bytes, path: str | os.PathLike[str], role: str = "image") -> Image.Image:
    """:func:`load_image` of a file's bytes read elsewhere (:func:`read_input`); ``path`` is
    where they came from, named in error messages."""
    what = f"The {role} '{Path(path)}'"
    return decode_image(io.BytesIO(data), what, MAX_PIXELS, MAX_DECODE_BYTES)


def _open_regular_file(path: Path, what: str) -> BinaryIO:
    """``path`` opened for reading, once it is known to be a regular file with content.

    The type is read with ``os.stat`` before opening, because reading a named pipe blocks
    until some writer comes (forever, if none does) and reading ``/dev/zero`` never ends.
    The open is non-blocking and the type checked again on the open file, in case the path
    was replaced in between; on a regular file O_NONBLOCK changes nothing.
    """
    try:
        _check_regular_file(os.stat(path), what)
        fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_NOCTTY)
    except FileNotFoundError:
        raise PainterlyError(f"{what} does not exist.") from None
    except PermissionError:
        raise PainterlyError(f"{what} cannot be read (permission denied).") from None
    except OSError as error:
        raise PainterlyError(f"{what} cannot be read ({os_reason(error)}).") from None
    file = os.fdopen(fd, "rb")
    try:
        _check_regular_file(os.fstat(fd), what)
    except BaseException:
        file.close()
        raise
    return file


def _check_regular_file(status: os.stat_result, what: str) -> None:
    kind = stat.S_IFMT(status.st_mode)
    if kind != stat.S_IFREG:
        name = _FILE_KINDS.get(kind, "not a regular file")
        raise PainterlyError(f"{what} is {name}, not an image file.")
    if status.st_size == 0:
        raise PainterlyError(f"{what} is an empty file.")


def decode_image(file: IO[bytes], what: str, max_pixels: int, max_bytes: int) -> Image.Image:
    """Decode an open image file as in :func:`load_image`; every refusal is one sentence.

    ``what`` begins each sentence ("The content image 'a.png'"). The size is checked from
    the header, before any pixel is decoded: at most ``max_pixels`` pixels, and at most
    ``max_bytes`` of memory by :func:`decode_memory`. Whatever the decoder raises on a
    damaged file becomes a sentence too, and none of its warnings reach the user: a
    DecompressionBombWarning means nothing once our own limits have been checked.

    Raises:
        ImageTooLarge: if the image is over either limit.
        PainterlyError: if the file is not an image, is truncated or corrupt, or is too
            small for the network.
    """
    _quiet_decoders()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            file_bytes = file.seek(0, os.SEEK_END)
            file.seek(0)
            with Image.open(file, formats=READ_FORMATS) as image:
                _check_size(image, what, max_pixels, max_bytes, file_bytes)
                sixteen_bit = deep.is_sixteen_bit(image)
                image.load()
                samples = None
                if sixteen_bit:
                    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
                    file.seek(0)
                    samples = deep.read_samples(image, file.read(), orientation)
                ImageOps.exif_transpose(image, in_place=True)
                rgb = to_rgb(image)
                if "exif" in image.info:  # a colour conversion makes a new image without it
                    rgb.info["exif"] = image.info["exif"]
                if samples is not None and samples.shape[:2] == (rgb.height, rgb.width):
                    return deep.DeepImage.of(rgb, samples)
                return rgb
        except UnidentifiedImageError:
            raise PainterlyError(
                f"{what} is not an image painterly can read (use {IMAGE_FORMAT_NAMES})."
            ) from None
        except Image.DecompressionBombError:
            limit = min(max_pixels, _pil_error_threshold())
            raise ImageTooLarge(
                f"{what} has more pixels than the limit of {limit:,}; use a smaller image."
            ) from None
        except MemoryError:
            raise ImageTooLarge(
                f"{what} could not be decoded in the memory available; use a smaller image."
            ) from None
        except _DECODER_ERRORS as error:
            raise PainterlyError(_decoder_error_sentence(what, error)) from None


@functools.cache
def _quiet_decoders() -> None:
    """Stop libtiff and Pillow's TIFF plugin printing lines of their own on stderr.

    Pillow turns the decoders' failures into exceptions, which :func:`decode_image` makes
    one sentence; their own lines ("TIFFReadDirectory: Failed to read directory at offset
    396.", "More samples per pixel than can be decoded") would come before it on the
    terminal. libtiff prints through process-wide handlers, so they are cleared once; it is
    reached through Pillow's extension, which links it (dlsym searches a library's
    dependencies), and where that fails nothing changes. Pillow logs through ``logging``
    with no handler, which prints records through logging's last resort; a NullHandler
    ends that, and an application that configures logging still gets the records.
    """
    logging.getLogger("PIL").addHandler(logging.NullHandler())
    try:
        library = ctypes.CDLL(_imaging.__file__)
        for name in ("TIFFSetErrorHandler", "TIFFSetWarningHandler"):
            set_handler = getattr(library, name)
            set_handler.restype = ctypes.c_void_p
            set_handler.argtypes = [ctypes.c_void_p]
            set_handler(None)
    except (OSError, AttributeError):
        pass  # Pillow without libtiff, or a loader that does not search dependencies


def _check_size(
    image: Image.Image, what: str, max_pixels: int, max_bytes: int, file_bytes: int
) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{what} has more pixels than the limit of {max_pixels:,}"
            f" ({width}x{height} = {width * height:,}); use a smaller image."
        )
    if min(width, height) < MIN_SIDE:
        raise PainterlyError(
            f"{what} is {width}x{height} pixels, but each side must be at least {MIN_SIDE} pixels."
        )
    if _decoded_in_python(image) and width * height > MAX_RLE_BMP_PIXELS:
        raise ImageTooLarge(
            f"{what} is a run-length-encoded BMP of {width}x{height} pixels, more than the"
            f" {MAX_RLE_BMP_PIXELS:,} that Pillow's slow decoder for it is given; re-save it"
            " as PNG."
        )
    needed = decode_memory(image, file_bytes)
    if needed > max_bytes:
        kind = _MODE_NAMES.get(image.mode[:4], image.mode)  # I;16 in any byte order
        raise ImageTooLarge(
            f"{what} is a {width}x{height} {kind} image, which takes"
            f" {needed / 1e6:,.0f} MB of memory to decode, more than the limit of"
            f" {max_bytes / 1e6:,.0f} MB; use a smaller image."
        )


def _decoded_in_python(image: Image.Image) -> bool:
    # Of the formats read, only BMP's RLE4 and RLE8 have a decoder written in Python.
    return isinstance(image, ImageFile.ImageFile) and any(
        tile[0] == "bmp_rle" for tile in image.tile
    )


def decode_memory(image: Image.Image, file_bytes: int = 0) -> int:
    """The most memory, in bytes, that :func:`decode_image` takes for an opened ``image``.

    Worked out from the header alone (``file_bytes`` is the file's size, which some
    decoders read whole). Per pixel: the frame as Pillow stores it; what the decoder keeps
    while the image is open; and the larger of the decoder's passing buffers and the
    conversion to RGB, which is made while the frame is still held. Pillow's pixel limit
    counts pixels of any mode alike, but a float frame is four times a palette one, and a
    13000x13000 JPEG within that limit took 2.2 GB to read. Measured peaks, for each
    format and mode that :func:`benchmarks.fuzz_images.seed_images` covers, are at most
    this (docs/reliability.md).
    """
    passing = max(_decoder_passing_bytes(image), _conversion_bytes(image))
    per_pixel = _frame_bytes(image.mode) + _decoder_kept_bytes(image) + passing
    return image.width * image.height * per_pixel + file_bytes + _DECODE_OVERHEAD


def _frame_bytes(mode: str) -> int:
    # Pillow keeps one-band modes at their sample size (mode "1" at a byte), and every
    # multi-band 8-bit mode at 4 bytes a pixel, padded.
    mode_info = ImageMode.getmode(mode)
    return 4 if len(mode_info.bands) > 1 else int(mode_info.typestr[-1])


def _decoder_kept_bytes(image: Image.Image) -> int:
    """Bytes a pixel the decoder keeps besides the frame until the image is closed."""
    if image.format in ("WEBP", "AVIF"):
        # The library's own decoded frame (WebP's animation decoder keeps two canvases,
        # AVIF its YUV planes, up to 16 bits a sample), and the copy Pillow reads from.
        return 3 * len(image.getbands())
    return 0


def _decoder_passing_bytes(image: Image.Image) -> int:
    """Bytes a pixel the decoder holds besides the frame while it decodes, at most."""
    if image.format in ("JPEG", "MPO"):
        # libjpeg keeps 16-bit coefficients for every sample of a progressive or multi-scan
        # file, and the header does not say whether later scans follow.
        return 2 * len(image.getbands())
    if isinstance(image, TiffImagePlugin.TiffImageFile):
        # libtiff decodes a whole strip or tile (RowsPerStrip may be the image's height) as
        # packed samples, or as 8-bit RGBA for YCbCr and old-style JPEG.
        bits = image.tag_v2.get(258, 8)
        packed = sum(bits) if isinstance(bits, tuple) else int(bits) * image.tag_v2.get(277, 1)
        return max(4, -(-packed // 8))
    return 0


def _conversion_bytes(image: Image.Image) -> int:
    """Bytes a pixel that :func:`to_rgb` allocates at its peak for ``image``."""
    rgb = 4  # Pillow keeps RGB at 4 bytes a pixel
    if deep.is_sixteen_bit(image):
        # The 16-bit decode (4 samples of 2 bytes), its float alpha and composite (4 + 12),
        # the upright samples kept (6), on top of the 8-bit image read as for any file.
        return 8 + 16 + 6 + 1 + 2 * rgb
    profile = rgb if image.info.get("icc_profile") else 0  # LittleCMS writes a new image
    if image.mode in _HIGH_BIT_DEPTH or image.mode == "1":
        return 1 + rgb  # 8-bit grey first, then RGB (by LittleCMS or not)
    if image.has_transparency_data:
        grey = image.mode in ("1", "L", "LA", "La")
        expanded = 0 if image.mode in ("LA", "RGBA") else 4
        colour = 1 + rgb if grey else rgb + profile
        return expanded + 1 + colour + rgb  # the alpha, the colour, the white behind
    if image.mode == "P":  # LittleCMS needs channels, not indices
        return rgb + profile
    return rgb  # converted, or copied when already RGB


def _decoder_error_sentence(what: str, error: Exception) -> str:
    reason = " ".join(os_reason(error).split())
    if isinstance(error, PermissionError):
        return f"{what} cannot be read (permission denied)."
    if isinstance(error, OSError) and error.errno is not None:  # the disk, not the data
        return f"{what} cannot be read ({reason})."
    if isinstance(error, ValueError) and any(limit in reason for limit in _PNG_TEXT_LIMITS):
        return (
            f"{what} has a text or colour-profile chunk larger than Pillow reads"
            f" ({PngImagePlugin.MAX_TEXT_CHUNK / 2**20:g} MiB each,"
            f" {PngImagePlugin.MAX_TEXT_MEMORY / 2**20:g} MiB in all); re-save it without"
            " that metadata."
        )
    return f"{what} is truncated or corrupt ({reason}); re-export or re-download it."


def to_rgb(img: Image.Image) -> Image.Image:
    """Return ``img`` as a new 8-bit sRGB image without alpha (the input is not changed).

    This is the conversion part of :func:`load_image`, for images handed to the Python API:
    16-bit and float greyscale are scaled (not clipped) to 8 bits, palettes are expanded,
    CMYK and embedded ICC profiles go through LittleCMS to sRGB when possible, and any
    transparency is composited over white. Every mode Pillow has is handled, premultiplied
    alpha (La, RGBa) and a 16-bit PNG's transparent grey level included.
    """
    icc_profile = img.info.get("icc_profile")
    alpha = None
    if img.mode in _HIGH_BIT_DEPTH:
        alpha = _transparent_value_mask(img)
        img = _high_bit_depth_to_l(img)
    elif img.has_transparency_data and img.mode not in ("LA", "RGBA"):
        # La (premultiplied) converts only to LA; Pillow has no La → RGBA or La → L.
        img = img.convert("LA" if img.mode in ("1", "L", "La") else "RGBA")

    if img.mode in ("RGBA", "LA"):
        alpha = img.getchannel("A")
        img = img.convert("L" if img.mode == "LA" else "RGB")

    rgb = _colour_to_srgb(img, icc_profile)
    if alpha is None:
        return rgb.copy() if rgb is img else rgb
    # Transparent areas have arbitrary colours underneath; white is what a viewer shows.
    background = Image.new("RGB", rgb.size, _WHITE)
    background.paste(rgb, (0, 0), alpha)
    return background


def _transparent_value_mask(img: Image.Image) -> Image.Image | None:
    """The alpha of a 16-bit or float greyscale image whose ``transparency`` names one grey
    level (a PNG's tRNS chunk), or None: Pillow's own conversions drop that level."""
    level = img.info.get("transparency")
    if isinstance(level, bool) or not isinstance(level, (int, float)):
        return None
    opaque = np.asarray(img, dtype=np.float64) != level
    return Image.fromarray(opaque.astype(np.uint8) * 255)


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    """Scale 16-bit integer or float greyscale to 8 bits by value range, rounding.

    Pillow's own ``convert("L")`` clips these to 255, which turns most 16-bit images white.
    Integer modes are taken as 16-bit (0–65535, how Pillow reads 16-bit PNG and TIFF); float
    images as 0–1 if they fit, else 0–255, else 0–65535. The work is done in bands of rows,
    so that the float64 arithmetic never holds more than a few megabytes, whatever the size.
    """
    rows = max(1, _BLOCK_PIXELS // max(1, img.width))
    bands = [(top, min(top + rows, img.height)) for top in range(0, img.height, rows)]

    def values(top: int, bottom: int) -> np.ndarray:
        # A signalling NaN sets the invalid flag when widened; it becomes 0 all the same.
        with np.errstate(invalid="ignore"):
            band = np.asarray(img.crop((0, top, img.width, bottom)), dtype=np.float64)
        if img.mode == "F":
            return np.nan_to_num(band, nan=0.0, posinf=0.0, neginf=0.0)
        return band

    full_scale = 65535.0
    if img.mode == "F":
        peak = max((values(*band).max(initial=0.0) for band in bands), default=0.0)
        full_scale = 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
    grey = np.empty((img.height, img.width), dtype=np.uint8)
    for top, bottom in bands:
        scaled = np.clip(values(top, bottom) / full_scale, 0.0, 1.0) * 255.0
        grey[top:bottom] = np.rint(scaled)
    return Image.fromarray(grey)


def _colour_to_srgb(img: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert an alpha-free image to RGB, through its ICC profile when one is usable."""
    if img.mode in ("1", "P"):  # LittleCMS needs real channels, not bits or indices.
        img = img.convert("L" if img.mode == "1" else "RGB")
    if icc_profile and ImageCms is not None:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(img, source, srgb, outputMode="RGB")
            if converted is not None:  # None only when converting in place
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # A broken or mismatched profile: the raw values are the best guess.
    return img if img.mode == "RGB" else img.convert("RGB")


def long_side_size(size: tuple[int, int], long_side: int, side: str = "long") -> tuple[int, int]:
    """The (width, height) that gives ``long_side`` pixels on one side, same aspect.

    ``side`` says which side gets that length: ``long`` (the default), ``short``,
    ``width`` or ``height``. Pure arithmetic, so callers can check that a size fits in
    memory before resizing.
    """
    if long_side < 1:
        raise ValueError(f"size must be at least 1, got {long_side}")
    width, height = size
    by_width = {"long": width >= height, "short": width < height, "width": True, "height": False}
    if by_width[side]:
        return long_side, max(1, round(height * long_side / width))
    return max(1, round(width * long_side / height)), long_side


def resize_long_side(img: Image.Image, size: int) -> Image.Image:
    """Scale ``img`` so its longer side is ``size`` pixels, keeping the aspect ratio.

    The output size sets the scale of the style's brush strokes, so it is the one knob users
    turn; Lanczos keeps the detail the encoder responds to.
    """
    return img.resize(long_side_size(img.size, size), Image.Resampling.LANCZOS)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """Return the image as a 1×3×H×W float32 tensor in [0, 1] (RGB, converted if needed),
    from the 16-bit samples of a :class:`~painterly.io.deep.DeepImage`."""
    samples = deep.deep_samples(img)
    if samples is not None:
        array = samples.astype(np.float32) / np.float32(deep.FULL_SCALE)
    else:
        rgb = img if img.mode == "RGB" else to_rgb(img)
        array = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_image(tensor: torch.Tensor, bit_depth: int = 8) -> Image.Image:
    """Turn a 1×3×H×W or 3×H×W tensor in [0, 1] into an 8-bit RGB image; with
    ``bit_depth`` 16 a :class:`~painterly.io.deep.DeepImage` that also holds the values as
    round(x × 65535), for a 16-bit file.

    Values are clamped (optimisation overshoots [0, 1]) and rounded, not truncated, so that
    ``to_image(to_tensor(img))`` reproduces ``img`` exactly.
    """
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected a 1x3xHxW or 3xHxW tensor, got shape {tuple(tensor.shape)}")
    values = torch.nan_to_num(tensor.detach().to("cpu", torch.float32), nan=0.0).clamp(0.0, 1.0)
    pixels = (values * 255.0).round().to(torch.uint8)
    image = Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy())
    if bit_depth == 8:
        return image
    # In float64: float32's product is off by up to 2e-3 of a level near 1, which rounds
    # some values to the wrong one.
    samples = (values.double() * deep.FULL_SCALE).round().to(torch.int32).permute(1, 2, 0)
    return deep.DeepImage.of(image, samples.numpy().astype(np.uint16))


def check_output_path(
    path: str | os.PathLike[str], overwrite: bool = False, inputs: Inputs = (), bit_depth: int = 8
) -> Path:
    """Check that an image can be written to ``path``; return it with its folder resolved.

    Called before a long run so a typo in the output path fails in the first second, not
    after minutes of optimisation.

    Raises:
        PainterlyError: for what :func:`~painterly.io.files.check_target` refuses (a name
            ending in a separator, a symbolic link, a directory, a missing or unwritable
            folder, an existing file without ``overwrite``, one of ``inputs``), an
            unsupported extension, or a format without 16-bit samples for ``bit_depth`` 16.
    """
    target = check_target(path, overwrite, inputs)
    suffix = target.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        supported = ", ".join(sorted(OUTPUT_FORMATS))
        found = f"extension '{printable(target.suffix)}'" if target.suffix else "no extension"
        raise PainterlyError(
            f"The output file '{printable(path)}' has {found}; use one of {supported} to choose"
            " the format."
        )
    image_format = OUTPUT_FORMATS[suffix]
    if bit_depth == 16 and image_format not in DEEP_FORMATS:
        raise PainterlyError(
            f"The output file '{printable(path)}' is {image_format}, which holds 8 bits a"
            " channel; use .png or .tif for --bit-depth 16."
        )
    if bit_depth == 16 and image_format == "PNG" and deep.optional_module("cv2") is None:
        raise PainterlyError(
            "Writing a 16-bit PNG needs OpenCV (pip install 'painterly[print]'); or write a .tif."
        )
    return target


def save_image(
    img: Image.Image,
    path: str | os.PathLike[str],
    overwrite: bool = False,
    quality: int = 95,
    *,
    bit_depth: int = 8,
    dpi: int | None = None,
    exif: bytes | None = None,
) -> Path:
    """Write ``img`` atomically in the format given by the extension; return the path.

    Every file gets the sRGB ICC profile (BMP has no place for one), ``exif`` (the
    content's, made upright by :func:`~painterly.io.deep.output_exif`) where the format
    holds EXIF, and ``dpi`` as its resolution. With ``bit_depth`` 16 a PNG or TIFF holds
    16 bits a channel: the samples of a :class:`~painterly.io.deep.DeepImage` (an 8-bit
    image's values ×257 otherwise).

    The image is written to a hidden temporary file in the same directory, synced, then
    moved into place, so an interrupted or failed save never leaves a half-written output.
    Without ``overwrite`` the file is hard-linked into place, which fails rather than
    replacing a file that appeared after the check. JPEG and WebP use ``quality``; JPEG
    keeps full-resolution colour (no chroma subsampling), as stylised images are full of
    fine coloured texture.

    Raises:
        PainterlyError: for any problem :func:`check_output_path` reports, or if writing
            fails (disk full, permissions).
    """
    target = check_output_path(path, overwrite, bit_depth=bit_depth)
    image_format = OUTPUT_FORMATS[target.suffix.lower()]
    icc, tags = deep.srgb_profile(), deep.output_exif(exif, dpi)
    if bit_depth == 16:
        samples = deep.deep_samples(img)
        if samples is None:
            samples = np.asarray(to_rgb(img) if img.mode != "RGB" else img, np.uint16) * 257

        def write_deep(temp: str) -> None:
            if image_format == "PNG":
                Path(temp).write_bytes(deep.png16(samples, icc, tags, dpi))
            else:
                deep.write_tiff16(temp, samples, icc, tags, dpi)

        write_atomically(target, write_deep, overwrite=overwrite, shown=path)
        return target
    if img.mode != "RGB" and not (img.mode == "RGBA" and image_format in ("PNG", "WEBP", "TIFF")):
        img = to_rgb(img)
    options: dict[str, object] = {}
    if image_format == "JPEG":
        options = {"quality": quality, "subsampling": 0}
    elif image_format == "WEBP":
        options = {"quality": quality}
    if icc and image_format != "BMP":
        options["icc_profile"] = icc
    if dpi is not None:
        options["dpi"] = (dpi, dpi)
    if tags is not None and image_format != "BMP":
        exif_bytes = tags.tobytes()
        # A JPEG holds EXIF in one APP1 segment of at most 64 KiB; a larger block is left out.
        if image_format != "JPEG" or len(exif_bytes) <= _JPEG_EXIF_LIMIT:
            options["exif"] = exif_bytes

    def write(temp: str) -> None:
        with open(temp, "wb") as file:
            img.save(file, format=image_format, **options)

    write_atomically(target, write, overwrite=overwrite, shown=path)
    return target


def _pil_error_threshold() -> int:
    # Pillow raises DecompressionBombError above twice its MAX_IMAGE_PIXELS (by default the
    # same number as MAX_PIXELS); it only raises when that setting is not None.
    return 2 * (Image.MAX_IMAGE_PIXELS or 0)
