"""``painterly CONTENT STYLE -o OUT [options]``: stylise one image."""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Sequence
from pathlib import Path

from painterly import __version__
from painterly.commands import EXIT_INTERRUPTED, say_stopped
from painterly.commands.common import (
    Parser,
    add_image_arguments,
    add_option_flags,
    add_output_flags,
    image_paths,
    load_inputs,
    progress_printer,
    save_finished,
)
from painterly.config.options import Options, input_files
from painterly.engine.optimize import Progress
from painterly.errors import Interrupted, PainterlyError, printable
from painterly.io.files import Inputs, check_target, sibling_path


def parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="painterly",
        description="Paint a photograph in the style of another image (Gatys et al. 2016; "
        "--method adain or wct: one network pass, Huang & Belongie 2017, Li et al. 2017).",
        epilog="other commands: painterly weights {list,fetch,normalize}, painterly reproduce, "
        "painterly sweep, painterly leak, painterly train artflow, painterly video, painterly "
        "batch, painterly serve (see painterly COMMAND --help)",
        argument_default=argparse.SUPPRESS,
    )
    add_image_arguments(parser)
    add_output_flags(
        parser,
        output="where to write the result (.png, .jpg, .tif, .webp or .bmp; .png or .tif for "
        "--bit-depth 16); required unless --estimate",
        overwrite="replace OUTPUT if it exists (default: refuse)",
        quiet="no progress display; print only the output path",
        required=False,
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="also write the image every N iterations as OUTPUT-stem.iterNNNN.ext "
        "(default: 0, never)",
    )
    parser.add_argument(
        "--estimate",
        action="store_true",
        default=False,
        help="print what the run would cost (peak memory and time per stage, from one "
        "evaluation timed here at a small size) and stop without writing anything; -o is "
        "then optional",
    )
    parser.add_argument("--version", action="version", version=f"painterly {__version__}")
    add_option_flags(parser)
    return parser


def _interrupted_path(out: Path, overwrite: bool, inputs: Inputs) -> Path:
    """Where an interrupted run's best image goes: ``OUT-stem.interrupted.ext`` if it may be
    written, else the first numbered variant that may (never an input, a link or a folder)."""
    first = sibling_path(out, "interrupted")
    for n in range(1, 1000):
        candidate = first if n == 1 else first.with_name(f"{first.stem}-{n}{first.suffix}")
        try:
            return check_target(candidate, overwrite, inputs)
        except PainterlyError:
            continue
    return check_target(first, overwrite, inputs)  # none is free: say why the first is not


def _check_iteration_files(out: Path, overwrite: bool, inputs: Inputs) -> None:
    """The ``--save-every`` images ``OUT-stem.iterNNNN.ext`` that exist already: refused
    without ``overwrite``, and always when one is an input, a link or a folder."""
    pattern = f"{glob.escape(out.stem)}.iter*{glob.escape(out.suffix)}"
    for existing in sorted(out.parent.glob(pattern)):
        if not overwrite:
            raise PainterlyError(
                f"{printable(existing)} already exists; pass --overwrite to replace it"
            )
        check_target(existing, overwrite, inputs)


def _estimate(content_path: str, style_paths: Sequence[str], options: Options, quiet: bool) -> int:
    """``--estimate``: the cost of each stage and of the run, on stdout."""
    from painterly.methods import cost_of, plan_of

    content, styles = load_inputs(content_path, style_paths)
    cost = cost_of(plan_of(content, styles, options))
    print(cost.summary() if quiet else cost.table())
    return 0


def command(argv: Sequence[str]) -> int:
    from painterly.api import run
    from painterly.io.images import check_output_path, save_image

    cli = parser()
    args = vars(cli.parse_args(argv))
    estimate = args.pop("estimate")
    out = args.pop("output", None)
    if out is None and not estimate:
        cli.error("the following arguments are required: -o/--output")
    overwrite = args.pop("overwrite")
    save_every = args.pop("save_every")
    quiet = args.pop("quiet")
    content_path, style_paths = image_paths(args)
    if save_every < 0:
        raise PainterlyError(f"--save-every must be 0 or more, not {save_every}")

    options = Options.build(**args)
    inputs = input_files(content_path, style_paths, options)
    if estimate:
        return _estimate(content_path, style_paths, options, quiet)
    out = check_output_path(out, overwrite, inputs, options.bit_depth)
    if save_every:
        _check_iteration_files(out, overwrite, inputs)
    content, styles = load_inputs(content_path, style_paths)

    show = None if quiet else progress_printer()

    def report(p: Progress) -> None:
        if show:
            show(p)
        if save_every and p.iteration % save_every == 0:
            save_image(
                p.image(),
                sibling_path(out, f"iter{p.iteration:04d}"),
                overwrite=True,
                dpi=options.dpi,
                exif=content.info.get("exif"),
            )

    try:
        result = run(content, styles, options, report)
    except Interrupted as stop:
        if stop.best is None:
            say_stopped("interrupted before there was an image to keep")
            return EXIT_INTERRUPTED
        saved, _ = save_finished(
            stop.best,
            _interrupted_path(out, overwrite, inputs),
            overwrite,
            options=options,
            exif=content.info.get("exif"),
        )
        say_stopped(
            f"interrupted at iteration {stop.iteration}; the best image so far is in {saved}"
        )
        return EXIT_INTERRUPTED
    saved, interrupted = save_finished(
        result.image, out, overwrite, options=result.options, exif=result.exif
    )
    if interrupted:
        say_stopped(f"interrupted after the run had finished; its image is saved in {saved}")
        return EXIT_INTERRUPTED
    if not quiet and not result.losses:
        print(f"{options.method}: one pass in {result.seconds:.2f} s", file=sys.stderr)
    elif not quiet:
        terms = ", ".join(f"{k} {v:.4g}" for k, v in result.losses.items())
        print(
            f"{result.iterations} iterations in {result.seconds:.1f} s; final losses: {terms}",
            file=sys.stderr,
        )
    print(printable(saved))
    return 0
