"""Video without flicker: the flow, the trust mask, the temporal loss, and clips through
``painterly video`` (tiny synthetic clips, real weights, real FFmpeg through PyAV)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from video_helpers import texture, write_clip

from benchmarks.video import decoded, warping_error
from painterly.commands import main
from painterly.config.options import Options
from painterly.engine import losses
from painterly.engine.optimize import Cancel
from painterly.errors import Interrupted, PainterlyError
from painterly.io.video import probe
from painterly.video import flow
from painterly.video.run import frames_folder, stylize_video
from painterly.video.settings import VideoSettings

pytestmark = pytest.mark.usefixtures("one_thread")


def test_flow_of_a_shifted_image_is_the_shift_and_warping_recovers_it():
    base = texture(96, 128)
    shifted = np.roll(base, (2, 3), axis=(0, 1))  # shifted(x) = base(x − (3, 2))
    backward = flow.optical_flow(shifted, base)
    inner = (slice(12, -12), slice(12, -12))
    assert np.median(backward[inner][..., 0]) == pytest.approx(-3.0, abs=0.25)
    assert np.median(backward[inner][..., 1]) == pytest.approx(-2.0, abs=0.25)
    warped = flow.warp(base, backward)
    assert np.abs(warped - shifted)[inner].mean() < 0.01
    assert np.abs(base - shifted)[inner].mean() > 0.05  # the warp did something


def _square_frames() -> tuple[np.ndarray, np.ndarray]:
    """A textured square moving 8 px right over a static textured background."""
    background, square = texture(96, 128, 1), texture(32, 32, 2) * 0.5 + 0.5
    before, after = background.copy(), background.copy()
    before[32:64, 40:72] = square
    after[32:64, 48:80] = square
    return before, after


def test_the_trust_mask_marks_the_band_the_moving_square_uncovers():
    before, after = _square_frames()
    weights = flow.consistency(flow.optical_flow(after, before), flow.optical_flow(before, after))
    uncovered = weights[36:60, 40:48]  # background in `after` that the square hid before
    still = weights[70:90, 90:120]
    assert uncovered.mean() < 0.5
    assert still.mean() > 0.9


def test_temporal_loss_is_zero_for_a_static_clip_and_counts_only_trusted_pixels():
    frame = torch.from_numpy(texture(32, 32).transpose(2, 0, 1))[None]
    ones = torch.ones(1, 1, 32, 32)
    assert losses.temporal_loss(frame, frame.clone(), ones).item() == 0.0
    other = frame + 0.1
    assert losses.temporal_loss(other, frame, ones).item() == pytest.approx(0.01, rel=1e-4)
    assert losses.temporal_loss(other, frame, torch.zeros_like(ones)).item() == 0.0
    still = texture(48, 64)
    backward = flow.optical_flow(still, still)
    weights = flow.consistency(backward, flow.optical_flow(still, still))
    assert weights.mean() == 1.0
    assert flow.warping_error(still, still, backward, weights) == 0.0


@pytest.fixture(scope="module")
def style_path(tmp_path_factory, style_image):
    path = tmp_path_factory.mktemp("style") / "style.png"
    style_image.save(path)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "pan.mp4"
    write_clip(path)
    return path


def _warping_error(source, video) -> float:
    """The warping error of ``video`` along the flow of ``source`` (benchmarks/video.py)."""
    return warping_error(decoded(source), decoded(video))


@pytest.mark.parametrize("method", ["adain", "artflow"])
def test_a_one_pass_clip_keeps_frames_size_and_rate_and_the_blend_steadies_it(
    method, clip, tmp_path, style_path
):
    options = Options.build(method=method, size=64)
    steady = stylize_video(clip, [style_path], tmp_path / "steady.mp4", options)
    flicker = stylize_video(
        clip, [style_path], tmp_path / "flicker.mp4", options, VideoSettings(per_frame=True)
    )
    info = probe(steady.path)
    assert (info.frames, info.width, info.height, info.fps) == (6, 64, 48, 8)
    assert not frames_folder(steady.path).exists()  # removed once the clip is written
    assert _warping_error(clip, steady.path) < 0.7 * _warping_error(clip, flicker.path)


def test_a_stopped_clip_resumes_to_the_same_video(clip, tmp_path, style_path):
    options = Options.build(size=48, iterations=6, scales="none")
    settings = VideoSettings(frame_iterations=3)
    straight = stylize_video(clip, [style_path], tmp_path / "straight.mp4", options, settings)
    cancel = Cancel()

    def stop_after_two(p) -> None:
        if p.done == 2:
            cancel.set()

    target = tmp_path / "resumed.mp4"
    with pytest.raises(Interrupted):
        stylize_video(clip, [style_path], target, options, settings, on_frame=stop_after_two,
                      cancel=cancel)  # fmt: skip
    assert not target.exists()
    assert sorted(p.name for p in frames_folder(target).glob("*.png")) == [
        "000000.png",
        "000001.png",
    ]
    with pytest.raises(PainterlyError, match="--resume"):
        stylize_video(clip, [style_path], target, options, settings)
    resumed = stylize_video(clip, [style_path], target, options, settings, resume=True)
    assert resumed.resumed == 2 and resumed.frames == 6
    for a, b in zip(decoded(straight.path), decoded(resumed.path), strict=True):
        assert np.array_equal(a, b)


def _stop_after_the_first_frame(clip, style_path, target, options) -> None:
    """A run of ``clip`` into ``target`` stopped once its first frame is kept."""
    cancel = Cancel()
    with pytest.raises(Interrupted):
        stylize_video(clip, [style_path], target, options, on_frame=lambda p: cancel.set(),
                      cancel=cancel)  # fmt: skip


def test_resume_refuses_frames_made_with_other_settings(clip, tmp_path, style_path):
    options = Options.build(method="adain", size=64)
    target = tmp_path / "out.mp4"
    _stop_after_the_first_frame(clip, style_path, target, options)
    with pytest.raises(PainterlyError, match="other inputs or settings"):
        stylize_video(clip, [style_path], target, options, VideoSettings(blend=0.3), resume=True)


def test_resume_with_overwrite_continues_matching_frames_and_replaces_others(
    clip, tmp_path, style_path
):
    options = Options.build(method="adain", size=64)
    target = tmp_path / "out.mp4"
    _stop_after_the_first_frame(clip, style_path, target, options)
    other = VideoSettings(blend=0.3)
    replaced = stylize_video(clip, [style_path], target, options, other, resume=True,
                             overwrite=True)  # fmt: skip
    assert (replaced.resumed, replaced.frames) == (0, 6)
    again = tmp_path / "again.mp4"
    _stop_after_the_first_frame(clip, style_path, again, options)
    resumed = stylize_video(clip, [style_path], again, options, resume=True, overwrite=True)
    assert (resumed.resumed, resumed.frames) == (1, 6)


def test_the_command_writes_a_clip_and_refuses_bad_input_in_one_line(clip, tmp_path, style_path,
                                                                     capsys):  # fmt: skip
    out = tmp_path / "out.mp4"
    argv = ["video", str(clip), str(style_path), "-o", str(out), "--method", "adain",
            "--size", "64", "-q"]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert probe(out).frames == 6
    assert main(argv) == 2  # exists
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    bad = ["video", str(not_video), str(style_path), "-o", str(tmp_path / "x.mp4"), "-q"]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert err.startswith("painterly: error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.mp4").exists() and not frames_folder(tmp_path / "x.mp4").exists()
    assert main([*argv[:4], str(tmp_path / "y.mp4"), "--blend", "2"]) == 2
    assert "--blend" in capsys.readouterr().err


def test_the_clip_keeps_the_source_sound_and_its_range(tmp_path, style_path):
    from test_video_io import audio_seconds, make_video

    source = make_video(tmp_path / "talk.mp4", frames=12, audio="aac")  # 1 s at 12 fps
    options = Options.build(method="adain", size=48)
    whole = stylize_video(source, [style_path], tmp_path / "whole.mp4", options)
    assert whole.audio and audio_seconds(whole.path) == pytest.approx(1.0, abs=0.1)
    part = stylize_video(
        source, [style_path], tmp_path / "part.mp4", options,
        VideoSettings(start=0.5, duration=0.25),
    )  # fmt: skip
    assert probe(part.path).frames == 3
    assert audio_seconds(part.path) == pytest.approx(0.25, abs=0.1)


def test_what_a_clip_cannot_use_is_refused_before_any_work(clip, tmp_path, style_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(PainterlyError, match="--mask"):
        stylize_video(clip, [], target, Options.build(masks=[(str(style_path), str(style_path))]))
    assert not target.exists() and not frames_folder(target).exists()


def test_a_gatys_clip_in_luminance_keeps_each_frames_colours(
    clip, tmp_path, style_path, monkeypatch
):
    from painterly.controls.colour import rgb_to_yiq
    from painterly.video import clip as frames

    starts = []

    def session(*args, warped, **kwargs):  # the later frames' start and temporal target
        starts.append(warped)
        return real(*args, warped=warped, **kwargs)

    real = frames.FrameSession
    monkeypatch.setattr(frames, "FrameSession", session)

    def yiq(frames):
        return [rgb_to_yiq(np.asarray(f, np.float32) / 255) for f in frames]

    def blocks(chroma):  # 4 x 4 means: H.264's 4:2:0 keeps colour at half resolution
        return chroma.reshape(9, 4, 12, 4, 2).mean(axis=(1, 3))

    inputs = yiq(np.asarray(Image.fromarray(f).resize((48, 36), Image.Resampling.LANCZOS))
                 for f in decoded(clip))  # fmt: skip
    moved = {}
    for mode in ("luminance", "none"):
        options = Options.build(size=48, iterations=6, scales="none", preserve_color=mode)
        done = stylize_video(clip, [style_path], tmp_path / f"{mode}.mp4", options,
                             VideoSettings(frame_iterations=3))  # fmt: skip
        outputs = yiq(decoded(done.path))
        assert len(outputs) == len(inputs) == 6
        moved[mode] = [(np.abs(a[..., 0] - b[..., 0]).mean(),
                        np.abs(blocks(a[..., 1:]) - blocks(b[..., 1:])).mean())
                       for a, b in zip(inputs, outputs, strict=True)]  # fmt: skip
    for (luma, chroma), (_, chroma_none) in zip(moved["luminance"], moved["none"], strict=True):
        # Every frame keeps the photograph's colours (I, Q) far better than a plain run,
        # while its luminance is painted.
        assert chroma < 0.5 * chroma_none and luma > 0.015
    # Luminance runs are tied to the previous result's luminance (R = G = B), not its colours.
    grey = [bool((s[:, 0] == s[:, 1]).all() and (s[:, 1] == s[:, 2]).all()) for s in starts]
    assert grey == [True] * 5 + [False] * 5
