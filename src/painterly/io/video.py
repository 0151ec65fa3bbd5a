"""Reading and writing videos through PyAV (FFmpeg's libraries), one frame at a time.

Frames stream in and out, so a long clip never has to fit in memory. What a user can get
wrong (no video, a still image, a range without frames, a damaged file, an unwritable output)
becomes one :class:`PainterlyError` sentence, and an output appears only once it is complete,
as images do (:func:`~painterly.io.files.write_atomically`).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import stat
from bisect import bisect_left
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar, cast

import av
import numpy as np
from PIL import Image

from painterly.errors import PainterlyError, printable
from painterly.io.files import Inputs, check_target, make_temp, os_reason, write_atomically

MAX_VIDEO_PIXELS = 8192 * 8192 // 4
"""Largest width × height of a frame read (4096 × 4096): each frame is stylised whole."""

_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
_MUXERS[".gif"] = "gif"
VIDEO_FORMATS = tuple(_MUXERS)
"""The extensions (lower case) a video can be written with."""

# Encoders by preference: the first this FFmpeg build has is used.
_H264 = ("libx264", "mpeg4")
_VIDEO_CODECS = {"mp4": _H264, "mov": _H264, "matroska": _H264, "gif": ("gif",)}
_VIDEO_CODECS["webm"] = ("libvpx-vp9", "libvpx")
# The audio codecs each container takes as they are (None: any), and the encoder for others.
_MP4_AUDIO = (frozenset({"aac", "mp3", "alac", "ac3", "eac3"}), "aac")
_AUDIO = {"mp4": _MP4_AUDIO, "mov": _MP4_AUDIO, "matroska": (None, "aac")}
_AUDIO["webm"] = (frozenset({"opus", "vorbis"}), "libopus")
# What swscale makes of sRGB by default (BT.601 matrix, limited range, BT.709 primaries), said
# in the stream so that players do not assume BT.709's matrix for HD sizes and shift colours.
_COLOUR_TAGS = {"colorspace": 6, "color_primaries": 1, "color_trc": 13, "color_range": 1}
_FFMPEG_ERRORS = (OSError, av.error.FFmpegError)
_Path = str | os.PathLike[str]
_Input = av.container.InputContainer
_Timed = TypeVar("_Timed", av.Packet, av.AudioFrame)


class NotAVideo(PainterlyError):
    """A file that FFmpeg reads as no video at all: no container it knows (not a video, or
    damaged where its format would show), or a still image."""


class VideoTooLarge(PainterlyError):
    """A video whose frames have more pixels than :data:`MAX_VIDEO_PIXELS`."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns of a video, decoding no more than its first frame."""

    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float
    audio: bool
    codec: str


@dataclass(frozen=True)
class Frame:
    """A frame :func:`read_frames` yields: ``index`` in its output, ``source`` in the file
    (both from 0), ``time`` in seconds from the file's first frame, ``image`` in RGB."""

    index: int
    source: int
    time: float
    image: Image.Image


def probe(path: _Path, name: str | None = None) -> VideoInfo:
    """Describe the video at ``path``, or refuse it with a PainterlyError: a missing or
    non-regular file, no video (text, a still image: :class:`NotAVideo`), no video stream or
    no decodable frame, a frame over :data:`MAX_VIDEO_PIXELS` (:class:`VideoTooLarge`), a
    damaged file. The sentences call the file ``name`` (default: its path)."""
    shown = printable(path if name is None else name)
    with _opened(path, shown) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        if context.width and context.height:  # before decoding, which allocates the frame
            _check_pixels(context.width, context.height, shown)
        counted, first = 0, None
        try:
            for packet in container.demux(stream):
                counted += _is_frame(packet)
                if first is None:
                    first = next(iter(packet.decode()), None)
                elif stream.frames:
                    break  # the container says how many there are
        except _FFMPEG_ERRORS as error:
            raise _damaged(shown, error) from None
        if first is None:
            raise PainterlyError(f"The video '{shown}' has no frame that can be decoded.")
        _check_pixels(first.width, first.height, shown)
        frames = stream.frames or counted
        fps = Fraction(stream.average_rate or stream.guessed_rate or 0)
        if fps <= 0:
            raise PainterlyError(f"The video '{shown}' does not say its frame rate.")
        seconds = stream.duration * _time_base(stream) if stream.duration else frames / fps
        audio = bool(container.streams.audio)
        return VideoInfo(
            first.width, first.height, fps, frames, float(seconds), audio, context.name
        )


