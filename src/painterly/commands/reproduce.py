"""``painterly reproduce``: the paper's figures and the study's experiments as sheets."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from painterly.commands import EXIT_INTERRUPTED, say_stopped
from painterly.commands.common import Parser, format_seconds
from painterly.errors import Interrupted, PainterlyError, printable
from painterly.io.files import check_output_folder, same_file
from painterly.methods import Result
from painterly.report.reproduce import (
    DEFAULT_EXAMPLES,
    PREVIEW_STAGES,
    SHEETS,
    reproduce,
    select_sheets,
)
from painterly.report.sheets import Cell, Sheet


def command(argv: Sequence[str]) -> int:
    """``painterly reproduce``: parse the flags, run the sheets, report on stderr."""

    preview = ", ".join(f"{size} px × {n} iterations" for size, n in PREVIEW_STAGES)
    parser = Parser(
        prog="painterly reproduce",
        description="Regenerate the paper's Figures 3 and 4 and the study's experiments "
        "(content layer, initialisation, photo-to-photo) as labelled contact sheets (PNG, "
        "plus a JPEG copy) with every setting and final loss in reproduce.json.",
    )
    parser.add_argument(
        "--preview", action="store_true", help=f"every cell at {preview}: a quick check"
    )
    parser.add_argument(
        "--only",
        metavar="SHEETS",
        help=f"comma-separated sheets to make: {','.join(SHEETS)} (default: all)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="folder for the sheets (default: out/reproduce, or out/reproduce-preview)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="write into a folder that already holds files"
    )
    parser.add_argument(
        "--examples",
        metavar="DIR",
        help="folder of the input images (default: the project's examples/)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        metavar="auto|cpu|cuda|mps",
        help="where to compute (default: auto)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only the paths of the sheets"
    )
    args = parser.parse_args(argv)
    sheets = select_sheets(args.only)
    default_out = "out/reproduce-preview" if args.preview else "out/reproduce"
    out_dir = Path(args.output or default_out)
    examples = Path(args.examples) if args.examples else DEFAULT_EXAMPLES
    _check_output(out_dir, examples)
    log = (lambda *a, **k: None) if args.quiet else functools.partial(print, file=sys.stderr)
    started: list[float] = []
    done: list[tuple[Sheet, dict]] = []

    def on_cell(sheet: Sheet, index: int, cell: Cell, result: Result | None) -> None:
        if result is None:
            started[:] = [time.monotonic()]
            head = f"{sheet.name} {index + 1}/{len(sheet.cells)} {Path(cell.style).stem}"
            log(f"{head} {cell.label} …", end="", flush=True)
        else:
            seconds = time.monotonic() - started[0]
            log(f" {seconds:.1f} s" if seconds < 10 else f" {seconds:.0f} s")

    def on_sheet(sheet: Sheet, record: dict) -> None:
        done.append((sheet, record))
        log(f"{sheet.name}: {len(sheet.cells)} cells in {format_seconds(record['seconds'])}")

    try:
        reproduce(
            sheets,
            out_dir,
            examples=examples,
            preview=args.preview,
            device=args.device,
            overwrite=args.overwrite,
            on_cell=on_cell,
            on_sheet=on_sheet,
        )
    except (Interrupted, KeyboardInterrupt):
        names = ", ".join(sheet.name for sheet, _ in done) or "none"
        say_stopped(f"interrupted; sheets completed: {names} (in {out_dir})")
        return EXIT_INTERRUPTED
    log("wall time: " + ", ".join(f"{s.name} {r['seconds']:.1f} s" for s, r in done))
    for _, record in done:
        print(printable(out_dir.resolve() / record["png"]))
    print(printable(out_dir.resolve() / "reproduce.json"))
    return 0


def _check_output(out_dir: Path, examples: Path) -> None:
    """Before the first run: the folder can be made and written, and it is not the folder of
    the input images (which ``--overwrite`` would otherwise let the sheets be written into)."""
    check_output_folder(out_dir)
    if same_file(out_dir, examples):
        raise PainterlyError(
            f"the output folder '{printable(out_dir)}' is the examples folder, which holds the "
            "input images; choose another folder"
        )
