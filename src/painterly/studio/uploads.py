"""Checking an uploaded file: an image that decodes fully, or a clip that ``painterly video``
reads, within the size limits.

Nothing about the upload is trusted: not its name, extension or content type. Its bytes
decide what it is (:func:`is_still_image`): a file in a format Pillow reads is an image, an
animated GIF or anything else is tried as a clip.

- An image is decoded by :func:`painterly.io.images.decode_image`, as the CLI's files are:
  the pixel count and the memory the decoding takes are checked from the header before any
  pixel is decoded, so a decompression bomb is refused without being expanded, and the
  image is stored re-encoded as PNG under a name the server chooses.
- A clip is probed by :func:`painterly.io.video.probe`, as ``painterly video`` probes its
  input (a container FFmpeg knows, a video stream, a decodable first frame, the pixel limit
  of a frame), and must last at most ``max_video_seconds``; it is stored as it came, under a
  name the server chooses, with its first frame as PNG beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from painterly.errors import PainterlyError, printable
from painterly.io.images import (
    IMAGE_FORMAT_NAMES,
    MAX_DECODE_BYTES,
    MIN_SIDE,
    READ_FORMATS,
    ImageTooLarge,
    decode_image,
)

if TYPE_CHECKING:
    from painterly.io.video import VideoInfo
    from painterly.studio.store import Upload

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000
MAX_VIDEO_UPLOAD_BYTES = 64 * 1024 * 1024
"""Largest clip: it is read into memory to be checked, as an image is (two at a time)."""
MAX_VIDEO_SECONDS = 20.0
"""Longest clip: a one-pass job of it takes minutes on a CPU, a gatys one hours."""
VIDEO_NAMES = "MP4, MOV, MKV, WebM or an animated GIF"
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
    """How large an upload may be: an image in bytes, in decoded pixels and in memory to
    decode, a clip in bytes and in seconds; and how many are checked at once
    (``decode_slots``; one waits ``decode_wait`` seconds for a slot)."""

    max_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = MAX_UPLOAD_PIXELS
    max_decode_bytes: int = MAX_DECODE_BYTES
    decode_slots: int = DECODE_SLOTS
    decode_wait: float = DECODE_WAIT_SECONDS
    max_video_bytes: int = MAX_VIDEO_UPLOAD_BYTES
    max_video_seconds: float = MAX_VIDEO_SECONDS

    @property
    def upload_bytes(self) -> int:
        """The most bytes any upload may have: the larger of the image and clip limits."""
        return max(self.max_bytes, self.max_video_bytes)


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


def check_bytes(data: bytes, limit: int, kind: str) -> None:
    """Refuse an empty upload (422) or one of more than ``limit`` bytes (413)."""
    if len(data) > limit:
        raise UploadRejected(f"the {kind} is larger than the limit of {_megabytes(limit)}", 413)
    if not data:
        raise UploadRejected("the file is empty")


def decode_upload(data: bytes, limits: Limits) -> Image.Image:
    """The upload as a fully loaded, upright 8-bit RGB image, or :class:`UploadRejected`.

    Every refusal is one sentence; one for the upload's size answers 413, the rest 422.
    """
    check_bytes(data, limits.max_bytes, "image")
    try:
        return decode_image(
            io.BytesIO(data), "The uploaded image", limits.max_pixels, limits.max_decode_bytes
        )
    except ImageTooLarge as error:
        raise UploadRejected(str(error), 413) from None
    except PainterlyError as error:
        raise UploadRejected(str(error)) from None


def takes_video() -> bool:
    """Whether this installation reads clips (the video extra: PyAV and OpenCV)."""
    return all(importlib.util.find_spec(name) is not None for name in ("av", "cv2"))


def is_still_image(data: bytes) -> bool:
    """Whether the upload is an image: its header is one of a format Pillow reads (the
    formats of :func:`decode_image`), other than an animated GIF, which is a clip.

    Only the header is read. A damaged image whose header Pillow still knows is an image
    (for :func:`decode_upload` to refuse in its words); one it does not know is left to the
    clip's checks, which refuse what is neither.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a DecompressionBombWarning: decode_upload's to judge
        try:
            with Image.open(io.BytesIO(data), formats=READ_FORMATS) as image:
                return not (image.format == "GIF" and getattr(image, "is_animated", False))
        except UnidentifiedImageError:
            return False
        except Exception:  # noqa: BLE001 - a damaged image; decode_upload says how
            return True


def check_video(path: str, name: str, limits: Limits) -> tuple[VideoInfo, Image.Image]:
    """The clip at ``path`` (an upload called ``name``) described by its probe, with its
    first frame in RGB; or :class:`UploadRejected`, in a sentence that calls it ``name``.

    Over a limit (a frame's pixels, the duration) answers 413, the rest 422.
    """
    shown = printable(name)
    if not takes_video():
        raise UploadRejected(
            f"The file '{shown}' is not an image painterly can read (use {IMAGE_FORMAT_NAMES}), "
            "and this studio takes no videos: it lacks the video extra (pip install "
            "'painterly[video]')."
        )
    from painterly.io.video import NotAVideo, VideoTooLarge, probe, read_frames

    try:
        info = probe(path, name)
        if info.duration > limits.max_video_seconds:
            raise UploadRejected(
                f"The video '{shown}' lasts {info.duration:.3g} s, longer than the limit of "
                f"{limits.max_video_seconds:g} s; cut it shorter first.",
                413,
            )
        if min(info.width, info.height) < MIN_SIDE:
            raise UploadRejected(
                f"The video '{shown}' is {info.width}x{info.height} pixels, but each side must "
                f"be at least {MIN_SIDE} pixels."
            )
        with contextlib.closing(read_frames(path, info=info)) as frames:
            first = next(frames).image.convert("RGB")
    except NotAVideo:
        raise UploadRejected(
            f"The file '{shown}' is not an image or a video painterly can read (images: "
            f"{IMAGE_FORMAT_NAMES}; videos: {VIDEO_NAMES})."
        ) from None
    except VideoTooLarge as error:
        raise UploadRejected(str(error), 413) from None
    except PainterlyError as error:
        raise UploadRejected(str(error)) from None
    return info, first


def clip_record(info: VideoInfo) -> dict[str, Any]:
    """What an upload's record keeps of its clip's probe (:attr:`Upload.video`)."""
    return {"frames": info.frames, "fps": str(info.fps), "duration": info.duration,
            "audio": info.audio, "codec": info.codec}  # fmt: skip


def clip_info(upload: Upload) -> VideoInfo:
    """The probe of an uploaded clip, from its record."""
    from painterly.io.video import VideoInfo

    clip = upload.video
    assert clip is not None, "only a clip's upload has a video record"
    return VideoInfo(upload.width, upload.height, Fraction(clip["fps"]), clip["frames"],
                     clip["duration"], clip["audio"], clip["codec"])  # fmt: skip
