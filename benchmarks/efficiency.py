"""Engine efficiency: achieved FLOP/s of one loss evaluation ÷ the machine's conv peak.

Both are measured in the same process, one after the other, at the same precision and
thread count, so the ratio holds even when other jobs slow the machine down for a while.
The peak is the best of several runs of one large 3×3 convolution (256 → 256 channels at
64 × 64), the operation that dominates VGG-19; the evaluation is painterly's
:class:`~painterly.engine.objective.Objective` forward plus backward to the image, with the
FLOPs of :mod:`benchmarks.flops`. Best-of-N is used for both, as the least disturbed sample.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from benchmarks.flops import conv_flops, evaluation_flops
from painterly.config.options import Options
from painterly.controls.inputs import prepare_inputs
from painterly.engine.plan import resolve
from painterly.engine.session import Session
from painterly.io.images import load_image
from painterly.methods import gatys

PEAK_SHAPE = (256, 256, 64, 64)  # C_in, C_out, H, W of the peak-probe convolution
# bf16 convolutions on a CPU without native bf16 run 10–500× slower than fp32: probe on a
# smaller map and stop after one slow repeat rather than hold the machine for minutes.
BF16_PROBE_SHAPE = (256, 256, 32, 32)
BF16_PROBE_BUDGET_S = 5.0
PRECISION_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16"}


@dataclass
class Peak:
    """Best FLOP/s of the probe convolution at one precision."""

    dtype: str
    flops_per_s: float
    repeats: int
    shape: tuple[int, int, int, int]
    layout: str = "nchw"


@dataclass
class EvaluationTiming:
    """Wall time of painterly's loss evaluation at one size and its efficiency."""

    size: int
    width: int
    height: int
    precision: str
    threads: int
    flops: int
    best_s: float
    median_s: float
    repeats: int
    peak_flops_per_s: float

    @property
    def flops_per_s(self) -> float:
        """Achieved FLOP/s of the best repeat."""
        return self.flops / self.best_s

    @property
    def efficiency(self) -> float:
        """Achieved FLOP/s ÷ the conv peak at the same precision."""
        return self.flops_per_s / self.peak_flops_per_s


def _best_seconds(
    step: Callable[[], object], repeats: int, warmup: int, budget_s: float
) -> list[float]:
    """Time ``step`` ``repeats`` times after ``warmup`` untimed calls; stop early past
    ``budget_s`` seconds of timed work (at least one repeat is always made)."""
    for _ in range(warmup):
        step()
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        if sum(times) > budget_s:
            break
    return times


def conv_peak(
    dtype: torch.dtype = torch.float32,
    shape: tuple[int, int, int, int] = PEAK_SHAPE,
    repeats: int = 8,
    budget_s: float = 30.0,
) -> Peak:
    """Best FLOP/s of a 3×3 convolution of ``shape`` (C_in, C_out, H, W) at ``dtype``, in
    the faster of the two memory layouts (NCHW, NHWC): painterly runs channels-last, and
    with AMX the NHWC kernels measured nearly twice the NCHW ones, so a peak in one layout
    only would flatter the efficiency."""
    cin, cout, h, w = shape
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, cin, h, w, generator=generator).to(dtype)
    weight = (torch.randn(cout, cin, 3, 3, generator=generator) * 0.02).to(dtype)
    best: Peak | None = None
    for layout, fmt in (("nchw", torch.contiguous_format), ("nhwc", torch.channels_last)):
        xl, wl = x.contiguous(memory_format=fmt), weight.contiguous(memory_format=fmt)
        with torch.inference_mode():
            times = _best_seconds(
                lambda xl=xl, wl=wl: F.conv2d(xl, wl, padding=1), repeats, 1, budget_s / 2
            )
        peak = Peak(
            PRECISION_NAMES.get(dtype, str(dtype)),
            conv_flops(cin, cout, h, w) / min(times),
            len(times),
            shape,
            layout,
        )
        if best is None or peak.flops_per_s > best.flops_per_s:
            best = peak
    assert best is not None
    return best


def bf16_peak() -> Peak:
    """A quick probe of the bf16 convolution peak (see ``BF16_PROBE_SHAPE``)."""
    return conv_peak(torch.bfloat16, BF16_PROBE_SHAPE, repeats=3, budget_s=BF16_PROBE_BUDGET_S)


def time_evaluation(
    content: Path,
    style: Path,
    size: int,
    peak: Peak,
    repeats: int = 3,
    autocast_dtype: torch.dtype | None = None,
) -> EvaluationTiming:
    """Time painterly's gatys2016 loss evaluation at long side ``size`` against ``peak``.

    ``autocast_dtype`` runs the evaluation's convolutions at that precision, as the plan
    of ``--precision bf16`` does (used only where the CPU has a faster native path).
    """
    precision = PRECISION_NAMES.get(autocast_dtype or torch.float32, str(autocast_dtype))
    options = Options.build(preset="gatys2016", size=size, device="cpu", precision=precision)
    inputs = prepare_inputs(load_image(content), [load_image(style)], options)
    plan = resolve(options, inputs, gatys.network(options))
    objective = Session(plan, inputs).objective(plan.stages[0], options)
    x = torch.rand_like(objective.targets.content_image).requires_grad_(True)
    _, _, h, w = x.shape

    def evaluate() -> None:
        x.grad = None
        objective(x)["total"].backward()

    times = _best_seconds(evaluate, repeats, warmup=1, budget_s=600.0)
    flops = evaluation_flops(h, w, options.layers, options.style_layers).total
    return EvaluationTiming(
        size=size,
        width=w,
        height=h,
        precision=precision,
        threads=torch.get_num_threads(),
        flops=flops,
        best_s=min(times),
        median_s=statistics.median(times),
        repeats=len(times),
        peak_flops_per_s=peak.flops_per_s,
    )
