"""``painterly batch (--contents … --styles … | --manifest FILE.csv) -o OUTDIR [options]``:
many stylisations, on this machine or on a Ray cluster (``--ray``)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from painterly.commands import EXIT_INTERRUPTED, EXIT_TERMINATED, say_stopped
from painterly.commands.common import Parser, add_option_flags, format_seconds
from painterly.errors import PainterlyError, printable

EXIT_FAILED = 1
"""The batch ran to its end but some items failed (their errors are in the results log)."""


def parser() -> argparse.ArgumentParser:
    from painterly.batch.log import LOG_NAME

    parser = Parser(
        prog="painterly batch",
        description="Stylise every content image with every style image (or a manifest's rows) "
        f"into OUTDIR, as <content>--<style>.png, logging each item in OUTDIR/{LOG_NAME}. A "
        "rerun skips the items already finished and redoes the rest. Locally by default (a "
        "worker per device); on a Ray cluster with --ray.",
        argument_default=argparse.SUPPRESS,
    )
    inputs = parser.add_argument_group("what to paint")
    inputs.add_argument("--contents", metavar="DIR|GLOB", help="the photographs to paint")
    inputs.add_argument("--styles", metavar="DIR|GLOB", help="the paintings whose styles to use")
    inputs.add_argument(
        "--manifest",
        metavar="FILE.csv",
        help="a CSV with a header: content, style (several separated by ;), optional output, "
        "and option columns (e.g. size, method, style_weight) over the flags given here; "
        "relative paths from the manifest's folder (see docs/batch.md)",
    )
    parser.add_argument("-o", "--out-dir", required=True, help="the folder for the outputs")
    parser.add_argument(
        "--format", default="png", metavar="png|jpg|tif|webp", help="the outputs' format "
        "where a manifest does not name the file (default: png)",
    )  # fmt: skip
    parser.add_argument(
        "--overwrite", action="store_true", default=False,
        help="replace outputs that exist but are not this batch's finished results (default: "
        "such an item fails)",
    )  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", default=False,
                        help="no progress display; print only the summary")  # fmt: skip
    where = parser.add_argument_group("where it runs")
    where.add_argument(
        "--ray", nargs="?", const="", metavar="ADDRESS",
        help="run on the Ray cluster at ADDRESS (host:port, or auto for the one this machine "
        "belongs to; --ray alone: $RAY_ADDRESS, else auto); needs pip install 'painterly[ray]'",
    )  # fmt: skip
    where.add_argument(
        "--workers", metavar="N", help="at most N workers (default: one per device locally, "
        "one per slot of the cluster with --ray)",
    )  # fmt: skip
    where.add_argument(
        "--cpus-per-worker", dest="cpus_per_worker", metavar="N",
        help="CPU threads of each CPU worker (default: every core locally; 1 on Ray, a worker "
        "per CPU the cluster advertises)",
    )  # fmt: skip
    where.add_argument(
        "--retries", metavar="N", help="times an item whose worker crashed or died is tried "
        "again before it is marked failed (default: 2)",
    )  # fmt: skip
    add_option_flags(parser)
    return parser


def _count(value: str | None, flag: str, least: int) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = least - 1
    if number < least:
        raise PainterlyError(f"{flag} must be a whole number, at least {least}, not {value!r}")
    return number


def command(argv: Sequence[str]) -> int:
    from painterly.batch.items import image_files, manifest_items, pair_items
    from painterly.batch.run import RETRIES, run_batch
    from painterly.io.images import OUTPUT_FORMATS

    cli = parser()
    args = vars(cli.parse_args(argv))
    out_dir = Path(args.pop("out_dir"))
    overwrite, quiet = args.pop("overwrite"), args.pop("quiet")
    suffix = "." + args.pop("format").lower().lstrip(".")
    if suffix not in OUTPUT_FORMATS:
        raise PainterlyError(
            f"--format {suffix[1:]!r} is not an output format; use one of "
            f"{', '.join(s[1:] for s in sorted(OUTPUT_FORMATS))}"
        )
    address = args.pop("ray", None)
    workers = _count(args.pop("workers", None), "--workers", 1)
    cpus = _count(args.pop("cpus_per_worker", None), "--cpus-per-worker", 1)
    retries = _count(args.pop("retries", None), "--retries", 0)
    contents, styles, manifest = (args.pop(k, None) for k in ("contents", "styles", "manifest"))
    if manifest is not None and (contents or styles):
        raise PainterlyError("give either --manifest or --contents with --styles, not both")
    if manifest is None and not (contents and styles):
        raise PainterlyError(
            "give --contents and --styles (folders or globs), or --manifest FILE.csv"
        )

    if manifest is not None:
        items = manifest_items(manifest, args, suffix)
    else:
        found = image_files(contents, "contents"), image_files(styles, "styles")
        items = pair_items(*found, args, suffix)

    def pool():  # made only once some item needs running
        if address is not None:
            from painterly.batch.ray_pool import RayPool

            return RayPool(address or os.environ.get("RAY_ADDRESS") or "auto", workers, cpus or 1)
        from painterly.batch.pools import LocalPool, local_devices

        devices = local_devices()
        if workers is not None:  # more workers than devices: the rest on the CPU
            devices = (devices + ["cpu"] * workers)[:workers]
        on_cpu = devices.count("cpu")
        threads = cpus or (max(1, (os.cpu_count() or 1) // on_cpu) if on_cpu > 1 else None)
        return LocalPool(devices, threads)

    display = None if quiet else BatchDisplay(sys.stderr)
    summary = run_batch(
        items,
        out_dir,
        pool,
        overwrite=overwrite,
        retries=RETRIES if retries is None else retries,
        on_step=display,
    )
    if display is not None:
        display.finish()
    counts = (
        f"{summary.done} done, {summary.skipped} already finished, {summary.failed} failed of "
        f"{summary.total}; results in {printable(summary.log)}"
    )
    if summary.stopped:
        say_stopped(f"{summary.stopped}: {counts}; run the same command again to resume")
        return EXIT_INTERRUPTED if summary.stopped == "interrupted" else EXIT_TERMINATED
    print(counts)
    if summary.failed:
        for failure in summary.failures:
            print(f"painterly: failed: {printable(failure)}", file=sys.stderr)
        return EXIT_FAILED
    return 0


class BatchDisplay:
    """The batch's progress: on a terminal a bar for the batch (items ended, ETA) over the
    current item's line, both rewritten; elsewhere one line per item that ends."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.current = ""
        self.drawn = False
        self.ran = 0  # items that ran here (not skipped) and ended
        self.last = 0.0

    def __call__(self, step) -> None:
        from painterly.commands.common import BAR

        name = printable(step.item.output)
        if step.kind in ("done", "failed"):
            self.ran += 1
        if step.kind == "progress" and step.progress:
            p = step.progress
            self.current = f"{name}: {p['iteration']}/{p['total']} on {step.worker}"
        elif step.kind == "started":
            self.current = f"{name}: started on {step.worker}"
        elif step.kind == "retry":
            self.current = f"{name}: retrying ({step.row['error']})"
        ended = step.ended
        if not self.interactive:
            if step.kind in ("done", "failed", "retry"):
                detail = _detail(step)
                self.stream.write(f"[{ended}/{step.total}] {step.kind} {name}{detail}\n")
                self.stream.flush()
            return
        now = time.monotonic()
        if step.kind == "progress" and now - self.last < 0.2:
            return  # at most five redraws a second for progress
        self.last = now
        eta = ""
        left = step.total - ended
        if self.ran and left:
            eta = f" ETA {format_seconds(step.elapsed / self.ran * left)}"
        filled = BAR * ended // max(step.total, 1)
        bar = f"[{'#' * filled}{'.' * (BAR - filled)}] {ended}/{step.total} items{eta}"
        up = "\x1b[1A\r" if self.drawn else ""
        self.stream.write(f"{up}\x1b[2K{bar}\n\x1b[2K{self.current[:200]}")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.interactive and self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _detail(step) -> str:
    row = step.row or {}
    if step.kind == "failed":
        return f": {row.get('error')}"
    if step.kind == "retry":
        return f" after: {row.get('error')}"
    return f" in {row.get('seconds', 0):.1f} s on {row.get('worker', '?')}"
