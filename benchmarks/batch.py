"""Batch throughput, measured side by side in one run: the items as single ``painterly``
runs (a process each, as a shell loop would), as one local ``painterly batch``, and, with
``--ray``, as a batch on a Ray cluster this script starts on this machine (one worker with
every core, then a worker per core).

The items are the bundled examples (examples/SOURCES.md): up to 3 photographs × 4
paintings, 12 by default. Every measurement is a separate process, timed from its start to
its exit (so loading torch and the weights counts, as it does for a user). One JSON line
per record is appended to ``OUT/batch.jsonl`` as soon as it is measured::

    python benchmarks/batch.py --out out/batch --ray
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import machine

ROOT = Path(__file__).resolve().parent.parent
CONTENTS = ("tubingen.jpg", "rocket.jpg", "shipwreck.jpg")
STYLES = ("starry_night.jpg", "the_scream.jpg", "wave.jpg", "composition_vii.jpg")


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def _painterly() -> list[str]:
    return [sys.executable, "-m", "painterly"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--contents", type=int, default=3, help="how many photographs (1-3)")
    parser.add_argument("--styles", type=int, default=4, help="how many paintings (1-4)")
    parser.add_argument("--method", default="adain")
    parser.add_argument("--size", default="256")
    parser.add_argument("--option", action="append", default=[], metavar="FLAG=VALUE",
                        help="another option for every item, e.g. iterations=50")  # fmt: skip
    parser.add_argument("--ray", action="store_true", help="also measure on a local Ray cluster")
    args = parser.parse_args(argv)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    records = out / "batch.jsonl"

    def record(kind: str, **values: object) -> dict:
        row = {"kind": kind, **values}
        with open(records, "a") as file:
            file.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        return row

    inputs = out / "inputs"
    for folder, names in (
        ("contents", CONTENTS[: args.contents]),
        ("styles", STYLES[: args.styles]),
    ):
        (inputs / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(ROOT / "examples" / name, inputs / folder / name)
    flags = ["--method", args.method, "--size", args.size]
    for option in args.option:
        name, _, value = option.partition("=")
        flags += [f"--{name.replace('_', '-')}", value]
    items = args.contents * args.styles
    record("machine", **machine(), items=items, flags=flags)

    singles = out / "single"
    shutil.rmtree(singles, ignore_errors=True)
    singles.mkdir()
    seconds = []
    for content in CONTENTS[: args.contents]:
        for style in STYLES[: args.styles]:
            target = singles / f"{Path(content).stem}--{Path(style).stem}.png"
            seconds.append(_timed([*_painterly(), str(inputs / "contents" / content),
                                   str(inputs / "styles" / style), "-o", str(target), "-q",
                                   *flags]))  # fmt: skip
    single = record(
        "single", seconds=round(sum(seconds), 2), per_item=round(sum(seconds) / items, 3)
    )

    def batch(name: str, *extra: str, env: dict[str, str] | None = None) -> dict:
        target = out / name
        shutil.rmtree(target, ignore_errors=True)
        wall = _timed([*_painterly(), "batch", "--contents", str(inputs / "contents"),
                       "--styles", str(inputs / "styles"), "-o", str(target), "-q", *flags,
                       *extra], env)  # fmt: skip
        logged = [json.loads(line) for line in (target / "painterly-batch.jsonl").open()]
        assert len(logged) == items and all(row["status"] == "done" for row in logged)
        worker_seconds = sum(row["seconds"] for row in logged)
        return record(name, seconds=round(wall, 2), per_item=round(wall / items, 3),
                      throughput_vs_single=round(single["seconds"] / wall, 3),
                      worker_seconds_per_item=round(worker_seconds / items, 3),
                      workers=sorted({row["worker"] for row in logged}))  # fmt: skip

    local = batch("local")
    if args.ray:
        from benchmarks.local_ray import LocalCluster

        cluster = LocalCluster([os.cpu_count() or 1], str(ROOT / "src"))
        with cluster as address:
            one = batch("ray-1-worker", "--ray", address, "--workers", "1",
                        "--cpus-per-worker", str(os.cpu_count()), env=cluster.env)  # fmt: skip
            record("ray-overhead", per_item=round((one["seconds"] - local["seconds"]) / items, 3))
            batch("ray-per-core", "--ray", address, "--cpus-per-worker", "1", env=cluster.env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
