"""The schedule of a run: the stages it optimises in turn, coarse to fine, each a size and a
number of evaluations (Gatys et al. 2017, §6).

``--size``, ``--iterations`` and ``--scales`` are three ways of writing this one value, which
is why :func:`painterly.config.options.merge` takes them as a group.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from painterly.config.values import read_integer, shown
from painterly.errors import PainterlyError

AUTO = "auto"
"""``--scales auto``: the stages follow from ``--size`` and ``--iterations``."""

MIN_SIZE = 16
"""Smallest size of a stage: VGG's four poolings before conv5_1 leave it one position."""

MAX_SIZE = 65535
"""Largest size of a stage, the largest side a JPEG can have; the memory check refuses far
smaller sizes on most machines, but this bound holds before any image is read."""

MAX_ITERATIONS = 10_000_000
"""Most loss evaluations of a whole run: weeks of a GPU at 512 px, so no real run is
refused, while a mistyped count is."""

AUTO_SMALLEST = 128
"""Smallest stage of the automatic schedule: below it VGG's deep layers see too few positions."""


class Stage(NamedTuple):
    """One stage: the output's size along ``--size-side`` and its loss evaluations."""

    size: int
    iterations: int


def parse_scales(text: str | Sequence) -> tuple[Stage, ...]:
    """Read ``256:300,512:100`` (or a list of pairs or of such texts) into
    (Stage(256, 300), Stage(512, 100)), each size within MIN_SIZE … MAX_SIZE and the whole
    schedule at most MAX_ITERATIONS evaluations."""
    if isinstance(text, str):
        items: list = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    elif isinstance(text, (list, tuple)):
        items = list(text)
    else:
        raise PainterlyError(
            f"--scales is auto, none or stages SIZE:ITERATIONS,…, not {shown(text)}"
        )
    stages = []
    for item in items:
        pair = item.partition(":")[::2] if isinstance(item, str) else item
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or "" in pair:
            raise PainterlyError(f"each stage of --scales is SIZE:ITERATIONS, not {shown(item)}")
        size = read_integer(pair[0], "stage size", MIN_SIZE, MAX_SIZE)
        stages.append(Stage(size, read_integer(pair[1], "stage iterations", 1, MAX_ITERATIONS)))
    if total(stages) > MAX_ITERATIONS:
        raise PainterlyError(
            f"the stages of --scales add up to {total(stages):,} evaluations, more than the "
            f"limit of {MAX_ITERATIONS:,}"
        )
    return tuple(stages)


def read_scales(value: str | Sequence) -> tuple[Stage, ...] | str:
    """``--scales`` as Options keeps it: :data:`AUTO`, () for ``none``, or the stage list."""
    if isinstance(value, str) and value.strip().lower() in (AUTO, "none", ""):
        return AUTO if value.strip().lower() == AUTO else ()
    return parse_scales(value)


def auto_stages(size: int, iterations: int) -> tuple[Stage, ...]:
    """Coarse to fine (Gatys et al. 2017, §6): up to three stages, each half the next.

    The coarse stages settle the layout and the colours where an evaluation costs a
    quarter or a sixteenth as much; the last stage, at ``size``, only refines detail, so
    it gets a fifth of the evaluations and the earlier ones share the rest (for 512 px
    and 500 evaluations: 128:200, 256:200, 512:100, about a third of the single-scale
    time). Sizes below 2 × AUTO_SMALLEST run as one stage.
    """
    sizes = [size]
    while len(sizes) < 3 and sizes[0] // 2 >= AUTO_SMALLEST:
        sizes.insert(0, sizes[0] // 2)
    if len(sizes) == 1:
        return (Stage(size, iterations),)
    last = max(1, iterations // 5)
    early = iterations - last
    shares = [early // (len(sizes) - 1)] * (len(sizes) - 1)
    shares[0] += early - sum(shares)
    return tuple(map(Stage, sizes, [*shares, last]))


def total(stages: Sequence[Stage]) -> int:
    """The evaluations of the whole schedule."""
    return sum(stage.iterations for stage in stages)


def remaining(stages: Sequence[Stage], done: int) -> tuple[Stage, ...]:
    """What a resumed run still has to do after ``done`` evaluations of ``stages``.

    The stage in which ``done`` falls keeps its size and the rest of its evaluations, the
    later stages stay whole: ``done`` = 0 is the whole schedule, ``done`` ≥ :func:`total` ().
    """
    if done < 0:
        raise ValueError(f"done must be ≥ 0, not {done}")
    left = []
    for stage in stages:
        if done < stage.iterations:
            left.append(Stage(stage.size, stage.iterations - done))
        done = max(0, done - stage.iterations)
    return tuple(left)


def stage_at(stages: Sequence[Stage], iteration: int) -> tuple[int, int]:
    """(0-based stage index, evaluations done within it) at global ``iteration`` 1 … total.

    Iteration k lies in stage i when it comes after the end of stage i − 1 and no later
    than the end of stage i, so the last evaluation of a stage still counts as that stage's.
    """
    start = 0
    for index, stage in enumerate(stages):
        if start < iteration <= start + stage.iterations:
            return index, iteration - start
        start += stage.iterations
    raise ValueError(f"iteration {iteration} is outside the schedule's 1 … {start}")
