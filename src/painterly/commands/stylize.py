"""``painterly CONTENT STYLE -o OUT [options]``: stylise one image."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from painterly import __version__
from painterly.commands.common import (
    EXIT_INTERRUPTED,
    Parser,
    add_image_arguments,
    add_option_flags,
    image_paths,
    load_inputs,
    progress_printer,
)
from painterly.config.options import Options
from painterly.engine.optimize import Progress
from painterly.errors import Interrupted, PainterlyError


def parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="painterly",
        description="Paint a photograph in the style of another image (Gatys et al. 2016; "
        "--method adain or wct: one network pass, Huang & Belongie 2017, Li et al. 2017).",
        epilog="other commands: painterly weights {list,fetch,normalize}, painterly reproduce, "
        "painterly sweep, painterly leak, painterly serve (see painterly COMMAND --help)",
        argument_default=argparse.SUPPRESS,
    )
    add_image_arguments(parser)
    parser.add_argument(
        "-o", "--output", required=True, help="where to write the result (.png or .jpg)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        default=False,
        help="replace OUTPUT if it exists (default: refuse)",
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
        "-q",
        "--quiet",
        action="store_true",
        default=False,
        help="no progress display; print only the output path",
    )
    parser.add_argument("--version", action="version", version=f"painterly {__version__}")
    add_option_flags(parser)
    return parser


def _free_path(path: Path, overwrite: bool) -> Path:
    """``path`` itself if it may be written, else the first unused numbered variant."""
    if overwrite or not path.exists():
        return path
    n = 2
    while (candidate := path.with_name(f"{path.stem}-{n}{path.suffix}")).exists():
        n += 1
    return candidate


def command(argv: Sequence[str]) -> int:
    from painterly.api import run
    from painterly.io.files import sibling_path
    from painterly.io.images import check_output_path, save_image

    args = vars(parser().parse_args(argv))
    out = args.pop("output")
    overwrite = args.pop("overwrite")
    save_every = args.pop("save_every")
    quiet = args.pop("quiet")
    content_path, style_paths = image_paths(args)
    if save_every < 0:
        raise PainterlyError(f"--save-every must be 0 or more, not {save_every}")

    options = Options.build(**args)
    out = check_output_path(out, overwrite)
    if save_every and not overwrite:
        stale = sorted(out.parent.glob(f"{out.stem}.iter*{out.suffix}"))
        if stale:
            raise PainterlyError(f"{stale[0]} already exists; pass --overwrite to replace it")
    content, styles = load_inputs(content_path, style_paths)

    show = None if quiet else progress_printer()

    def report(p: Progress) -> None:
        if show:
            show(p)
        if save_every and p.iteration % save_every == 0:
            save_image(p.image(), sibling_path(out, f"iter{p.iteration:04d}"), overwrite=True)

    try:
        result = run(content, styles, options, report)
    except Interrupted as stop:
        if stop.best is None:
            print("\npainterly: interrupted before there was an image to keep", file=sys.stderr)
            return EXIT_INTERRUPTED
        saved = save_image(
            stop.best, _free_path(sibling_path(out, "interrupted"), overwrite), overwrite=overwrite
        )
        print(
            f"\ninterrupted at iteration {stop.iteration}; the best image so far is in {saved}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    saved = save_image(result.image, out, overwrite=overwrite)
    if not quiet and not result.losses:
        print(f"{options.method}: one pass in {result.seconds:.2f} s", file=sys.stderr)
    elif not quiet:
        terms = ", ".join(f"{k} {v:.4g}" for k, v in result.losses.items())
        print(
            f"{result.iterations} iterations in {result.seconds:.1f} s; final losses: {terms}",
            file=sys.stderr,
        )
    print(saved)
    return 0
