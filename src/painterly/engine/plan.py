"""The plan of a run, resolved once from the Options and the inputs: where it computes and in
which number format, the schedule as a list of stages with the pixel sizes of every image,
how deep the network goes, and whether it fits in memory.

Every method, command and study takes a plan instead of resolving these itself, so two runs
with the same options cannot disagree on any of them (a sweep cell and its printed command,
a strength pilot and the run it calibrates), on any CPU or GPU.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from painterly.config.options import Options
from painterly.controls.inputs import Inputs
from painterly.controls.photoreal import check_laplacian_fits
from painterly.engine.runtime import (
    GIB,
    Budget,
    check_fits,
    memory_budget,
    resolve_precision,
    run_bytes,
    select_device,
)
from painterly.errors import PainterlyError
from painterly.io.images import long_side_size

Size = tuple[int, int]
"""(width, height) in pixels."""


@dataclass(frozen=True)
class Network:
    """What a method's network asks of the plan: the deepest layer it reads (the encoder is
    cut there), the down-sampling every image side must survive (``min_side`` pixels), and
    the image-sized vector pairs its optimiser keeps (0 for a single pass)."""

    last_layer: str
    min_side: int
    history: int
    reach: int = 0
    """The margin, in pixels, a one-pass method's tiles are read with (0: it is not tiled)."""


@dataclass(frozen=True)
class StagePlan:
    """One stage of the schedule: ``iterations`` evaluations at ``size`` px (along the
    options' ``size_side``), with the output and each style image at these pixel sizes."""

    index: int
    size: int
    iterations: int
    output: Size
    styles: tuple[Size, ...]
    tile: int | None = None
    """The side of the tiles it is optimised in (:mod:`painterly.engine.tiling`), or None
    when the stage is optimised whole."""
    kept: int = 1
    """How many tiles of a tiled optimisation keep their first pass's graph for the second
    (:class:`painterly.engine.tiling.TiledObjective`): one costs nothing, more what fits."""


@dataclass(frozen=True)
class Plan:
    """Everything a run decides before it computes; see the module docstring.

    A stage too large for memory is tiled (``StagePlan.tile``) when the options allow it.

    ``content_size`` and ``style_sizes`` are the input images' own sizes, kept so further
    stages (the strength pilots, a sweep's preview) are sized by the same rule.
    """

    options: Options
    device: torch.device
    dtype: torch.dtype
    network: Network
    stages: tuple[StagePlan, ...]
    content_size: Size
    style_sizes: tuple[Size, ...]

    @property
    def total(self) -> int:
        """Evaluations of the whole schedule."""
        return sum(stage.iterations for stage in self.stages)

    @property
    def last_layer(self) -> str:
        return self.network.last_layer

    def stage(self, size: int, iterations: int, index: int = 0) -> StagePlan:
        """A stage of ``size`` px sized like the plan's own (PainterlyError if too small)."""
        o = self.options
        output, styles = working_sizes(
            self.content_size, self.style_sizes, size, o.size_side, o.style_scale,
            self.network.min_side,
        )  # fmt: skip
        return StagePlan(index, size, iterations, output, styles)

    def budget(self) -> Budget:
        """The memory this run may plan to use (:func:`memory_budget`)."""
        return memory_budget(self.device, self.options.max_memory)

    def fits(self, size: int) -> bool:
        """Whether every image keeps ``network.min_side`` pixels a side at ``size`` px."""
        try:
            self.stage(size, 1)
        except PainterlyError:
            return False
        return True


def working_sizes(
    content: Size,
    styles: Sequence[Size],
    size: int,
    size_side: str,
    style_scale: float,
    min_side: int,
) -> tuple[Size, tuple[Size, ...]]:
    """(width, height) of the output at ``size`` px along ``size_side``, and of each style.

    As in the paper, a style image is brought to the output's scale: its long side becomes
    the output's long side × ``style_scale``. Every image must keep at least ``min_side``
    pixels on each side, the down-sampling of the deepest layer used. Nothing is resized
    here, so a run can be checked against the memory it needs first.
    """
    output = long_side_size(content, size, size_side)
    style_sizes = tuple(
        long_side_size(style, max(1, round(max(output) * style_scale))) for style in styles
    )
    for role, (w, h), flag in [("content", output, "--size")] + [
        ("style", wh, "--style-scale") for wh in style_sizes
    ]:
        if min(w, h) < min_side:
            raise PainterlyError(
                f"at this size the {role} image is {w}×{h} pixels, but the network needs at "
                f"least {min_side} on each side; raise {flag} or use a less elongated image"
            )
    return output, style_sizes


