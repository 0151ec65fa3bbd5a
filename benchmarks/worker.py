"""One painterly run in its own process, for the harness to time and measure.

``python benchmarks/worker.py '{"content": …, "style": …, "options": {…}, "stop_below": …}'``
runs :func:`painterly.api.run` with ``Options.build(**options)`` and prints, after every
loss evaluation, ``EVAL <stage> <is-final-stage> <total loss>``, and at the end
``RESULT <json>``. With ``stop_below`` it stops as soon as a final-stage evaluation has a
total loss at or below that value: the harness only wants the time until then.
"""

from __future__ import annotations

import json
import sys
import time

from painterly.api import run
from painterly.config.options import Options
from painterly.engine.optimize import Cancel, Progress
from painterly.errors import Interrupted


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    options = Options.build(**spec["options"])
    stop_below = spec.get("stop_below")
    reached = Cancel()

    def report(progress: Progress) -> None:
        final = progress.stage == progress.stages - 1
        loss = progress.losses["total"]
        print(f"EVAL {progress.stage} {int(final)} {loss!r}", flush=True)
        if stop_below is not None and final and loss <= stop_below:
            reached.set("target reached")

    start = time.perf_counter()
    try:
        result = run(spec["content"], spec["style"], options, callback=report, cancel=reached)
        summary = {
            "reached": False,
            "losses": result.losses,
            "iterations": result.iterations,
            "seconds": result.seconds,
        }
    except Interrupted:
        if not reached.is_set():
            raise
        summary = {"reached": True, "seconds": time.perf_counter() - start}
    print("RESULT " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
