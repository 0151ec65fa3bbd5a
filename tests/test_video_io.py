"""Reading and writing videos: what goes in comes back (frames, size, rate, sound), ranges pick
the right frames, and every file a user can get wrong is refused in one sentence.

Every video here is made in the test, 48x32 pixels and a few frames long, by PyAV itself.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av", reason="video needs PyAV (pip install 'painterly[video]')")

from painterly.errors import PainterlyError  # noqa: E402
from painterly.io import video  # noqa: E402

SIZE = (48, 32)
FPS = Fraction(12)


def picture(i: int) -> Image.Image:
    """Frame ``i``: a background whose brightness steps with ``i`` and a square that moves,
    so that any two frames differ far more than H.264 at crf 18 changes one."""
    pixels = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    pixels[...] = (20 * (i % 12), 90, 200 - 15 * (i % 12))
    left = 2 + 3 * (i % 12)
    pixels[6:18, left : left + 10] = (255, 230, 0)
    return Image.fromarray(pixels)


def brightness(image: Image.Image) -> float:
    return float(np.asarray(image, np.float64).mean())


def difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


def sine(rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 0.3).astype(np.float32)[None, :]


def make_video(
    path: Path,
    frames: int = 10,
    muxer: str = "mp4",
    audio: str | None = None,
    video_stream: bool = True,
    keyframe_every: int = 250,
) -> Path:
    """A clip made with PyAV alone (not with the code under test), with a sine as its sound
    when ``audio`` names an encoder ("aac", "pcm_s16le")."""
    with av.open(str(path), "w", format=muxer) as container:
        if video_stream:
            stream = container.add_stream("libx264", rate=FPS, options={"g": str(keyframe_every)})
            stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
            stream.time_base = 1 / FPS
        if audio is not None:
            sound = container.add_stream(audio, rate=16000, layout="mono")
        for i in range(frames if video_stream else 0):
            frame = av.VideoFrame.from_image(picture(i))
            frame.pts, frame.time_base = i, 1 / FPS
            container.mux(stream.encode(frame))
        if video_stream:
            container.mux(stream.encode(None))
        if audio is not None:
            samples = sine(16000, frames / FPS)
            if audio.startswith("pcm_s16"):
                samples = (samples * 32767).astype(np.int16)
            chunk = 1000
            for start in range(0, samples.shape[1], chunk):
                part = samples[:, start : start + chunk]
                frame = av.AudioFrame.from_ndarray(part, format=sound.format.name, layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 16000, start, Fraction(1, 16000)
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return path


def write_video(path: Path, frames: int = 10, **options: object) -> video.VideoWriter:
    with video.VideoWriter(path, FPS, SIZE, **options) as writer:
        for i in range(frames):
            writer.write(picture(i))
    return writer


def audio_seconds(path: Path) -> float:
    """The length of the file's first audio stream, from its decoded samples."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


