"""Speed of the photorealistic linear algebra: the matting Laplacian, the fast (guided filter)
and the exact (sparse solve) smoothing, at one size.

The content is examples/tubingen.jpg at ``--size`` px on its long side; the stylised stand-in
is the content blurred, recoloured and given some noise, which the smoothing has to take out.
Each timing is the best of ``--repeats`` runs, the least disturbed sample on a shared machine;
the exact smoothing's peak traced memory is measured once more against
:func:`~painterly.controls.photoreal.laplacian_bytes`. Then whole runs through the API, on
Tübingen with a photograph as the style: adain and wct with each smoothing, and the photo
preset's optimisation for ``--evaluations`` evaluations with and without the matting term.
Targets of issue 17 on a 2-core CPU at 512 px: adain/wct + fast ≤ 5 s, + exact ≤ 60 s, the
optimisation with the term ≤ 2× without.

    PYTHONPATH=src python benchmarks/photoreal_speed.py [--size N] [--repeats N] [--evaluations N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import machine  # noqa: E402
from painterly import Options, run  # noqa: E402
from painterly.controls import photoreal  # noqa: E402
from painterly.controls.colour import from_array, to_array  # noqa: E402

EXAMPLES = ROOT / "examples"
# A mild colour cast, as a style transfer's output might have.
CAST = np.array([[0.9, 0.1, 0.0], [0.0, 0.8, 0.2], [0.1, 0.1, 0.7]])


def images(size: int) -> tuple[Image.Image, Image.Image]:
    """The content at ``size`` px (long side) and its stylised stand-in."""
    content = Image.open(EXAMPLES / "tubingen.jpg").convert("RGB")
    content.thumbnail((size, size), Image.Resampling.LANCZOS)
    blurred = to_array(content.filter(ImageFilter.GaussianBlur(2)))
    noise = np.random.default_rng(0).normal(0, 0.03, blurred.shape)
    return content, from_array(blurred @ CAST.T + 0.05 + noise)


def best_time(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512, help="long side in px (512)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, best kept (3)")
    parser.add_argument(
        "--evaluations", type=int, default=50, help="of the optimisation, with and without (50)"
    )
    args = parser.parse_args()

    load = os.getloadavg()[0]  # before this run adds its own
    content, stylised = images(args.size)
    width, height = content.size
    start = time.perf_counter()
    photoreal.matting_laplacian(np.zeros((4, 4, 3)))  # pymatting's import and numba's cache
    warm_up = time.perf_counter() - start
    array = to_array(content)
    laplacian = best_time(lambda: photoreal.matting_laplacian(array), args.repeats)
    fast = best_time(lambda: photoreal.smooth_fast(stylised, content), args.repeats)
    exact = best_time(lambda: photoreal.smooth_exact(stylised, content), args.repeats)
    tracemalloc.start()
    photoreal.smooth_exact(stylised, content)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    bound = photoreal.laplacian_bytes(width, height)

    print(f"CPU: {machine()['cpu_kind']}, {os.cpu_count()} cores; load average {load:.2f}")
    if load > 1.5:
        print("  (the machine was busy: the times below are slower than an idle machine's)")
    print(f"image: {width}×{height} px, best of {args.repeats}")
    print(f"first pymatting call (import, numba cache): {warm_up:.2f} s")
    print(f"matting_laplacian: {laplacian:.3f} s")
    print(f"smooth_fast:  {fast:.3f} s (target ≤ 5 s)")
    print(f"smooth_exact: {exact:.2f} s (target ≤ 60 s), {exact / laplacian:.0f}× the Laplacian")
    print(
        f"smooth_exact peak traced memory: {peak / 1e6:.1f} MB ({peak / (width * height):.0f} "
        f"bytes/px); laplacian_bytes: {bound / 1e6:.1f} MB ({bound / peak:.2f}× the peak)"
    )

    runs(args.size, args.repeats, args.evaluations)


def runs(size: int, repeats: int, evaluations: int) -> None:
    """Whole runs through the API at ``size`` px: the one-pass methods with each smoothing and
    as ``--photorealistic`` runs them, then the photo preset's optimisation with and without
    its matting term."""
    content = Image.open(EXAMPLES / "tubingen.jpg").convert("RGB")
    style = Image.open(EXAMPLES / "rocket.jpg").convert("RGB")  # a photograph
    for method in ("adain", "wct"):
        for smoothing in ("off", "fast", "exact"):
            options = Options.build(method=method, size=size, photo_smooth=smoothing)
            seconds = best_time(lambda o=options: run(content, style, o), repeats)
            print(f"{method} + {smoothing} smoothing: {seconds:.2f} s")
        options = Options.build(method=method, size=size, photorealistic=True)
        seconds = best_time(lambda o=options: run(content, style, o), repeats)
        print(
            f"{method} --photorealistic (fast smoothing, then the palette match): {seconds:.2f} s"
        )
    photo = Options.build(preset="photo", size=size, iterations=evaluations, photo_smooth="off")
    with_term = best_time(lambda: run(content, style, photo), 1)
    without = best_time(lambda: run(content, style, photo.replace(matting_weight=0)), 1)
    print(
        f"photo preset, {evaluations} evaluations: {with_term:.1f} s with the matting term, "
        f"{without:.1f} s without: {with_term / without:.2f}× (target ≤ 2×)"
    )


if __name__ == "__main__":
    main()