def resolve(options: Options, inputs: Inputs, network: Network) -> Plan:
    """The plan of ``options`` on ``inputs`` for ``network``: device, precision, the stages
    and their sizes; raises PainterlyError if the largest stage would not fit in memory."""
    device = select_device(options.device)
    dtype = resolve_precision(options.precision, device)
    content_size = inputs.content.size
    style_sizes = tuple(style.size for style in inputs.styles)
    plan = Plan(options, device, dtype, network, (), content_size, style_sizes)
    stages = tuple(
        plan.stage(size, iterations, index)
        for index, (size, iterations) in enumerate(options.stages)
    )
    plan = Plan(options, device, dtype, network, stages, content_size, style_sizes)
    if options.method == "gatys" and options.tile != "off":
        stages = tuple(_tiled(plan, stage) for stage in stages)
        plan = Plan(options, device, dtype, network, stages, content_size, style_sizes)
    elif network.reach and options.tile != "off":
        stages = tuple(_tiled_pass(plan, stage) for stage in stages)
        plan = Plan(options, device, dtype, network, stages, content_size, style_sizes)
    whole = [stage for stage in plan.stages if stage.tile is None]
    if whole:
        _check_memory(dataclasses.replace(plan, stages=tuple(whole)))
    _check_laplacians(plan)
    return plan


def _tiled(plan: Plan, stage: StagePlan) -> StagePlan:
    """``stage`` with the tile it is optimised in: ``--tile N`` tiles a stage with a side
    longer than N; ``--tile auto`` one that would not fit whole, in the largest tiles that
    fit. PainterlyError when a stage to be tiled cannot be (an option that needs the whole
    image) or would not fit even in the smallest tiles."""
    from painterly.engine import tiles as tiling

    o = plan.options
    layers = list(o.layers)
    step = tiling.alignment(layers)
    budget = plan.budget()
    free = budget.bytes
    if isinstance(o.tile, int):
        if max(stage.output) <= o.tile // step * step:
            return stage
        tile = o.tile
    else:
        run, style = run_bytes(
            stage.output, _largest(stage.styles), plan.last_layer, plan.network.history
        )
        if free is None or run + style <= free or not tiling.tileable(o):
            return stage  # whole: what cannot be tiled is refused as untiled, by its size
        best = tiling.best_tile(
            stage.output, layers, plan.last_layer, list(o.content_layers), tiled_history(o),
            free, _largest(stage.styles),
        )  # fmt: skip
        if best is None:

            def whole_or_tiled(at: StagePlan) -> bool:
                whole = run_bytes(
                    at.output, _largest(at.styles), plan.last_layer, plan.network.history
                )
                smallest = tiling.tiled_bytes(
                    at.output, tiling.MIN_TILE, layers, plan.last_layer, list(o.content_layers),
                    tiled_history(o), _largest(at.styles),
                )  # fmt: skip
                return sum(whole) <= free or smallest <= free

            raise _too_large(plan, stage, budget, "stage", whole_or_tiled)
        tile = best
    tiling.check_tileable(o)
    need = _check_tiled(plan, stage, tile, budget)
    return dataclasses.replace(stage, tile=tile, kept=_kept(plan, stage, tile, free, need))