def one_sentence(error: pytest.ExceptionInfo[PainterlyError]) -> str:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith(".")
    return message


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm"])
def test_round_trip_keeps_frame_count_size_and_rate(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    write_video(path, frames=10)
    info = video.probe(path)
    frames = list(video.read_frames(path))
    assert (info.width, info.height, info.fps, info.frames) == (*SIZE, FPS, 10)
    assert info.duration == pytest.approx(10 / 12, abs=0.01)
    assert info.audio is False
    assert [f.source for f in frames] == list(range(10))
    assert [f.time for f in frames] == pytest.approx([i / 12 for i in range(10)], abs=0.001)
    assert all(f.image.mode == "RGB" and f.image.size == SIZE for f in frames)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_each_frame_read_back_is_close_to_its_own_source_and_not_to_others(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    write_video(path, frames=10)
    frames = list(video.read_frames(path))
    assert len(frames) == 10
    for frame in frames:
        own = difference(frame.image, picture(frame.index))
        others = [difference(frame.image, picture(j)) for j in range(10) if j != frame.index]
        assert own < 6, own
        assert min(others) > 2 * own + 3


def test_gif_keeps_count_and_size_but_holds_no_sound(tmp_path):
    source = make_video(tmp_path / "source.mp4", audio="aac")
    writer = write_video(tmp_path / "clip.gif", audio_from=source)
    info = video.probe(tmp_path / "clip.gif")
    assert (info.width, info.height, info.frames, info.audio) == (*SIZE, 10, False)
    assert writer.audio_copied is False


@pytest.mark.parametrize(
    ("start", "duration", "every", "sources"),
    [
        (0.0, None, 1, list(range(30))),
        (0.0, None, 4, [0, 4, 8, 12, 16, 20, 24, 28]),
        (1.0, 0.5, 1, [12, 13, 14, 15, 16, 17]),  # from a keyframe on
        (0.9, None, 3, [11, 14, 17, 20, 23, 26, 29]),  # between frames, after a seek
        (0.25, 1.0, 2, [3, 5, 7, 9, 11, 13]),  # frame 3 is at exactly 0.25 s
        (2.4, 10.0, 1, [29]),
        (0.1, 1 / 12, 1, [2]),  # a duration shorter than a frame's
    ],
)
def test_start_duration_and_every_select_the_right_source_frames(
    tmp_path, start, duration, every, sources
):
    path = make_video(tmp_path / "clip.mkv", frames=30, muxer="matroska", keyframe_every=5)
    frames = list(video.read_frames(path, start, duration, every))
    assert [f.source for f in frames] == sources
    assert [f.index for f in frames] == list(range(len(sources)))
    assert [f.time for f in frames] == pytest.approx([s / 12 for s in sources], abs=0.001)
    # The pixels are the source frame's, not a neighbour's: the seek did not shift them.
    assert all(difference(f.image, picture(f.source)) < 6 for f in frames)
    assert video.selected_count(video.probe(path), start, duration, every) == len(sources)


def test_selected_count_agrees_with_read_frames_across_ranges(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, frames=12)
    info = video.probe(path)
    for start in (0.0, 1 / 12, 0.2, 0.5, 11 / 12):
        for duration in (None, 0.05, 0.25, 0.5, 5.0):
            for every in (1, 2, 5):
                expected = video.selected_count(info, start, duration, every)
                if expected == 0:
                    with pytest.raises(PainterlyError):
                        video.read_frames(path, start, duration, every)
                    continue
                frames = list(video.read_frames(path, start, duration, every))
                assert len(frames) == expected, (start, duration, every)


def test_aac_sound_is_copied_as_it_is_into_mp4(tmp_path):
    source = make_video(tmp_path / "source.mp4", audio="aac")
    out = tmp_path / "out.mp4"
    assert write_video(out, audio_from=source).audio_copied
    with av.open(str(source)) as a, av.open(str(out)) as b:
        assert b.streams.audio[0].codec_context.name == "aac"
        original = [bytes(p) for p in a.demux(audio=0) if p.size]
        copied = [bytes(p) for p in b.demux(audio=0) if p.size]
    assert copied == original  # the same packets, so not encoded again
    assert audio_seconds(out) == pytest.approx(10 / 12, abs=0.07)


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_sound_the_container_cannot_hold_is_encoded(tmp_path, suffix):
    source = make_video(tmp_path / "source.mkv", muxer="matroska", audio="pcm_s16le")
    out = tmp_path / f"out{suffix}"
    assert write_video(out, audio_from=source).audio_copied
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name in ("aac", "opus")
    assert video.probe(out).audio
    assert audio_seconds(out) == pytest.approx(10 / 12, abs=0.1)
    assert len(list(video.read_frames(out))) == 10


def test_sound_range_is_cut_and_starts_with_the_video(tmp_path):
    source = make_video(tmp_path / "source.mkv", frames=24, muxer="matroska", audio="pcm_s16le")
    out = tmp_path / "out.mkv"
    write_video(out, frames=6, audio_from=source, audio_start=0.5, audio_duration=0.5)
    with av.open(str(out)) as container:
        stream = container.streams.audio[0]
        first = next(p for p in container.demux(stream) if p.pts is not None)
        assert stream.codec_context.name == "pcm_s16le"  # Matroska holds PCM: copied
        assert float(first.pts * first.time_base) == pytest.approx(0, abs=0.01)
    assert audio_seconds(out) == pytest.approx(0.5, abs=0.07)


def test_a_file_without_sound_gives_a_video_without_sound(tmp_path):
    source = make_video(tmp_path / "silent.mp4")
    writer = write_video(tmp_path / "out.mp4", audio_from=source)
    assert writer.audio_copied is False
    assert video.probe(tmp_path / "out.mp4").audio is False


def _text(folder: Path) -> Path:
    (folder / "notes.mp4").write_text("not a video at all\n" * 20)
    return folder / "notes.mp4"


def _png(folder: Path) -> Path:
    picture(0).save(folder / "still.png")
    return folder / "still.png"


def _audio_only(folder: Path) -> Path:
    return make_video(folder / "song.mp4", video_stream=False, audio="aac")


def _empty(folder: Path) -> Path:
    (folder / "empty.mp4").write_bytes(b"")
    return folder / "empty.mp4"


def _truncated_mp4(folder: Path) -> Path:
    data = make_video(folder / "whole.mp4").read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])
    return folder / "cut.mp4"


