"""The speckle and grid remedies, measured side by side in one process on one pair.

Every variant runs at the same size from the same start with fp32 on one thread; each
result is then scored by the *paper's* objective (zeros padding, no jitter), so the totals
compare one picture with another rather than each run's own loss, which differs with the
padding and, with jitter, is a random offset's. The time per evaluation of each run is
given as a ratio to the first run's, measured in the same process.

Usage: PYTHONPATH=src python -m benchmarks.remedies [CONTENT STYLE] [--size 128]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from painterly.config.options import Options
from painterly.controls.inputs import prepare_inputs
from painterly.engine.objective import Objective
from painterly.engine.optimize import Progress, optimize
from painterly.engine.plan import StagePlan, resolve
from painterly.engine.session import Session
from painterly.io.images import load_image
from painterly.methods import gatys
from painterly.models import load_encoder

IMAGES = Path("/work/shared/images")
VARIANTS: list[tuple[str, dict[str, object], int]] = [
    ("L-BFGS zeros", {}, 150),
    ("L-BFGS replicate", {"padding": "replicate"}, 150),
    ("L-BFGS reflect", {"padding": "reflect"}, 150),
    ("Adam", {"optimizer": "adam"}, 300),
    ("Adam average 0.99", {"optimizer": "adam", "average": 0.99}, 300),
    ("L-BFGS jitter 4", {"jitter": 4}, 150),
    ("L-BFGS jitter 8", {"jitter": 8}, 100),
    ("Adam jitter 4", {"optimizer": "adam", "jitter": 4}, 100),
    ("Adam jitter 8", {"optimizer": "adam", "jitter": 8}, 100),
    ("L-BFGS replicate1", {"padding": "replicate1"}, 150),
]
"""Most wanted first: each row is printed as soon as it is measured."""
CHECKPOINT = 100
"""The evaluation at which the iterate is also scored, to see whether a run converges."""


@dataclass
class Row:
    name: str
    at_checkpoint: float
    final: float
    own: float
    seconds_per_evaluation: float
    evaluations: int


def run_variant(
    content: Image.Image,
    style: Image.Image,
    size: int,
    name: str,
    values: dict[str, object],
    iterations: int,
) -> Row:
    options = Options.build(
        size=size, iterations=iterations, precision="fp32", device="cpu", **values
    )
    inputs = prepare_inputs(content, [style], options)
    plan = resolve(options, inputs, gatys.network(options))
    session = Session(plan, inputs)
    stage = plan.stages[0]
    paper = paper_objective(session, plan.options, stage)
    seen: dict[int, float] = {}

    def callback(progress: Progress) -> None:
        if progress.iteration == CHECKPOINT:
            seen[CHECKPOINT] = score(paper, progress.image())

    outcome = optimize(
        session.start(stage, plan.options),
        session.objective(stage, plan.options),
        optimizer=options.optimizer,
        iterations=iterations,
        learning_rate=options.learning_rate,
        average=options.average,
        callback=callback,
        render=lambda x: x,
    )
    return Row(
        name,
        seen.get(CHECKPOINT, float("nan")),
        score(paper, outcome.image),
        outcome.losses["total"],
        outcome.seconds / outcome.iterations,
        outcome.iterations,
    )


def paper_objective(session: Session, options: Options, stage: StagePlan) -> Objective:
    """The paper's objective (zeros padding, no jitter) with its own targets."""
    plan = session.plan
    zeros = load_encoder(options.weights, options.pooling, "zeros", plan.last_layer, plan.device)
    paper = options.replace(padding="zeros", jitter=0, average=0.0, optimizer="lbfgs")
    return Session(plan, session.inputs, encoder=zeros).objective(stage, paper)


def score(objective: Objective, image: torch.Tensor) -> float:
    with torch.no_grad():
        return objective(image)["total"].item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content", nargs="?", default=IMAGES / "content/tubingen.jpg")
    parser.add_argument("style", nargs="?", default=IMAGES / "style/starry_night.jpg")
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    content, style = load_image(args.content, "content"), load_image(args.style, "style")
    print(f"{args.size} px, fp32, 1 thread; totals by the paper's objective (zeros, no jitter)")
    print(
        f"{'variant':20} {'@100':>10} {'final':>10} {'own loss':>10} {'s/eval':>8} "
        f"{'ratio':>6} {'evals':>6}"
    )
    base = None
    for variant in VARIANTS:
        r = run_variant(content, style, args.size, *variant)
        base = base or r.seconds_per_evaluation
        print(
            f"{r.name:20} {r.at_checkpoint:10.4g} {r.final:10.4g} {r.own:10.4g} "
            f"{r.seconds_per_evaluation:8.4f} {r.seconds_per_evaluation / base:6.2f} "
            f"{r.evaluations:6d}",
            flush=True,
        )


if __name__ == "__main__":
    main()
