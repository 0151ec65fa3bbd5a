"""Checking an uploaded file: it must decode fully as an image within the size limits.

Nothing about the upload is trusted: not its name, extension or content type. The bytes
are decoded by :func:`painterly.io.images.decode_image`, as the CLI's files are: the pixel
count and the memory the decoding takes are checked from the header before any pixel is
decoded, so a decompression bomb is refused without being expanded, and the image is
stored re-encoded as PNG under a name the server chooses.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from painterly.errors import PainterlyError
from painterly.io.images import MAX_DECODE_BYTES, ImageTooLarge, decode_image

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000


class UploadRejected(Exception):
    """An upload that is not a usable image; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """How large an upload may be: in bytes, in decoded pixels, in memory to decode."""

    max_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = MAX_UPLOAD_PIXELS
    max_decode_bytes: int = MAX_DECODE_BYTES


def _megabytes(count: int) -> str:
    return f"{count / 1024**2:g} MB"


def decode_upload(data: bytes, limits: Limits) -> Image.Image:
    """The upload as a fully loaded, upright 8-bit RGB image, or :class:`UploadRejected`.

    Every refusal is one sentence; one for the upload's size answers 413, the rest 422.
    """
    if len(data) > limits.max_bytes:
        raise UploadRejected(
            f"the file is larger than the limit of {_megabytes(limits.max_bytes)}", 413
        )
    if not data:
        raise UploadRejected("the file is empty")
    try:
        return decode_image(
            io.BytesIO(data), "The uploaded image", limits.max_pixels, limits.max_decode_bytes
        )
    except ImageTooLarge as error:
        raise UploadRejected(str(error), 413) from None
    except PainterlyError as error:
        raise UploadRejected(str(error)) from None
