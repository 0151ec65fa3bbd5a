"""Checking an uploaded file: it must decode fully as an image within the size limits.

Nothing about the upload is trusted: not its name, extension or content type. The bytes
are decoded by :func:`painterly.io.images.decode_image`, as the CLI's files are: the pixel
count and the memory the decoding takes are checked from the header before any pixel is
decoded, so a decompression bomb is refused without being expanded, and the image is
stored re-encoded as PNG under a name the server chooses.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from PIL import Image

from painterly.errors import PainterlyError
from painterly.io.images import MAX_DECODE_BYTES, ImageTooLarge, decode_image

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000
DECODE_SLOTS = 2
"""Uploads read and decoded at once: a decode of the largest accepted image holds a few
hundred MB, so this bounds the server's memory however many arrive together."""
DECODE_WAIT_SECONDS = 30.0
"""How long an upload waits for a free slot before it is answered 503."""


class UploadRejected(Exception):
    """An upload that is not a usable image; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """How large an upload may be, in bytes, in decoded pixels and in memory to decode, and
    how many are decoded at once (``decode_slots``; one waits ``decode_wait`` seconds for a
    slot)."""

    max_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = MAX_UPLOAD_PIXELS
    max_decode_bytes: int = MAX_DECODE_BYTES
    decode_slots: int = DECODE_SLOTS
    decode_wait: float = DECODE_WAIT_SECONDS


class DecodeSlots:
    """The bound on concurrent decodes of :class:`Limits`: :meth:`hold` waits for one of
    ``decode_slots`` without holding a thread, or refuses with 503 after ``decode_wait``."""

    def __init__(self, limits: Limits) -> None:
        self._free = asyncio.Semaphore(limits.decode_slots)
        self._wait = limits.decode_wait

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._wait):
                await self._free.acquire()
        except TimeoutError:
            raise UploadRejected(
                "the studio is busy checking other uploads; try again in a moment", 503
            ) from None
        try:
            yield
        finally:
            self._free.release()


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
