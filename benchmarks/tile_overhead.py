"""What tiling costs where the image also fits whole: the median seconds per evaluation of
the same 1024-px gatys stage (Tübingen × The Starry Night, 8 L-BFGS evaluations from the
content, one stage) untiled and in tiles, each timed from ``painterly.api.run``'s progress
reports in this one process::

    python benchmarks/tile_overhead.py off 768 512            # --precision auto (bf16 here)
    python benchmarks/tile_overhead.py --precision fp32 off 768

Each tiled run is timed twice: as the plan makes it, the tiles keeping their first pass's
graph as far as the memory that is free allows (at this size: every tile), and with one
tile kept, the least memory (as where a stage must be tiled and nothing is to spare).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tiles", nargs="+", help="--tile values: off, or tile sides in px")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--size", default="1024")
    args = parser.parse_args(argv)

    from painterly.api import run
    from painterly.config.options import Options
    from painterly.engine.plan import tiled_need
    from painterly.io.images import load_image
    from painterly.methods import plan_of

    warnings.simplefilter("ignore")  # the tiling notes
    content = load_image(ROOT / "examples/tubingen.jpg")
    style = load_image(ROOT / "examples/starry_night.jpg")
    for tile in args.tiles:
        values = {"size": args.size, "iterations": 8, "scales": "none", "tile": tile,
                  "precision": args.precision}  # fmt: skip
        budgets: dict[str, object] = {"planned": "auto"}
        if tile != "off":  # a budget of the stage's own need: one tile kept
            plan = plan_of(content, [style], Options.build(**values))
            budgets["one"] = tiled_need(plan, plan.stages[-1], plan.stages[-1].tile or 0)
        for kept, budget in budgets.items():
            options = Options.build(**values, max_memory=budget)
            stamps: list[float] = []
            run(content, [style], options, lambda p, seen=stamps: seen.append(time.perf_counter()))
            gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
            how = "" if tile == "off" else f", kept {kept}"
            median = statistics.median(gaps)
            print(f"--tile {tile}{how}: median {median:.3f} s per evaluation", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