def selected_count(
    info: VideoInfo, start: float = 0.0, duration: float | None = None, every: int = 1
) -> int:
    """How many frames :func:`read_frames` yields, from the frame rate: exact for a constant
    one (frame i at i / fps, as painterly writes them), an estimate otherwise."""
    _check_range(start, duration, every)
    first = math.ceil(_seconds(start) * info.fps)
    stop = info.frames if duration is None else math.ceil(_seconds(start + duration) * info.fps)
    return math.ceil(max(0, min(stop, info.frames) - first) / every)


def read_frames(
    path: _Path,
    start: float = 0.0,
    duration: float | None = None,
    every: int = 1,
    info: VideoInfo | None = None,
) -> Generator[Frame, None, None]:
    """The frames whose time is in [start, start + duration) (None: to the end), then every
    ``every``-th of those; ``info`` is the file's :func:`probe` when the caller has it (a
    probe of an MKV or WebM file reads it through to count the frames).

    The file and range are checked at the call, not at the first frame, so that a mistake
    shows before any work. For ``start`` > 0 the reader seeks to the keyframe before it.
    Times are compared at the stream's precision (``start`` rounded to its time base), as the
    muxer rounded the frames' own times.
    """
    _check_range(start, duration, every)
    info = info or probe(path)
    check_range(info, start, duration, every, path)
    return _frames(path, info, start, duration, every)


def check_range(
    info: VideoInfo, start: float, duration: float | None, every: int, name: _Path
) -> int:
    """:func:`selected_count`, refusing a range without frames in a sentence that calls the
    video ``name``."""
    count = selected_count(info, start, duration, every)
    if count == 0:
        raise _empty_range(name, info, start, duration)
    return count


