"""The image-optimisation loop: L-BFGS or Adam over the pixels of one image.

It knows nothing of files, networks or the CLI: it minimises ``objective(image)["total"]``
and reports every evaluation through a callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from painterly.errors import Interrupted

# L-BFGS memory: 20 pairs cost 2 × 20 image-sized vectors (≈ 160 MB at 1024 px), which
# keeps large images affordable; longer histories gave no visible gain in our runs.
LBFGS_HISTORY = 20


def history_pairs(optimizer: str) -> int:
    """Pairs of image-sized vectors ``optimizer`` keeps between steps, for the memory
    estimate: L-BFGS its history; Adam its two moment estimates, the size of one pair."""
    return LBFGS_HISTORY if optimizer == "lbfgs" else 1


Objective = Callable[[torch.Tensor], dict[str, torch.Tensor]]


class _BudgetSpent(Exception):
    """Raised inside the L-BFGS step once ``iterations`` evaluations have been made."""


@dataclass
class Progress:
    """One report from the loop: after loss evaluation ``iteration`` of ``total``.

    ``losses`` holds the weighted terms (``content``, ``style``, ``tv``) and ``total``;
    ``image()`` renders the current iterate to a PIL image only when a caller asks.
    """

    iteration: int
    total: int
    losses: dict[str, float]
    elapsed: float
    render: Callable[[], object] = field(repr=False)

    @property
    def eta(self) -> float:
        """Seconds left, extrapolated from the mean time per evaluation so far."""
        return self.elapsed / self.iteration * (self.total - self.iteration)

    def image(self):
        """The current image as a PIL image (costs a copy; call only when needed)."""
        return self.render()


@dataclass
class Outcome:
    """What the loop returns: the best image seen, its losses, and how long it took."""

    image: torch.Tensor
    losses: dict[str, float]
    iterations: int
    seconds: float


def optimize(
    image: torch.Tensor,
    objective: Objective,
    *,
    optimizer: str = "lbfgs",
    iterations: int = 500,
    learning_rate: float = 0.02,
    lbfgs_restart: int = 0,
    callback: Callable[[Progress], None] | None = None,
    render: Callable[[torch.Tensor], object] | None = None,
    offset: int = 0,
    grand_total: int | None = None,
) -> Outcome:
    """Minimise the objective over the pixels of ``image`` (which is not modified).

    ``iterations`` counts loss evaluations, so L-BFGS and Adam runs of the same length cost
    the same. ``lbfgs_restart`` > 0 starts L-BFGS afresh (empty history) every that many
    evaluations, as the Keras example's rounds of ``fmin_l_bfgs_b`` do. The best
    (lowest-loss) iterate is returned; on Ctrl-C, :class:`Interrupted` carries it instead.
    Reports count from ``offset`` up to ``grand_total`` when this is one stage of several.
    """
    x = image.detach().clone().requires_grad_(True)
    best = {"loss": float("inf"), "image": x.detach().clone(), "losses": {}}
    count = 0
    start = time.perf_counter()

    def evaluate() -> torch.Tensor:
        nonlocal count
        if count >= iterations:
            # The line search may ask for more evaluations than the budget has left.
            raise _BudgetSpent
        x.grad = None
        terms = objective(x)
        terms["total"].backward()
        count += 1
        values = {name: t.detach().item() for name, t in terms.items()}
        if values["total"] < best["loss"]:
            best.update(loss=values["total"], image=x.detach().clone(), losses=values)
        if callback is not None:
            snapshot = x.detach()
            callback(
                Progress(
                    iteration=offset + count,
                    total=grand_total or iterations,
                    losses=values,
                    elapsed=time.perf_counter() - start,
                    render=(lambda: render(snapshot.clone())) if render else (lambda: None),
                )
            )
        return terms["total"]

    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"unknown optimizer {optimizer!r}")
    try:
        if optimizer == "lbfgs":
            # One step runs a whole L-BFGS round; a round ends early only when the gradient
            # or the step vanishes (tolerances are 0), which means it has converged.
            while count < iterations:
                budget = iterations - count
                if lbfgs_restart:
                    budget = min(budget, lbfgs_restart)
                opt = torch.optim.LBFGS(
                    [x],
                    lr=1.0,
                    max_iter=budget,
                    max_eval=budget,
                    tolerance_grad=0.0,
                    tolerance_change=0.0,
                    history_size=LBFGS_HISTORY,
                    # Without a line search a large loss (big β, flat start) makes the first
                    # steps overshoot and the run stalls at its start; Gatys et al. used
                    # L-BFGS with a line search too.
                    line_search_fn="strong_wolfe",
                )
                before = count
                try:
                    opt.step(evaluate)
                except _BudgetSpent:
                    break
                if count - before < budget:
                    break
        else:
            opt = torch.optim.Adam([x], lr=learning_rate)
            while count < iterations:
                opt.step(evaluate)
    except KeyboardInterrupt:
        raise Interrupted(best["image"], count) from None
    return Outcome(
        image=best["image"],
        losses=best["losses"],
        iterations=count,
        seconds=time.perf_counter() - start,
    )
