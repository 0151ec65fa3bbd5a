"""16-bit samples and the metadata a print needs: reading 16-bit PNG and TIFF at their
precision, writing 16-bit PNG and TIFF, and the sRGB profile, EXIF and resolution every
output carries.

Pillow opens a 16-bit RGB PNG or TIFF as 8-bit RGB and cannot write one, so the samples
come from OpenCV (PNG, whose libpng reads and writes 16-bit RGB) and tifffile (TIFF); the
8-bit image Pillow decodes stays the one the rest of the pipeline (colour, masks, previews)
works on, and :class:`DeepImage` carries the 16-bit samples beside it.
"""

from __future__ import annotations

import functools
import importlib
import io
import struct
import zlib
from types import ModuleType
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageFile, PngImagePlugin

from painterly.errors import PainterlyError

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without LittleCMS: no profile to embed or compare.
    ImageCms = None  # type: ignore[assignment]

FULL_SCALE = 65535
"""The largest 16-bit sample: a value x in [0, 1] is written as round(x × 65535)."""

_ORIENTATION = ExifTags.Base.Orientation
_TRANSPOSES = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}
"""EXIF Orientation → the transpose that makes the image upright (as ImageOps.exif_transpose)."""

_SIXTEEN_BIT_RGB = {f"{bands};16{order}" for bands in ("RGB", "RGBA") for order in "BLN"}
"""Pillow's raw modes of 16-bit RGB(A) samples, which it reads into 8-bit RGB(A)."""

_DROPPED_EXIF = (
    ExifTags.Base.MakerNote,  # the camera's private block, often with offsets a rewrite breaks
    ExifTags.Base.ExifImageWidth,  # the photograph's size, not the output's
    ExifTags.Base.ExifImageHeight,
)
_TIFF_TEXT_TAGS = (
    ExifTags.Base.ImageDescription,
    ExifTags.Base.Make,
    ExifTags.Base.Model,
    ExifTags.Base.DateTime,
    ExifTags.Base.Artist,
    ExifTags.Base.Copyright,
)
"""The EXIF IFD0 texts that a 16-bit TIFF carries as its own tags (tifffile writes no EXIF
block, and these are baseline TIFF tags with the same numbers)."""


class DeepImage(Image.Image):
    """An 8-bit RGB image that also holds its pixels as 16-bit samples (H×W×3 uint16).

    Everything the pipeline does to an image works on the 8-bit image; ``resize`` and
    ``copy`` keep the samples (resized channel by channel in float), every other operation
    returns a plain 8-bit image, so the samples never describe other pixels than the
    image's. :func:`~painterly.io.images.to_tensor` reads them, and
    :func:`~painterly.io.images.save_image` writes them at bit depth 16.
    """

    samples: np.ndarray

    @classmethod
    def of(cls, image: Image.Image, samples: np.ndarray) -> DeepImage:
        """``image`` (8-bit RGB, not used afterwards) with ``samples`` of the same pixels."""
        if image.mode != "RGB" or samples.shape != (image.height, image.width, 3):
            raise ValueError(f"samples of shape {samples.shape} for a {image.mode} {image.size}")
        deep = cls.__new__(cls)
        deep.__dict__.update(image.__dict__)  # the decoded core, mode, size: Image._new's fields
        deep.info = dict(image.info)
        deep.samples = np.ascontiguousarray(samples, dtype=np.uint16)
        return deep

    def copy(self) -> DeepImage:
        return DeepImage.of(super().copy(), self.samples.copy())

    __copy__ = copy

    def resize(
        self,
        size: Any,
        resample: int | None = None,
        box: Any = None,
        reducing_gap: float | None = None,
    ) -> Image.Image:
        image = super().resize(size, resample, box, reducing_gap)
        if isinstance(image, DeepImage):  # the same size: Pillow returned a copy
            return image
        planes = [
            np.asarray(
                Image.fromarray(self.samples[..., c].astype(np.float32)).resize(
                    image.size, resample, box, reducing_gap
                )
            )
            for c in range(3)
        ]
        samples = np.rint(np.clip(np.stack(planes, axis=-1), 0.0, FULL_SCALE))
        return DeepImage.of(image, samples.astype(np.uint16))


def deep_samples(image: Image.Image) -> np.ndarray | None:
    """The 16-bit samples of a :class:`DeepImage` (None for any other image)."""
    if isinstance(image, DeepImage) and image.samples.shape[:2] == (image.height, image.width):
        return image.samples
    return None


def is_sixteen_bit(image: Image.Image) -> bool:
    """Whether an opened, not yet loaded image has 16-bit samples that :func:`read_samples`
    reads at their precision (16-bit grey, or RGB(A) that Pillow would read as 8 bits)."""
    if image.mode.startswith("I;16"):
        return "transparency" not in image.info  # a tRNS grey level: the 8-bit path knows it
    if not isinstance(image, ImageFile.ImageFile) or image.format not in ("PNG", "TIFF"):
        return False
    if not image.tile:
        return False
    args = image.tile[0][3]  # the decoder's arguments: the raw mode first, or alone
    rawmode = args if isinstance(args, str) else args[0] if isinstance(args, tuple) else None
    return rawmode in _SIXTEEN_BIT_RGB and _srgb_or_none(image.info.get("icc_profile"))


def _srgb_or_none(icc_profile: bytes | None) -> bool:
    # Only LittleCMS converts other profiles, and it does so in 8 bits.
    if not icc_profile:
        return True
    if ImageCms is None:
        return False
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        described = ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False
    return "srgb" in described.lower()


