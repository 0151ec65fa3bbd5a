"""One run of painterly's schedule with the last stage's options changed, measured as
benchmarks/artefacts.py measures a setting: the remedies of docs/quality.md's second round
that are not options (Adam in the last stage only, a noisy content start).

    PYTHONPATH=src python benchmarks/last_stage.py NAME CONTENT STYLE [--size 256]
        [--base JSON] [--last JSON] [--noise AMPLITUDE] [--out out/last_stage]

``--base`` are option values for every stage (over the defaults), ``--last`` values that
replace them in the last stage only (e.g. ``{"optimizer": "adam", "learning_rate": 0.01,
"average": 0.99}``); ``--noise`` adds uniform noise of that amplitude to the first stage's
start. One JSON line (artefacts of the output and of the painting, paper loss, seconds) is
appended to ``OUT/last_stage.jsonl`` and the image saved beside it. One torch thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.artefacts import paper_loss  # noqa: E402
from benchmarks.run import machine  # noqa: E402
from painterly.config.options import Options  # noqa: E402
from painterly.controls.inputs import prepare_inputs  # noqa: E402
from painterly.engine.optimize import optimize  # noqa: E402
from painterly.engine.plan import resolve  # noqa: E402
from painterly.io.images import load_image, resize_long_side, to_image  # noqa: E402
from painterly.methods import gatys  # noqa: E402
from painterly.report import artefacts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name")
    parser.add_argument("content", type=Path)
    parser.add_argument("style", type=Path)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--base", type=json.loads, default={})
    parser.add_argument("--last", type=json.loads, default={})
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "last_stage")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    content, style = load_image(args.content), load_image(args.style)
    options = Options.build(size=args.size, **args.base)
    inputs = prepare_inputs(content, [style], options)
    plan = resolve(options, inputs, gatys.network(options))
    session = gatys.session(plan, inputs)
    started, image = time.perf_counter(), None
    for index, stage in enumerate(plan.stages):
        last = index == len(plan.stages) - 1
        these = dataclasses.replace(options, **args.last) if last else options
        objective = session.objective(stage, these)
        start = session.start(stage, these, image)
        if index == 0 and args.noise:
            noise = torch.rand(start.shape, generator=torch.Generator().manual_seed(0))
            start = (start + args.noise * (noise - 0.5)).clamp(0, 1)
        outcome = optimize(
            start, objective, optimizer=these.optimizer, iterations=stage.iterations,
            learning_rate=these.learning_rate, average=these.average, pyramid=these.pyramid,
        )  # fmt: skip
        image = objective.compose(outcome.image)
    seconds = time.perf_counter() - started
    output = inputs.finish(to_image(image))
    key = f"{args.name.replace(' ', '-')}--{args.content.stem}--{args.style.stem}"
    args.out.mkdir(parents=True, exist_ok=True)
    output.save(args.out / f"{key}.png")
    record = {
        "name": args.name, "pair": f"{args.content.stem}--{args.style.stem}",
        "size": args.size, "base": args.base, "last": args.last, "noise": args.noise,
        "seconds": round(seconds, 1),
        "stages": [(stage.size, stage.iterations) for stage in plan.stages],
        "output": artefacts.summary(output, content),
        "painting": artefacts.summary(resize_long_side(style, args.size)),
        "paper_loss": paper_loss(output, content, style)["total"], "machine": machine(),
    }  # fmt: skip
    with open(args.out / "last_stage.jsonl", "a") as log:
        log.write(json.dumps(record, default=str) + "\n")
    print(json.dumps(record, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
