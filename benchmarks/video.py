"""Flicker, measured: the temporal warping error of stylised clips, per frame against
temporally consistent, for gatys and adain, and the seconds per frame.

The clip is a camera pan made from a still: a window moving across the bundled Tübingen
photograph (examples/tubingen.jpg, Andreas Praefcke, CC BY 3.0), with a little sensor-like
noise per frame, written as H.264 through PyAV. The warping error of an output clip is the
mean |O_t − warp(O_{t−1})| (0–255) over the pixels where the flow of the *input* frames is
trusted (Ruder et al. 2016's measure of temporal consistency); 0 is a perfectly stable clip.

One JSON line per record is appended to ``OUT/video.jsonl`` as soon as it is measured; with
``--figures DIR`` a strip of frames and an animated WebP (per frame | consistent) per method
go to ``DIR``::

    python benchmarks/video.py --out out/video --figures docs/images
"""

from __future__ import annotations

import argparse
import fractions
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image

from benchmarks.run import machine
from painterly.config.options import Options
from painterly.io.video import VideoWriter, read_frames
from painterly.video import flow
from painterly.video.run import stylize_video
from painterly.video.settings import VideoSettings

ROOT = Path(__file__).resolve().parent.parent


def make_pan(path: Path, frames: int, size: tuple[int, int], fps: int, seed: int = 0) -> None:
    """A pan across the Tübingen photograph: a 4:3 window of 512 × 384 source pixels moving
    6 source px right and 1 down per frame, resized to ``size``, with Gaussian noise of 1.5
    levels per frame (what a camera adds, and what makes per-frame stylisation flicker)."""
    source = Image.open(ROOT / "examples/tubingen.jpg").convert("RGB")
    rng = np.random.default_rng(seed)
    with VideoWriter(path, fractions.Fraction(fps), size, overwrite=True) as writer:
        for i in range(frames):
            x, y = 160 + 6 * i, 140 + i
            window = source.crop((x, y, x + 512, y + 384)).resize(size, Image.Resampling.LANCZOS)
            noisy = np.asarray(window, np.float32) + rng.normal(0, 1.5, (size[1], size[0], 3))
            writer.write(Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8)))


def decoded(path: Path) -> list[np.ndarray]:
    return [np.asarray(f.image.convert("RGB")) for f in read_frames(path)]


def warping_error(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> float:
    """The mean warping error of ``outputs`` along the flow of ``inputs`` (see above)."""
    errors = []
    for i in range(1, len(outputs)):
        backward = flow.optical_flow(inputs[i], inputs[i - 1])
        weights = flow.consistency(backward, flow.optical_flow(inputs[i - 1], inputs[i]))
        errors.append(flow.warping_error(outputs[i], outputs[i - 1], backward, weights))
    return float(np.mean(errors))


def detail(frames: list[np.ndarray]) -> float:
    """Mean gradient magnitude of the frames' luma (0–255 per pixel): how much fine texture a
    clip keeps, since a blend along the flow that smoothed it would also lower its error."""
    values = []
    for frame in frames:
        luma = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        dy, dx = np.gradient(luma)
        values.append(float(np.hypot(dx, dy).mean()))
    return float(np.mean(values))


def figures(
    name: str, flicker: list[np.ndarray], steady: list[np.ndarray], folder: Path
) -> list[str]:
    """A strip of four frames (per frame above, consistent below) as JPEG and the clip side
    by side as an animated WebP, each under 300 KB."""
    folder.mkdir(parents=True, exist_ok=True)
    picks = np.linspace(0, len(steady) - 1, 4).round().astype(int)
    rows = [np.concatenate([frames[i] for i in picks], axis=1) for frames in (flicker, steady)]
    strip = folder / f"video-{name}-strip.jpg"
    Image.fromarray(np.concatenate(rows, axis=0)).save(strip, quality=85)
    sides = zip(flicker, steady, strict=True)
    pairs = [Image.fromarray(np.concatenate([a, b], axis=1)) for a, b in sides]
    animated = folder / f"video-{name}.webp"
    quality = 70
    while True:
        pairs[0].save(animated, save_all=True, append_images=pairs[1:], duration=83, loop=0,
                      quality=quality, method=6)  # fmt: skip
        if animated.stat().st_size <= 300_000 or quality <= 20:
            break
        quality -= 10
    return [str(strip), str(animated)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out/video")
    parser.add_argument("--figures", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--style", default=str(ROOT / "examples/starry_night.jpg"))
    parser.add_argument("--methods", default="adain,gatys")
    parser.add_argument("--iterations", type=int, default=100, help="gatys: first frame")
    parser.add_argument("--blend", type=float, default=None, help="one-pass methods' --blend")
    parser.add_argument("--temporal-weight", type=float, default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "video.jsonl"

    def record(kind: str, **fields: object) -> None:
        line = {"kind": kind, **fields}
        with log.open("a") as f:
            f.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)

    size = (args.size, args.size * 3 // 4)
    clip = args.out / "pan.mp4"
    make_pan(clip, args.frames, size, fps=12)
    inputs = decoded(clip)
    record("machine", **machine(), frames=args.frames, size=size, style=args.style)
    for method in args.methods.split(","):
        values: dict[str, object] = {"method": method, "size": args.size}
        if method == "gatys":
            values |= {"iterations": args.iterations, "scales": "none"}
        options = Options.build(**values)
        outputs = {}
        consistent = VideoSettings.build(blend=args.blend, temporal_weight=args.temporal_weight)
        modes = (("per-frame", VideoSettings(per_frame=True)), ("consistent", consistent))
        for mode, settings in modes:
            target = args.out / f"{method}-{mode}.mp4"
            ticks: list[float] = []
            started = time.perf_counter()
            result = stylize_video(
                clip, [args.style], target, options, settings, overwrite=True,
                on_frame=lambda p, ticks=ticks: ticks.append(time.perf_counter()),
            )  # fmt: skip
            seconds = time.perf_counter() - started
            # After the first frame, which also loads the networks and encodes the style.
            steady = (ticks[-1] - ticks[0]) / (len(ticks) - 1)
            outputs[mode] = decoded(result.path)
            record("clip", method=method, mode=mode, frames=result.frames,
                   seconds=round(seconds, 2), first_frame=round(ticks[0] - started, 2),
                   seconds_per_frame=round(steady, 3), frames_per_second=round(1 / steady, 2),
                   warping_error=round(warping_error(inputs, outputs[mode]), 3),
                   detail=round(detail(outputs[mode]), 2))  # fmt: skip
        if args.figures:
            shown = figures(method, outputs["per-frame"], outputs["consistent"], args.figures)
            record("figures", method=method, files=shown)
    record("input", warping_error=round(warping_error(inputs, inputs), 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
