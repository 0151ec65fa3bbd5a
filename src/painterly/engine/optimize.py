"""The image-optimisation loop: L-BFGS or Adam over the pixels of one image.

It knows nothing of files, networks or the CLI: it minimises ``objective(image)["total"]``,
reports every evaluation through a callback, and stops early when its :class:`Cancel` is set
or on Ctrl-C, returning the best image so far (or the average of the iterates) either way.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

# L-BFGS memory: 20 pairs cost 2 × 20 image-sized vectors (≈ 380 MB at 1024 × 768 in
# float32), which keeps large images affordable; longer histories gave no visible gain.
LBFGS_HISTORY = 20


def history_pairs(optimizer: str, pyramid: int = 1, history: int = LBFGS_HISTORY) -> int:
    """Pairs of image-sized vectors ``optimizer`` keeps between steps, for the memory
    estimate: L-BFGS its ``history``; Adam its two moment estimates, the size of one pair;
    more by the share of the pixels a ``pyramid``'s coarser levels add (a third at most)."""
    pairs = history if optimizer == "lbfgs" else 1
    return math.ceil(pairs * sum(4.0**-k for k in range(pyramid)))


class Pyramid:
    """The image as a sum of levels: the pixels, plus ``levels`` − 1 coarser images of half,
    a quarter, … the size, each upsampled bilinearly to full size before the sum.

    The optimiser then moves the levels rather than the pixels. A change that spans 2^k
    pixels is one coefficient of level k, whose gradient sums theirs, so L-BFGS (whose
    first steps, and scale, are the gradient's) moves broad areas about as readily as
    single pixels, where on the pixels alone a single pixel's detail, which the losses
    barely see, is as free to grow as any other. The parametrisation is that of STROTSS
    (Kolkin et al., CVPR 2019) and of Mordvintsev et al.'s "Differentiable Image
    Parameterizations" (Distill, 2018). The start image goes into the finest level and the
    others start at zero, so the sum starts as the start image. With one level the pixels
    are the only parameter and :meth:`image` returns that tensor itself.
    """

    def __init__(self, start: torch.Tensor, levels: int = 1) -> None:
        if levels < 1:
            raise ValueError(f"a pyramid has at least one level, not {levels!r}")
        *lead, h, w = start.shape
        self.size = (h, w)
        # Contiguous whatever the start's layout (an AdaIN start comes out of a channels-last
        # decoder): L-BFGS reads each parameter's gradient as a flat view.
        self.levels = [
            start.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
        ]
        for k in range(1, levels):
            shape = (*lead, max(1, -(-h // 2**k)), max(1, -(-w // 2**k)))
            zeros = torch.zeros(shape, dtype=start.dtype, device=start.device)
            self.levels.append(zeros.requires_grad_(True))

    def image(self) -> torch.Tensor:
        """The sum of the levels at full size (differentiable in each level)."""
        x = self.levels[0]
        for level in self.levels[1:]:
            x = x + F.interpolate(level, size=self.size, mode="bilinear", align_corners=False)
        return x


Objective = Callable[[torch.Tensor], dict[str, torch.Tensor]]


class Cancel:
    """A request to stop a run, made from any thread (the studio's cancel button, a
    benchmark that has measured what it wanted). The optimiser looks at it after every
    evaluation and ends with the best image so far; ``reason`` says why it was set."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None
        self._listeners: list[Callable[[str], object]] = []

    def set(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()
        for listener in list(self._listeners):
            listener(reason)

    def when_set(self, listener: Callable[[str], object]) -> None:
        """Call ``listener(reason)`` when this is set (now, if it is already): how a run
        elsewhere (a Ray actor) hears of a cancel without anyone watching for it."""
        self._listeners.append(listener)
        if self.is_set():
            listener(self.reason or "cancelled")

    def is_set(self) -> bool:
        return self._event.is_set()


class _BudgetSpent(Exception):
    """Raised inside the L-BFGS step once ``iterations`` evaluations have been made."""


class _Stop(Exception):
    """Raised inside a step when the :class:`Cancel` is set."""


@dataclass(frozen=True)
class Span:
    """Where one optimiser run lies in a schedule: stage ``stage`` of ``stages``, at
    ``size`` (width, height), after ``offset`` evaluations of ``total`` in all."""

    stage: int = 0
    stages: int = 1
    size: tuple[int, int] = (0, 0)
    offset: int = 0
    total: int = 0


@dataclass
class Progress:
    """One report from the loop: after loss evaluation ``iteration`` of ``total`` (counted
    over the whole schedule), which is evaluation ``stage_iteration`` of ``stage_total`` in
    stage ``stage`` (0-based) of ``stages``, at ``stage_size`` (width, height).

    ``losses`` holds the weighted terms (``content``, ``style``, ``tv``) and ``total``;
    ``elapsed`` is the seconds since the schedule started; ``image()`` renders the current
    iterate to a PIL image only when a caller asks.
    """

    iteration: int
    total: int
    losses: dict[str, float]
    elapsed: float
    render: Callable[[], object] = field(repr=False)
    stage: int = 0
    stages: int = 1
    stage_size: tuple[int, int] = (0, 0)
    stage_iteration: int = 0
    stage_total: int = 0

    @property
    def eta(self) -> float:
        """Seconds left, extrapolated from the mean time per evaluation so far."""
        return self.elapsed / self.iteration * (self.total - self.iteration)

    def image(self):
        """The current image as a PIL image (costs a copy; call only when needed)."""
        return self.render()


class IterateAverage:
    """The exponential moving average of the iterates x_0, x_1, …, bias-corrected as Adam's
    first moment is (Kingma & Ba 2015, Algorithm 1: m_t = β m_{t−1} + (1 − β) x_t from
    m_0 = 0, returned as m_t / (1 − β^t)), so the first average is x_0 itself rather than
    a blend with the zero the sum starts from. Averaging Adam's iterates cancels the
    pixel-sized jitter of its last steps (Polyak & Juditsky 1992), as crowsonkb's
    style_transfer does with its ``avg_decay``."""

    def __init__(self, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie in (0, 1), not {decay!r}")
        self.decay = decay
        self._sum: torch.Tensor | None = None
        self._weight = 0.0  # 1 − β^t, the weight the sum has gathered so far

    def update(self, x: torch.Tensor) -> None:
        """Take iterate ``x`` into the average (a new tensor: earlier values stay valid)."""
        d = self.decay
        self._sum = (1 - d) * x if self._sum is None else d * self._sum + (1 - d) * x
        self._weight = d * self._weight + (1 - d)

    @property
    def value(self) -> torch.Tensor:
        """The bias-corrected average of the iterates so far."""
        if self._sum is None:
            raise ValueError("no iterate has been averaged yet")
        return self._sum / self._weight


@dataclass
class Outcome:
    """What the loop returns: the best image seen, its losses, how many evaluations it made
    and how long they took, and whether it was stopped before its budget was spent."""

    image: torch.Tensor
    losses: dict[str, float]
    iterations: int
    seconds: float
    stopped: bool = False


def optimize(
    image: torch.Tensor,
    objective: Objective,
    *,
    optimizer: str,
    iterations: int,
    learning_rate: float,
    lbfgs_restart: int = 0,
    history: int = LBFGS_HISTORY,
    average: float = 0.0,
    pyramid: int = 1,
    callback: Callable[[Progress], None] | None = None,
    render: Callable[[torch.Tensor], object] | None = None,
    span: Span | None = None,
    started: float | None = None,
    cancel: Cancel | None = None,
) -> Outcome:
    """Minimise the objective over the pixels of ``image`` (which is not modified).

    ``iterations`` counts loss evaluations, so L-BFGS and Adam runs of the same length cost
    the same. ``lbfgs_restart`` > 0 starts L-BFGS afresh (empty history) every that many
    evaluations, as the Keras example's rounds of ``fmin_l_bfgs_b`` do; it keeps ``history``
    curvature pairs. The best
    (lowest-loss) iterate is returned, or with ``average`` > 0 (Adam only) the
    :class:`IterateAverage` of the start and every step's iterate with that decay, which the
    reports render too; its losses then come from one more pass, without gradient.
    ``pyramid`` > 1 optimises the image as that many levels of a :class:`Pyramid`.
    ``cancel`` or Ctrl-C end the loop early with ``stopped`` set. Reports place each
    evaluation in ``span`` (one stage of a schedule) and count time from ``started``
    (``time.perf_counter()``; default: now).
    """
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"unknown optimizer {optimizer!r}")
    if average and optimizer != "adam":
        raise ValueError("only Adam's iterates are averaged")
    span = span or Span(size=(image.shape[-1], image.shape[-2]), total=iterations)
    levels = Pyramid(image, pyramid)
    params = levels.levels
    averaged = IterateAverage(average) if average else None
    best = Outcome(image.detach().clone(), {}, 0, 0.0)
    best_loss = float("inf")
    count = 0
    start = time.perf_counter()
    origin = start if started is None else started

    def evaluate() -> torch.Tensor:
        nonlocal count, best_loss
        if cancel is not None and cancel.is_set():
            raise _Stop
        if count >= iterations:
            # The line search may ask for more evaluations than the budget has left.
            raise _BudgetSpent
        for param in params:
            param.grad = None
        x = levels.image()
        terms = objective(x)
        terms["total"].backward()
        count += 1
        values = {name: t.detach().item() for name, t in terms.items()}
        if averaged is not None:
            averaged.update(x.detach())
            best.losses = values  # until the average's own are measured
        elif values["total"] < best_loss:
            best_loss, best.image, best.losses = values["total"], x.detach().clone(), values
        if callback is not None:
            snapshot = x.detach() if averaged is None else averaged.value
            callback(
                Progress(
                    iteration=span.offset + count,
                    total=span.total,
                    losses=values,
                    elapsed=time.perf_counter() - origin,
                    render=(lambda: render(snapshot.clone())) if render else (lambda: None),
                    stage=span.stage,
                    stages=span.stages,
                    stage_size=span.size,
                    stage_iteration=count,
                    stage_total=iterations,
                )
            )
        return terms["total"]

    stopped = False
    try:
        if optimizer == "lbfgs":
            _lbfgs(params, evaluate, iterations, lbfgs_restart, lambda: count, history)
        else:
            opt = torch.optim.Adam(params, lr=learning_rate)
            while count < iterations:
                opt.step(evaluate)
    except (_Stop, KeyboardInterrupt):
        stopped = True
    if averaged is not None and count:
        best.image = averaged.value if stopped else _settle(averaged, levels, objective, best)
    return Outcome(
        image=best.image,
        losses=best.losses,
        iterations=count,
        seconds=time.perf_counter() - start,
        stopped=stopped,
    )


def _settle(
    averaged: IterateAverage, levels: Pyramid, objective: Objective, outcome: Outcome
) -> torch.Tensor:
    """The average with Adam's last step taken in; its losses go into ``outcome``. (A
    stopped run skips this: it should end at once, with the last evaluation's losses.)"""
    with torch.no_grad():
        averaged.update(levels.image())
        image = averaged.value
        outcome.losses = {name: t.item() for name, t in objective(image).items()}
    return image


def _lbfgs(
    params: list[torch.Tensor],
    evaluate: Callable[[], torch.Tensor],
    iterations: int,
    restart: int,
    count: Callable[[], int],
    history: int = LBFGS_HISTORY,
) -> None:
    """L-BFGS rounds until ``iterations`` evaluations are spent (or it converges)."""
    # One step runs a whole L-BFGS round. With tolerances 0 a round ends early when the
    # gradient or the step vanishes (converged), or when its direction is no descent: with
    # --jitter every evaluation sees another offset, the history's curvature pairs disagree,
    # and that happens every few dozen evaluations. A round that moved is therefore followed
    # by a fresh one; one that could not move past its first evaluation has converged.
    while count() < iterations:
        budget = iterations - count()
        if restart:
            budget = min(budget, restart)
        opt = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=budget,
            max_eval=budget,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            history_size=history,
            # Without a line search a large loss (big β, flat start) makes the first steps
            # overshoot and the run stalls at its start; Gatys et al. used L-BFGS with a
            # line search too.
            line_search_fn="strong_wolfe",
        )
        before = count()
        try:
            opt.step(evaluate)
        except _BudgetSpent:
            return
        if count() - before <= 1:
            return
