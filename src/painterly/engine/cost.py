"""What a run will cost before it starts: the peak memory and the time of each stage.

The time comes from a probe, one evaluation of the network timed at :data:`PROBE` pixels
on the plan's device and precision, scaled by the pixels each evaluation of a stage runs
the network on: the image's for a whole stage, the tiles' windows (margins included) for a
tiled one, where the first pass also runs forward each window that does not keep its graph
for the second. The memory is the plan's own estimate (:mod:`painterly.engine.plan`,
:mod:`painterly.engine.tiles`, :mod:`painterly.methods.tiled`), the network's and
PyTorch's share included. Both are
estimates: time grows a little faster than the pixels on a CPU whose caches a small probe
fits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from painterly.engine.plan import Plan, StagePlan, run_bytes, tiled_need
from painterly.engine.runtime import GIB, autocast
from painterly.engine.tiles import Window, grid, windows

PROBE = (256, 192)
"""(width, height) of the probe's image: big enough that the network's fixed costs do not
dominate, small enough to take a second or two on a laptop's CPU."""
PROBE_ROUNDS = 2
"""Timed evaluations of the probe (after one untimed, which warms the caches up)."""


@dataclass(frozen=True)
class Probe:
    """Seconds per pixel of the network on one device and precision: a pass without
    gradients (``forward``) and one with its backward pass (``backward``, 0 for one-pass
    methods)."""

    forward: float
    backward: float


@dataclass(frozen=True)
class StageCost:
    """One stage's estimate: ``evaluations`` at ``output`` (width, height), in tiles of
    ``tile`` px or whole (None), needing ``memory`` bytes at peak and ``seconds``."""

    index: int
    output: tuple[int, int]
    tile: int | None
    evaluations: int
    memory: int
    seconds: float


@dataclass(frozen=True)
class Cost:
    """The estimate of a whole run: its stages, and the probe they were scaled from."""

    stages: tuple[StageCost, ...]
    probe: Probe
    device: str

    @property
    def memory(self) -> int:
        """The peak over the stages, in bytes."""
        return max(stage.memory for stage in self.stages)

    @property
    def seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    def summary(self) -> str:
        """One line: the whole run's peak memory and time."""
        return (
            f"estimate: about {self.memory / GIB:.1f} GiB at most and "
            f"{duration(self.seconds)} on {self.device}"
        )

    def table(self) -> str:
        """A line per stage, then :meth:`summary`."""
        lines = []
        for s in self.stages:
            w, h = s.output
            how = f"in {s.tile}-px tiles" if s.tile else "whole"
            lines.append(
                f"stage {s.index + 1}: {w}×{h} {how}, {s.evaluations} evaluation"
                f"{'s' if s.evaluations != 1 else ''}: {s.memory / GIB:.1f} GiB, "
                f"{duration(s.seconds)}"
            )
        return "\n".join([*lines, self.summary()])


def duration(seconds: float) -> str:
    """``seconds`` as a person reads it: 40 s, 12 min, 3 h 20 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"


def probe(plan: Plan, one_pass: Callable[[torch.Tensor], object] | None = None) -> Probe:
    """Time the plan's network at :data:`PROBE` on its device and precision.

    For an optimisation, the VGG-19 down to the plan's last layer, without gradients and
    with them; for a one-pass method, ``one_pass``, the whole untiled pass (the probe's
    image as its own style), in :attr:`Probe.forward`.
    """
    from painterly.models import load_encoder

    w, h = PROBE
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(plan.device)
    if one_pass is not None:
        return Probe(_timed(lambda: one_pass(image)) / (w * h), 0.0)
    o = plan.options
    encoder = load_encoder(o.weights, o.pooling, o.padding, plan.last_layer, plan.device)
    layers = list(o.layers)

    def forward() -> None:
        with torch.inference_mode(), autocast(plan.device, plan.dtype):
            encoder(image, layers)

    def backward() -> None:
        x = image.clone().requires_grad_(True)
        with torch.enable_grad():
            with autocast(plan.device, plan.dtype):
                features = encoder(x, layers)
            sum(f.float().square().mean() for f in features.values()).backward()

    return Probe(_timed(forward) / (w * h), _timed(backward) / (w * h))


def _timed(work: Callable[[], object]) -> float:
    work()
    started = time.perf_counter()
    for _ in range(PROBE_ROUNDS):
        work()
    return (time.perf_counter() - started) / PROBE_ROUNDS


def estimate(plan: Plan, measured: Probe, tiles: Callable[[StagePlan], list[Window]]) -> Cost:
    """The cost of ``plan``'s stages from the probe: ``tiles`` gives a tiled stage's
    windows."""
    stages = []
    one_pass = not plan.network.history
    for stage in plan.stages:
        w, h = stage.output
        if stage.tile is None:
            style = max(stage.styles, key=lambda wh: wh[0] * wh[1])
            memory = sum(run_bytes(stage.output, style, plan.last_layer, plan.network.history))
            pixels_fwd, pixels_bwd = (w * h, 0) if one_pass else (0, w * h)
        else:
            memory = stage_memory(plan, stage)
            grid = tiles(stage)
            read = sum(_pixels(window) for window in grid)
            # An optimisation's pass 1 runs each window forward, its pass 2 forward and
            # backward, but for the kept tiles, whose pass 1 is pass 2's forward (the last
            # of the grid). A one-pass method's probe is a whole pass: two encodings (content
            # and style) and a decoding, about what its two passes over the content's
            # windows cost; each style is encoded tile by tile as well, a third of that.
            spread = read / (w * h)
            styles = round(sum(sw * sh for sw, sh in stage.styles) * spread / 3)
            rerun = sum(_pixels(window) for window in grid[: max(0, len(grid) - stage.kept)])
            pixels_fwd, pixels_bwd = (read + styles, 0) if one_pass else (rerun, read)
        seconds = pixels_fwd * measured.forward + pixels_bwd * measured.backward
        evaluations = 1 if one_pass else stage.iterations
        stages.append(
            StageCost(stage.index, stage.output, stage.tile, evaluations, memory,
                      seconds * evaluations)
        )  # fmt: skip
    return Cost(tuple(stages), measured, plan.device.type)


def stage_memory(plan: Plan, stage: StagePlan) -> int:
    """The memory estimate of a tiled stage: an optimisation's or a one-pass method's."""
    assert stage.tile is not None
    if plan.network.history:
        return tiled_need(plan, stage, stage.tile, stage.kept)
    from painterly.methods.tiled import pass_bytes

    return pass_bytes(stage.output, stage.styles, stage.tile, plan.network.reach)


def optimisation_tiles(plan: Plan) -> Callable[[StagePlan], list[Window]]:
    """The windows of a tiled optimisation stage (unshifted)."""
    layers = list(plan.options.layers)
    return lambda stage: windows(stage.output[1], stage.output[0], stage.tile or 0, layers)


def pass_tiles(plan: Plan) -> Callable[[StagePlan], list[Window]]:
    """The windows of a tiled one-pass stage."""
    step, edge = plan.network.min_side, plan.network.reach
    return lambda stage: grid(stage.output[1], stage.output[0], stage.tile or 0, step, edge)


def _pixels(window: Window) -> int:
    rows, columns = window.rows, window.columns
    return (rows.stop - rows.start) * (columns.stop - columns.start)
