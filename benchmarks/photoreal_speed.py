"""Speed of the photorealistic linear algebra: the matting Laplacian, the fast (guided filter)
and the exact (sparse solve) smoothing, at one size.

The content is examples/tubingen.jpg at ``--size`` px on its long side; the stylised stand-in
is the content blurred, recoloured and given some noise, which the smoothing has to take out.
Each timing is the best of ``--repeats`` runs, the least disturbed sample on a shared machine;
the exact smoothing's peak traced memory is measured once more against
:func:`~painterly.controls.photoreal.laplacian_bytes`. Targets on a 2-core CPU at 512 px:
fast ≤ 5 s, exact ≤ 60 s.

    PYTHONPATH=src python benchmarks/photoreal_speed.py [--size 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from painterly.controls import photoreal
from painterly.controls.colour import from_array, to_array

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# A mild colour cast, as a style transfer's output might have.
CAST = np.array([[0.9, 0.1, 0.0], [0.0, 0.8, 0.2], [0.1, 0.1, 0.7]])


def cpu() -> str:
    """The CPU's model name, family and model, from /proc/cpuinfo."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        return "unknown CPU"
    name = info.get("model name", "unknown CPU")
    return f"{name} (family {info.get('cpu family', '?')}, model {info.get('model', '?')})"


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

    print(f"CPU: {cpu()}, {os.cpu_count()} cores; load average {load:.2f}")
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


if __name__ == "__main__":
    main()
