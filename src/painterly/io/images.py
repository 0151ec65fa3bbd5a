"""Reading, colour conversion, resizing and atomic saving of images.

Everything the networks see is 8-bit sRGB without alpha, so every way an image file can
differ from that (EXIF rotation, ICC profiles, 16-bit samples, CMYK, palettes, transparency)
is resolved here, once, and every user mistake (missing file, not an image, truncated, too
small, too large, unwritable output) becomes one :class:`PainterlyError` sentence. No model
code lives here.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from painterly.errors import PainterlyError, printable
from painterly.io.files import Inputs, check_target, os_reason, write_atomically

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without LittleCMS: keep the raw values.
    ImageCms = None  # type: ignore[assignment]

MIN_SIDE = 16
"""Smallest side accepted: VGG-19 max-pools four times before conv5_1, so 16 px keeps ≥1 px."""

MAX_PIXELS = 178_956_970
"""Largest width × height decoded; Pillow's own decompression-bomb error threshold."""

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

_WHITE = (255, 255, 255)
_HIGH_BIT_DEPTH = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


def load_image(path: str | os.PathLike[str], role: str = "image") -> Image.Image:
    """Read an image file as a fully loaded 8-bit RGB image, upright and in sRGB.

    Only the first frame of an animated file is used. ``role`` ("content image", "style
    image") names the image in error messages so the user knows which argument is wrong.

    Raises:
        PainterlyError: if the file is missing, a directory, unreadable, not an image,
            truncated or corrupt, smaller than ``MIN_SIDE`` or larger than ``MAX_PIXELS``.
    """
    path = Path(path)
    what = f"The {role} '{path}'"
    if path.is_dir():
        raise PainterlyError(f"{what} is a directory, not an image file.")
    try:
        # Our own MAX_PIXELS check below is the limit; Pillow's warning for images between
        # its two thresholds would only be noise (or an exception under `-W error`).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=READ_FORMATS)
    except FileNotFoundError:
        raise PainterlyError(f"{what} does not exist.") from None
    except PermissionError:
        raise PainterlyError(f"{what} cannot be read (permission denied).") from None
    except UnidentifiedImageError:
        if path.stat().st_size == 0:
            raise PainterlyError(f"{what} is an empty file.") from None
        raise PainterlyError(
            f"{what} is not an image painterly can read (use JPEG, PNG, WebP, TIFF, BMP or GIF)."
        ) from None
    except Image.DecompressionBombError:
        raise PainterlyError(
            f"{what} has too many pixels to open safely (the limit is {_pil_error_threshold():,})."
        ) from None
    except OSError as error:
        raise PainterlyError(f"{what} cannot be read ({os_reason(error)}).") from None

    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise PainterlyError(
                f"{what} is {width}x{height} = {width * height:,} pixels, more than the limit"
                f" of {MAX_PIXELS:,}; use a smaller image."
            )
        if min(width, height) < MIN_SIDE:
            raise PainterlyError(
                f"{what} is {width}x{height} pixels, but each side must be at least"
                f" {MIN_SIDE} pixels."
            )
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, EOFError):
            raise PainterlyError(
                f"{what} is truncated or corrupt; re-export or re-download it."
            ) from None
        return to_rgb(upright)


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
    elif img.has_transparency_data:
        # La (premultiplied) converts only to LA; Pillow has no La → RGBA or La → L.
        img = img.convert("LA" if img.mode in ("1", "L", "LA", "La") else "RGBA")

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
    images as 0–1 if they fit, else 0–255, else 0–65535.
    """
    values = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        peak = values.max(initial=0.0)
        full_scale = 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
    else:
        full_scale = 65535.0
    scaled = np.clip(values / full_scale, 0.0, 1.0) * 255.0
    return Image.fromarray(np.rint(scaled).astype(np.uint8))


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
    """Return the image as a 1×3×H×W float32 tensor in [0, 1] (RGB, converted if needed)."""
    if img.mode != "RGB":
        img = to_rgb(img)
    array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """Turn a 1×3×H×W or 3×H×W tensor in [0, 1] into an 8-bit RGB image.

    Values are clamped (optimisation overshoots [0, 1]) and rounded, not truncated, so that
    ``to_image(to_tensor(img))`` reproduces ``img`` exactly.
    """
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected a 1x3xHxW or 3xHxW tensor, got shape {tuple(tensor.shape)}")
    values = torch.nan_to_num(tensor.detach().to("cpu", torch.float32), nan=0.0)
    pixels = (values.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy())


def check_output_path(
    path: str | os.PathLike[str], overwrite: bool = False, inputs: Inputs = ()
) -> Path:
    """Check that an image can be written to ``path``; return it with its folder resolved.

    Called before a long run so a typo in the output path fails in the first second, not
    after minutes of optimisation.

    Raises:
        PainterlyError: for what :func:`~painterly.io.files.check_target` refuses (a name
            ending in a separator, a symbolic link, a directory, a missing or unwritable
            folder, an existing file without ``overwrite``, one of ``inputs``), or an
            unsupported extension.
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
    return target


def save_image(
    img: Image.Image,
    path: str | os.PathLike[str],
    overwrite: bool = False,
    quality: int = 95,
) -> Path:
    """Write ``img`` atomically in the format given by the extension; return the path.

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
    target = check_output_path(path, overwrite)
    image_format = OUTPUT_FORMATS[target.suffix.lower()]
    if img.mode != "RGB" and not (img.mode == "RGBA" and image_format in ("PNG", "WEBP", "TIFF")):
        img = to_rgb(img)
    options: dict[str, object] = {}
    if image_format == "JPEG":
        options = {"quality": quality, "subsampling": 0}
    elif image_format == "WEBP":
        options = {"quality": quality}

    def write(temp: str) -> None:
        with open(temp, "wb") as file:
            img.save(file, format=image_format, **options)

    write_atomically(target, write, overwrite=overwrite, shown=path)
    return target


def _pil_error_threshold() -> int:
    # Pillow raises DecompressionBombError above twice its MAX_IMAGE_PIXELS (by default the
    # same number as MAX_PIXELS); it only raises when that setting is not None.
    return 2 * (Image.MAX_IMAGE_PIXELS or 0)