def _kept(plan: Plan, stage: StagePlan, tile: int, free: int | None, need: int) -> int:
    """How many tiles of ``stage`` in ``tile``-px tiles keep their first pass's graph: one
    always (pass 2 holds one graph anyway), and as many more as fit in half of what ``free``
    leaves beside the stage's own ``need``, each counted as a window's whole
    backpropagation."""
    from painterly.engine import tiles as tiling

    count = tiling.tile_count(stage.output, tile, list(plan.options.layers))
    if free is None or count == 1:
        return 1
    # Half of what is spare: the estimates run low in the middle of a schedule (docs/huge.md).
    spare = (free - need) // 2
    each = tiling.window_bytes(stage.output, tile, list(plan.options.layers), plan.last_layer)
    return max(1, min(count, 1 + spare // each))


def _tiled_pass(plan: Plan, stage: StagePlan) -> StagePlan:
    """``stage`` of a one-pass method with the tile it is decoded in, by the rule of
    :func:`_tiled`; PainterlyError when not even the smallest tiles fit."""
    from painterly.config.options import MIN_TILE
    from painterly.methods.tiled import pass_bytes

    o, edge, step = plan.options, plan.network.reach, plan.network.min_side
    budget = plan.budget()
    free = budget.bytes
    if isinstance(o.tile, int):
        if max(stage.output) <= o.tile:
            return stage
        tile = o.tile
    elif free is None:  # what is free cannot be told: as untiled runs, trust it fits
        return stage
    else:
        whole = run_bytes(stage.output, _largest(stage.styles), plan.last_layer, 0)
        if sum(whole) <= free:
            return stage
        tiles = range(MIN_TILE, max(stage.output) + step, step)
        fitting = [t for t in tiles if pass_bytes(stage.output, stage.styles, t, edge) <= free]
        if not fitting:

            def whole_or_tiled(at: StagePlan) -> bool:
                whole = run_bytes(at.output, _largest(at.styles), plan.last_layer, 0)
                smallest = pass_bytes(at.output, at.styles, MIN_TILE, edge)
                return sum(whole) <= free or smallest <= free

            raise _too_large(plan, stage, budget, "pass", whole_or_tiled)
        tile = max(fitting)
    need = pass_bytes(stage.output, stage.styles, tile, edge)
    if free is not None and need > free:
        w, h = stage.output
        raise PainterlyError(
            f"a {w}×{h} pass in {tile}-px tiles needs about {need / GIB:.1f} GiB but only "
            f"{free / GIB:.1f} GiB is {budget.where}; lower --tile or --size"
        )
    return dataclasses.replace(stage, tile=tile)


def _too_large(
    plan: Plan, stage: StagePlan, budget: Budget, what: str, fits: Callable[[StagePlan], bool]
) -> PainterlyError:
    """The refusal of a ``stage`` that does not fit in ``free`` bytes even in the smallest
    tiles, with the largest size that does (``fits`` tells, whole or tiled), never one
    below the smallest the images allow."""
    from painterly.config.options import MIN_TILE

    w, h = stage.output
    head = (
        f"a {w}×{h} {what} does not fit in the {(budget.bytes or 0) / GIB:.1f} GiB "
        f"{budget.where} even in {MIN_TILE}-px tiles"
    )
    smallest = _bisect(1, stage.size, plan.fits)
    if not fits(plan.stage(smallest, 1)):
        return PainterlyError(
            f"{head}; it would need less than {smallest} px, the smallest size these images "
            f"allow; {budget.advice()}"
        )
    largest = _bisect(smallest, stage.size, lambda size: not fits(plan.stage(size, 1))) - 1
    largest = max(smallest, largest // 16 * 16)  # a multiple of 16, as sizes usually are
    if isinstance(plan.options.scales, tuple) and plan.options.scales:
        return PainterlyError(
            f"{head}; the largest stage that fits is about {largest} px; lower it in --scales"
        )
    return PainterlyError(f"{head}; the largest size that fits is about --size {largest}")


def tiled_history(options: Options) -> int:
    """The image-sized vector pairs the optimiser of a tiled stage keeps."""
    from painterly.engine.optimize import history_pairs
    from painterly.engine.tiles import TILED_HISTORY

    return history_pairs(options.optimizer, options.pyramid, TILED_HISTORY)


def tiled_need(plan: Plan, stage: StagePlan, tile: int, kept: int = 1) -> int:
    """The memory estimate of ``stage`` optimised in ``tile``-px tiles, ``kept`` of which
    keep their first pass's graph."""
    from painterly.engine.tiles import tiled_bytes

    o = plan.options
    return tiled_bytes(
        stage.output, tile, list(o.layers), plan.last_layer, list(o.content_layers),
        tiled_history(o), _largest(stage.styles), kept,
    )  # fmt: skip


def _check_tiled(plan: Plan, stage: StagePlan, tile: int, budget: Budget) -> int:
    """Refuse a tiled stage that would not fit the ``budget``, with what to lower; return
    its memory estimate (one tile kept)."""
    need = tiled_need(plan, stage, tile)
    free = budget.bytes
    if free is not None and need > free:
        w, h = stage.output
        raise PainterlyError(
            f"a {w}×{h} stage in {tile}-px tiles needs about {need / GIB:.1f} GiB but only "
            f"{free / GIB:.1f} GiB is {budget.where}; lower --tile or --size"
        )
    return need


def _check_laplacians(plan: Plan) -> None:
    """Refuse, before any work, a matting Laplacian that would not fit in the host's memory
    (:mod:`painterly.controls.photoreal` builds it there): the largest stage's for
    ``--matting-weight``, the output's for ``--photo-smooth exact``."""
    o = plan.options
    needs = []
    if o.matting_weight:
        biggest = max(plan.stages, key=lambda s: s.output[0] * s.output[1])
        needs.append((biggest.output, "--matting-weight"))
    if o.photo_smooth == "exact":
        needs.append((plan.stages[-1].output, "--photo-smooth exact"))
    if needs:
        free = memory_budget(torch.device("cpu"), o.max_memory).bytes
        for (width, height), what in needs:
            check_laplacian_fits(width, height, what, free)


def _check_memory(plan: Plan) -> None:
    """The memory estimate of the largest stage, with advice that fits the schedule's form
    (a stage list is changed in ``--scales``, anything else through ``--size``), never a size
    below the smallest the images allow; or a ``--style-scale`` that fits when the style
    image is what does not."""
    biggest = max(plan.stages, key=lambda s: s.output[0] * s.output[1])
    largest_style = _largest(biggest.styles)
    staged = isinstance(plan.options.scales, tuple) and bool(plan.options.scales)
    o = plan.options
    run, style = run_bytes(biggest.output, largest_style, plan.last_layer, plan.network.history)

    def advice(scale: float) -> str:
        smallest = _bisect(1, biggest.size, plan.fits)
        largest = int(biggest.size * scale)  # memory grows with the pixels: sides by √
        if largest < smallest and style > run:
            return (
                f"the {largest_style[0]}×{largest_style[1]} style image is most of it; "
                "lower --style-scale first"
            )
        if largest < smallest:
            return (
                f"it would need less than {smallest} px, the smallest size these images allow; "
                f"{plan.budget().advice()}"
            )
        largest = max(smallest, largest // 16 * 16)  # a multiple of 16, as sizes usually are
        if staged:
            return f"the largest stage that fits is about {largest} px; lower it in --scales"
        return f"the largest size that fits is about --size {largest}"

    def style_advice(factor: float) -> str | None:
        free = run + factor**2 * style  # check_fits's factor: how much the style must shrink
        style_scale = _round_down(o.style_scale * factor)
        try:
            # The estimate follows the style's rounded pixel sizes: check it, go lower if not.
            while _need(plan, biggest.size, style_scale) > free:
                style_scale = _round_down(style_scale * 0.95)
        except PainterlyError:
            return None  # too small a style to paint with: the size is what must give
        return (
            f"the {largest_style[0]}×{largest_style[1]} style image is what does not fit; "
            f"lower --style-scale to about {style_scale:g}"
        )

    check_fits(
        biggest.output, largest_style, plan.last_layer, plan.network.history, plan.device,
        advice, style_advice, o.max_memory,
    )  # fmt: skip


def _largest(sizes: Sequence[Size]) -> Size:
    return max(sizes, key=lambda wh: wh[0] * wh[1])


def _need(plan: Plan, size: int, style_scale: float) -> int:
    """The memory estimate of a stage of ``size`` px with the plan's images at
    ``style_scale``; PainterlyError if an image would be too small for the network."""
    o = plan.options
    output, styles = working_sizes(
        plan.content_size, plan.style_sizes, size, o.size_side, style_scale,
        plan.network.min_side,
    )  # fmt: skip
    return sum(run_bytes(output, _largest(styles), plan.last_layer, plan.network.history))


def _round_down(value: float) -> float:
    """``value`` cut (not rounded) to three significant digits, so advice errs low."""
    digits = 2 - math.floor(math.log10(value))
    return math.floor(value * 10**digits) / 10**digits


def _bisect(low: int, high: int, past: Callable[[int], bool]) -> int:
    """The first size in ``low..high`` at which ``past`` holds (``high`` if none before it):
    ``past`` must stay true once true, as image sides and memory grow with the size."""
    while low < high:
        middle = (low + high) // 2
        if past(middle):
            high = middle
        else:
            low = middle + 1
    return low