def _truncated_mkv(folder: Path) -> Path:
    data = make_video(folder / "whole.mkv", muxer="matroska").read_bytes()
    (folder / "cut.mkv").write_bytes(data[:200])
    return folder / "cut.mkv"


def _cut_in_first_frame(folder: Path) -> Path:
    data = make_video(folder / "whole.mkv", muxer="matroska").read_bytes()
    cluster = data.index(bytes.fromhex("1F43B675"))  # where Matroska's frames begin
    (folder / "cut.mkv").write_bytes(data[: cluster + 40])
    return folder / "cut.mkv"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_text, "could not be read as a video"),
        (_png, "is an image, not a video"),
        (_audio_only, "has no video stream (only audio)"),
        (_empty, "is empty"),
        (_truncated_mp4, "could not be read as a video"),
        (_truncated_mkv, "could not be read as a video"),
        (_cut_in_first_frame, "has no frame that can be decoded"),
        (lambda folder: folder / "missing.mp4", "does not exist"),
        (lambda folder: folder, "is a directory"),
    ],
)
def test_what_is_not_a_readable_video_is_refused_in_one_sentence(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(PainterlyError) as error:
        video.probe(path)
    message = one_sentence(error)
    assert words in message and str(path) in message
    with pytest.raises(PainterlyError):
        video.read_frames(path)


def test_a_frame_over_the_pixel_limit_is_refused_with_its_size(tmp_path, monkeypatch):
    path = make_video(tmp_path / "clip.mp4")
    monkeypatch.setattr(video, "MAX_VIDEO_PIXELS", 48 * 32 - 1)
    with pytest.raises(PainterlyError) as error:
        video.probe(path)
    assert "48x32" in one_sentence(error) and f"{48 * 32 - 1:,}" in str(error.value)
    monkeypatch.setattr(video, "MAX_VIDEO_PIXELS", 48 * 32)
    assert video.probe(path).frames == 10


@pytest.mark.parametrize(
    ("start", "duration", "every", "words"),
    [
        (3.0, 1.0, 1, "has no frames between 3 s and 4 s; it is 0.833 s long"),
        (0.9, None, 1, "has no frames after 0.9 s"),
        (0.0, None, 0, "frame step must be a whole number, 1 or more"),
        (-1.0, None, 1, "0 s or later"),
        (0.0, 0.0, 1, "more than 0 s"),
        (float("nan"), None, 1, "0 s or later"),
    ],
)
def test_a_range_without_frames_or_a_bad_range_is_refused(tmp_path, start, duration, every, words):
    path = make_video(tmp_path / "clip.mp4")
    with pytest.raises(PainterlyError) as error:
        video.read_frames(path, start, duration, every)
    assert words in one_sentence(error)


def test_an_unsupported_extension_is_refused_listing_the_supported_ones(tmp_path):
    with pytest.raises(PainterlyError) as error:
        video.VideoWriter(tmp_path / "out.avi", FPS, SIZE)
    message = one_sentence(error)
    assert "'.avi'" in message and all(suffix in message for suffix in video.VIDEO_FORMATS)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_kept_unless_overwrite(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(PainterlyError) as error:
        video.check_video_target(out)
    assert "--overwrite" in one_sentence(error)
    with pytest.raises(PainterlyError):
        write_video(out)
    assert out.read_bytes() == b"precious"
    write_video(out, overwrite=True)
    assert video.probe(out).frames == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_an_output_that_appears_while_writing_is_not_replaced(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(PainterlyError) as error, video.VideoWriter(out, FPS, SIZE) as writer:
        writer.write(picture(0))
        out.write_bytes(b"someone else's")
    assert "already exists" in one_sentence(error)
    assert out.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_an_exception_while_writing_leaves_neither_output_nor_temporary_file(tmp_path):
    source = make_video(tmp_path / "source.mp4", audio="aac")
    out = tmp_path / "out.mp4"
    with (
        pytest.raises(KeyboardInterrupt),
        video.VideoWriter(out, FPS, SIZE, audio_from=source) as w,
    ):
        w.write(picture(0))
        assert any(".painterly-tmp-" in name for name in os.listdir(tmp_path))
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.mp4"]


def test_odd_sizes_are_a_programming_error_and_even_size_rounds_down(tmp_path):
    with pytest.raises(ValueError):
        video.VideoWriter(tmp_path / "out.mp4", FPS, (49, 32))
    assert video.even_size(49, 33) == (48, 32)
    assert video.even_size(48, 32) == (48, 32)
    assert video.even_size(1, 1) == (2, 2)
    with pytest.raises(ValueError), video.VideoWriter(tmp_path / "out.mp4", FPS, SIZE) as writer:
        writer.write(picture(0).resize((32, 32)))
    assert list(tmp_path.iterdir()) == []