def read_samples(image: Image.Image, data: bytes, orientation: int) -> np.ndarray | None:
    """The upright H×W×3 uint16 samples of a :func:`is_sixteen_bit` image, alpha composited
    over white as :func:`~painterly.io.images.to_rgb` does; None when its decoder is not
    installed or the file holds something else (the 8-bit image is used then).

    ``image`` is the loaded 16-bit grey image, or the 8-bit RGB image Pillow made of
    ``data`` (the whole file); ``orientation`` is its EXIF Orientation.
    """
    if image.mode.startswith("I;16"):
        grey = np.asarray(image).astype(np.uint16)
        samples = np.repeat(grey[..., None], 3, axis=2)
    else:
        decoded = _decode(image.format, data)
        if decoded is None or decoded.dtype != np.uint16 or decoded.ndim != 3:
            return None
        samples = _over_white(decoded)
    if samples.shape[2] != 3:
        return None
    for method in _TRANSPOSES.get(orientation, ()):
        samples = np.stack(
            [np.asarray(Image.fromarray(samples[..., c]).transpose(method)) for c in range(3)],
            axis=-1,
        )
    return samples


def _decode(image_format: str | None, data: bytes) -> np.ndarray | None:
    if image_format == "PNG":
        cv2 = optional_module("cv2")
        if cv2 is None:
            return None
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if bgr is None or bgr.ndim != 3:
            return None
        order = [2, 1, 0, 3][: bgr.shape[2]]  # BGR(A) → RGB(A)
        return bgr[..., order]
    tifffile = optional_module("tifffile")
    if tifffile is None:
        return None
    with tifffile.TiffFile(io.BytesIO(data)) as tiff:
        page = tiff.pages[0]
        samples = page.asarray()
        if getattr(page, "planarconfig", 1) == 2 and samples.ndim == 3:  # SEPARATE planes
            samples = np.moveaxis(samples, 0, -1)
    return samples


def _over_white(samples: np.ndarray) -> np.ndarray:
    if samples.shape[2] != 4:
        return samples
    alpha = samples[..., 3:].astype(np.float32) / FULL_SCALE
    over = samples[..., :3] * alpha + FULL_SCALE * (1.0 - alpha)
    return np.rint(over).astype(np.uint16)


@functools.cache
def optional_module(name: str) -> ModuleType | None:
    """An optional library (OpenCV, tifffile), or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@functools.cache
def srgb_profile() -> bytes | None:
    """The sRGB ICC profile every output embeds (None for a Pillow without LittleCMS)."""
    if ImageCms is None:
        return None
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def output_exif(exif: bytes | None, dpi: int | None) -> Image.Exif | None:
    """The content's EXIF as the output carries it: upright (no Orientation: the pixels are
    turned already), without the camera's maker note and the photograph's pixel dimensions,
    and with ``dpi`` as its resolution; None when there is neither EXIF nor ``dpi``."""
    if not exif and dpi is None:
        return None
    tags = Image.Exif()
    if exif:
        tags.load(exif)
    tags.pop(_ORIENTATION, None)
    details = tags.get_ifd(ExifTags.IFD.Exif)
    for tag in _DROPPED_EXIF:
        details.pop(tag, None)
    if dpi is not None:
        tags[ExifTags.Base.XResolution] = float(dpi)
        tags[ExifTags.Base.YResolution] = float(dpi)
        tags[ExifTags.Base.ResolutionUnit] = 2  # inches
    return tags


def png16(
    samples: np.ndarray, icc: bytes | None, exif: Image.Exif | None, dpi: int | None
) -> bytes:
    """A 16-bit RGB PNG of ``samples`` with the iCCP, pHYs and eXIf chunks Pillow would write.

    libpng (through OpenCV) encodes the pixels; the chunks go right after IHDR, which is
    always first and 13 bytes long, so before IDAT as iCCP and pHYs must be.
    """
    cv2 = optional_module("cv2")
    if cv2 is None:
        raise PainterlyError(
            "Writing a 16-bit PNG needs OpenCV (pip install 'painterly[print]'); or write a .tif."
        )
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(samples[..., ::-1]))
    data = encoded.tobytes()
    if not ok or data[12:16] != b"IHDR":
        raise RuntimeError("OpenCV did not encode a PNG")
    chunks = io.BytesIO()
    if icc:
        PngImagePlugin.putchunk(chunks, b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc))
    if dpi is not None:
        per_metre = round(dpi / 0.0254)
        PngImagePlugin.putchunk(chunks, b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1))
    if exif is not None:
        block = exif.tobytes()
        PngImagePlugin.putchunk(chunks, b"eXIf", block.removeprefix(b"Exif\0\0"))
    end_of_ihdr = 8 + 8 + 13 + 4  # signature, length and type, data, CRC
    return data[:end_of_ihdr] + chunks.getvalue() + data[end_of_ihdr:]


def write_tiff16(
    path: str, samples: np.ndarray, icc: bytes | None, exif: Image.Exif | None, dpi: int | None
) -> None:
    """A 16-bit RGB TIFF of ``samples`` (Deflate), with the ICC profile (tag 34675), the
    resolution, and the EXIF texts TIFF has tags for (:data:`_TIFF_TEXT_TAGS`)."""
    tifffile = optional_module("tifffile")
    if tifffile is None:
        raise PainterlyError(
            "Writing a 16-bit TIFF needs tifffile (pip install tifffile); or write a .png."
        )
    texts = [
        (int(tag), "s", 0, str(exif[tag]), True)
        for tag in _TIFF_TEXT_TAGS
        if exif is not None and isinstance(exif.get(tag), str)
    ]
    tifffile.imwrite(
        path,
        samples,
        photometric="rgb",
        compression="zlib",
        iccprofile=icc,
        resolution=None if dpi is None else (dpi, dpi),
        resolutionunit="INCH" if dpi is not None else None,
        software="painterly",
        extratags=texts,
        metadata=None,
    )