def _frames(
    path: _Path, info: VideoInfo, start: float, duration: float | None, every: int
) -> Generator[Frame, None, None]:
    with _opened(path, printable(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb, origin = _time_base(stream), stream.start_time or 0
        begin = origin + round(_seconds(start) / tb)
        end = math.inf if duration is None else origin + round(_seconds(start + duration) / tb)
        # A decoder that starts at a seek point cannot count the frames before it, so then the
        # indices come from all packets' presentation times: exact for any frame rate.
        times = None
        if start > 0:
            stamps = [p.pts for p in container.demux(stream) if _is_frame(p)]
            # No None left when it is not in the list (which mypy cannot see).
            times = None if None in stamps else sorted(cast("list[int]", stamps))
        frames = _decoded(container, stream, path, begin if times else origin)
        first = next(frames, None)
        if times and (
            first is None
            or first.pts is None
            or bisect_left(times, first.pts) > bisect_left(times, begin)
        ):  # the seek landed after the start (an index without that keyframe): read it all
            times, frames = None, _decoded(container, stream, path, origin)
            first = next(frames, None)
        taken = 0
        for count, frame in enumerate(itertools.chain([] if first is None else [first], frames)):
            pts = frame.pts if frame.pts is not None else origin + round(count / info.fps / tb)
            if pts >= end:
                break
            if pts >= begin:
                if taken % every == 0:
                    source = count if times is None else bisect_left(times, pts)
                    image = frame.to_image()
                    yield Frame(taken // every, source, float((pts - origin) * tb), image)
                taken += 1
        if taken == 0:
            raise _empty_range(path, info, start, duration)


def check_video_target(path: _Path, overwrite: bool = False, inputs: Inputs = ()) -> Path:
    """Check that a video can be written at ``path`` (what :func:`check_target` checks, and a
    format this FFmpeg encodes), in the first second; return it with its folder resolved."""
    target = check_target(path, overwrite, inputs)
    suffix = target.suffix.lower()
    if suffix not in _MUXERS:
        found = f"extension '{printable(target.suffix)}'" if target.suffix else "no extension"
        raise PainterlyError(
            f"The output video '{printable(path)}' has {found}; use one of"
            f" {', '.join(VIDEO_FORMATS)} to choose the format."
        )
    if _video_codec(_MUXERS[suffix]) is None:
        raise PainterlyError(f"This FFmpeg (in PyAV) has no encoder for {suffix}; use .mp4.")
    return target


def even_size(width: int, height: int) -> tuple[int, int]:
    """The size rounded down to even sides (at least 2), as 4:2:0 colour (yuv420p) needs: it
    keeps one colour sample for each 2 × 2 block of pixels."""
    return max(2, width - width % 2), max(2, height - height % 2)


class VideoWriter:
    """Encode frames into ``target`` as they come; the file appears only when the ``with``
    block ends without an exception, and replaces one only with ``overwrite``.

    Frames go to a hidden temporary file beside the target, at ``fps`` exactly (time base
    1 / fps): H.264 at crf ``quality`` for .mp4/.m4v/.mov/.mkv, VP9 for .webm, GIF for .gif.
    The audio of ``audio_from`` in [audio_start, audio_start + audio_duration) is interleaved
    from time 0, copied where the container takes its codec and encoded where not;
    ``audio_copied`` says whether the output has it (a GIF never has).
    """

    def __init__(
        self,
        target: _Path,
        fps: Fraction,
        size: tuple[int, int],
        overwrite: bool = False,
        audio_from: _Path | None = None,
        audio_start: float = 0.0,
        audio_duration: float | None = None,
        quality: int = 18,
    ) -> None:
        if len(size) != 2 or any(side < 2 or side % 2 for side in size):
            raise ValueError(f"video sides must be even and at least 2, got {size}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        _check_range(audio_start, audio_duration, 1)
        self.target = check_video_target(target, overwrite)
        self.fps, self.size, self.audio_copied = Fraction(fps), size, False
        self._shown, self._overwrite, self._quality = printable(target), overwrite, quality
        self._audio_args = (audio_from, audio_start, audio_duration)
        self._format = _MUXERS[self.target.suffix.lower()]
        self._temp: str | None = None
        self._output: av.container.OutputContainer | None = None
        self._source: _Input | None = None  # the audio's
        self._pending: list[av.Packet] = []  # an audio packet read but not yet due
        self._written = 0

    def __enter__(self) -> VideoWriter:
        try:
            self._temp = make_temp(self.target.parent, self.target.name)
            self._output = av.open(self._temp, "w", format=self._format)
            self._stream = self._add_video_stream(self._output)
            audio_from, start, duration = self._audio_args
            if audio_from is not None and self._format in _AUDIO:
                self._source = _open_input(audio_from)
                if self._source.streams.audio:
                    track = _audio_track(self._output, self._source, start, duration)
                    self._audio_stream, self._audio = track
                    self.audio_copied = True
        except BaseException as error:
            self._discard()
            if isinstance(error, _FFMPEG_ERRORS):
                raise self._failed(error) from None
            raise
        return self

    def write(self, image: Image.Image) -> None:
        """Encode ``image`` (converted to RGB, of ``size``) as the next frame."""
        if self._output is None:
            raise RuntimeError("VideoWriter.write is for inside its with block")
        if image.size != self.size:
            raise ValueError(f"frame size {image.size} differs from the video's {self.size}")
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        frame = _gif_frame(rgb) if self._format == "gif" else av.VideoFrame.from_image(rgb)
        frame.pts, frame.time_base = self._written, 1 / self.fps
        try:
            self._output.mux(self._stream.encode(frame))
            self._written += 1
            self._mux_audio(self._written / self.fps)
        except _FFMPEG_ERRORS as error:
            raise self._failed(error) from None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if kind is None and not self._written:
                raise ValueError("a video needs at least one frame; none was written")
            if kind is None and self._output is not None:
                self._output.mux(self._stream.encode(None))
                self._mux_audio(math.inf)
                self._output.close()
                temp = self._temp
                assert temp is not None, "__enter__ made the temporary file with the output"
                replace = lambda path: os.replace(temp, path)  # noqa: E731
                write_atomically(self.target, replace, self._overwrite, self._shown)
        except _FFMPEG_ERRORS as error:
            raise self._failed(error) from None
        finally:
            self._discard()

    def _add_video_stream(self, output: av.container.OutputContainer) -> av.VideoStream:
        codec = _video_codec(self._format)
        assert codec is not None, "check_video_target refused a format without an encoder"
        stream = output.add_stream(codec, rate=self.fps)
        assert isinstance(stream, av.VideoStream), "a video encoder makes a video stream"
        stream.width, stream.height = self.size
        stream.time_base = stream.codec_context.time_base = 1 / self.fps
        if codec == "gif":
            stream.pix_fmt = "pal8"
            return stream
        stream.pix_fmt = "yuv420p"
        for name, value in _COLOUR_TAGS.items():
            setattr(stream.codec_context, name, value)
        if codec == "mpeg4":
            stream.bit_rate = int(self.size[0] * self.size[1] * self.fps / 4)
        else:  # constant quality; "b" 0 makes it VP9's only aim too
            stream.options = {"crf": str(self._quality), "b": "0"}
        return stream

    def _mux_audio(self, seconds: float | Fraction) -> None:
        """Mux the audio packets that start by ``seconds``, so the file stays interleaved."""
        if not self.audio_copied:
            return
        assert self._output is not None, "audio is copied only inside the with block"
        try:
            for packet in itertools.chain(self._pending, self._audio):
                assert packet.pts is not None, "_in_range and the encoder give timed packets"
                if packet.pts * packet.time_base > seconds:
                    self._pending = [packet]
                    return
                packet.stream = self._audio_stream
                self._output.mux(packet)
            self._pending = []
        except av.error.FFmpegError as error:
            raise PainterlyError(
                f"Could not copy the audio of '{printable(self._audio_args[0])}' into"
                f" '{self._shown}' ({_reason(error)})."
            ) from None

    def _discard(self) -> None:
        for container in (self._source, self._output):
            if container is not None:
                with contextlib.suppress(*_FFMPEG_ERRORS):
                    container.close()
        self._source = self._output = None
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp)
            self._temp = None

    def _failed(self, error: BaseException) -> PainterlyError:
        return PainterlyError(f"Could not write '{self._shown}' ({_reason(error)}).")


def _audio_track(
    output: av.container.OutputContainer, source: _Input, start: float, duration: float | None
) -> tuple[av.AudioStream, Iterator[av.Packet]]:
    """An output stream for the source's audio in [start, start + duration), and its packets
    moved to start at 0: copied where the container takes the codec, encoded where not."""
    audio, video = source.streams.audio[0], source.streams.video
    # Seconds count from the source's first video frame, as read_frames counts them.
    zero = video[0].start_time * _time_base(video[0]) if video and video[0].start_time else 0
    begin = round((zero + _seconds(start)) / _time_base(audio))
    stop = math.inf if duration is None else (zero + _seconds(start + duration)) / _time_base(audio)
    if start > 0:
        source.seek(begin, stream=audio, backward=True)
    packets, (takes, encoder) = source.demux(audio), _AUDIO[output.format.name]
    if takes is None or audio.codec_context.name in takes:

        def copied() -> Iterator[av.Packet]:
            for packet in _in_range(packets, begin, stop, priming=start == 0):
                assert packet.pts is not None, "_in_range yields only timed packets"
                packet.pts -= begin
                packet.dts = None if packet.dts is None else packet.dts - begin
                yield packet

        return output.add_stream_from_template(audio), copied()
    rates = av.Codec(encoder, "w").audio_rates
    rate = audio.rate if not rates or audio.rate in rates else 48000
    layout = "mono" if audio.channels == 1 else "stereo"
    stream = output.add_stream(encoder, rate=rate, layout=layout)
    assert isinstance(stream, av.AudioStream), "an audio encoder makes an audio stream"
    formats = stream.codec_context.codec.audio_formats
    assert formats, "FFmpeg's audio encoders list the sample formats they take"
    resampler = av.AudioResampler(formats[0], layout, rate)

    def encoded() -> Iterator[av.Packet]:
        samples, frames = 0, (frame for packet in packets for frame in packet.decode())
        for frame in itertools.chain(_in_range(frames, begin, stop), [None]):
            for part in resampler.resample(frame):
                part.pts, part.time_base = samples, Fraction(1, rate)
                samples += part.samples
                yield from stream.encode(part)
        yield from stream.encode(None)

    return stream, encoded()


def _in_range(
    items: Iterator[_Timed], begin: int, stop: float | Fraction, priming: bool = False
) -> Iterator[_Timed]:
    """The packets or frames from ``begin`` to before ``stop``, in the stream's time base; with
    ``priming``, also an AAC stream's first packet, before time 0, that primes the decoder."""
    for item in items:
        if item.pts is not None and item.pts >= stop:
            return
        if item.pts is not None and (
            item.pts >= begin or (priming and isinstance(item, av.Packet) and item.is_discard)
        ):  # priming is only asked of packets; frames have no is_discard
            yield item


def _open_input(path: _Path, shown: str | None = None) -> _Input:
    """``path`` opened by FFmpeg; the sentences of a refusal call it ``shown`` (default:
    its path)."""
    shown = printable(path) if shown is None else shown
    try:
        info = os.stat(path)
    except (FileNotFoundError, ValueError):  # ValueError: a NUL in the name
        raise PainterlyError(f"The video '{shown}' does not exist.") from None
    except OSError as error:
        raise PainterlyError(f"The video '{shown}' cannot be read ({os_reason(error)}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise PainterlyError(f"The video '{shown}' is a directory, not a file.")
    if not stat.S_ISREG(info.st_mode):
        raise PainterlyError(f"The video '{shown}' is not a regular file.")
    if info.st_size == 0:
        raise PainterlyError(f"The video '{shown}' is empty (0 bytes).")
    try:
        return av.open(os.fspath(path), metadata_errors="replace")
    except av.error.InvalidDataError as error:
        raise _damaged(shown, error, NotAVideo) from None
    except _FFMPEG_ERRORS as error:
        raise _damaged(shown, error) from None


@contextlib.contextmanager
def _opened(path: _Path, shown: str) -> Iterator[_Input]:
    """The file opened as a video with a video stream, closed at the end; the sentences of
    a refusal call it ``shown``."""
    container = _open_input(path, shown)
    try:
        demuxer = container.format.name
        if demuxer.endswith("_pipe") or demuxer in ("image2", "image2pipe"):
            raise NotAVideo(f"The file '{shown}' is an image, not a video; give it as the content.")
        if not container.streams.video:
            found = " (only audio)" if container.streams.audio else ""
            raise PainterlyError(f"The file '{shown}' has no video stream{found}.")
        yield container
    finally:
        container.close()


def _decoded(
    container: _Input,
    stream: av.VideoStream,
    path: _Path,
    seek: int,
) -> Iterator[av.VideoFrame]:
    """The stream's frames from the keyframe at or before ``seek``, in presentation order."""
    try:
        container.seek(seek, stream=stream, backward=True, any_frame=False)
        for packet in container.demux(stream):
            yield from packet.decode()
    except _FFMPEG_ERRORS as error:
        raise _damaged(printable(path), error) from None


def _time_base(stream: av.stream.Stream) -> Fraction:
    """The time base of a stream read from a file, which FFmpeg always sets (PyAV's stubs
    allow None, as for an output stream not yet given one)."""
    tb = stream.time_base
    assert tb is not None, "a demuxed stream has a time base"
    return tb


def _is_frame(packet: av.Packet) -> bool:
    return packet.size > 0 and not packet.is_discard


def _check_pixels(width: int, height: int, shown: str) -> None:
    if width * height > MAX_VIDEO_PIXELS:
        raise VideoTooLarge(
            f"The video '{shown}' is {width}x{height} pixels, more than painterly's limit of"
            f" {MAX_VIDEO_PIXELS:,} a frame; scale it down first."
        )


def _check_range(start: float, duration: float | None, every: int) -> None:
    if not (math.isfinite(start) and start >= 0):
        raise PainterlyError(f"The start must be 0 s or later, not {start} s.")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise PainterlyError(f"The duration must be more than 0 s, not {duration} s.")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise PainterlyError(
            f"The frame step must be a whole number, 1 or more (1 takes every frame), not {every}."
        )


def _empty_range(
    path: _Path, info: VideoInfo, start: float, duration: float | None
) -> PainterlyError:
    span = f"after {_s(start)} s"
    if duration is not None:
        span = f"between {_s(start)} s and {_s(start + duration)} s"
    return PainterlyError(
        f"The video '{printable(path)}' has no frames {span}; it is {_s(info.duration)} s long."
    )


def _damaged(
    shown: str, error: BaseException, kind: type[PainterlyError] = PainterlyError
) -> PainterlyError:
    return kind(f"The file '{shown}' could not be read as a video ({_reason(error)}).")


def _reason(error: BaseException) -> str:
    """FFmpeg's words for an error, without the errno and file name PyAV adds."""
    words = getattr(error, "strerror", None)
    return words.rstrip(".") if isinstance(words, str) and words else os_reason(error)


def _seconds(value: float) -> Fraction:
    # To the microsecond, so that 0.1 s is 1/10 and frame 1 at 10 fps is in a range from 0.1.
    return Fraction(value).limit_denominator(1_000_000)


def _s(seconds: float) -> str:
    return f"{round(seconds, 3):g}"


@functools.cache
def _video_codec(container: str) -> str | None:
    for name in _VIDEO_CODECS[container]:
        with contextlib.suppress(ValueError):
            return av.Codec(name, "w").name
    return None


def _gif_frame(rgb: Image.Image) -> av.VideoFrame:
    """``rgb`` in the 256 colours that suit it best, as GIF holds no more in a frame."""
    quantized = rgb.quantize(256)
    palette = np.zeros((256, 4), np.uint8)
    palette[:, 0] = 255  # opaque: PyAV takes the palette as ARGB
    colours = np.asarray(quantized.getpalette() or [], np.uint8).reshape(-1, 3)[:256]
    palette[: len(colours), 1:] = colours
    # PyAV takes pal8 as (indices, palette); its stubs know only a single array.
    pair = (np.asarray(quantized), palette)
    return av.VideoFrame.from_ndarray(pair, format="pal8")  # type: ignore[arg-type]
