"""``painterly sweep``: a labelled grid of previews over strengths (or α/β) and style layers,
and the command that renders each cell at full size."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from painterly.commands import EXIT_INTERRUPTED, say_stopped
from painterly.commands.common import (
    Parser,
    add_image_arguments,
    add_option_flags,
    add_output_flags,
    image_paths,
    load_inputs,
    option_argv,
    save_finished,
)
from painterly.config.options import Options, input_files
from painterly.errors import PainterlyError, printable
from painterly.io.images import check_output_path, resize_long_side
from painterly.report.artefacts import summary
from painterly.report.sheets import jpeg_copy, render_sheet
from painterly.report.sweep import (
    DEFAULT_LAYER_SETS,
    DEFAULT_STRENGTHS,
    PREVIEW_ITERATIONS,
    PREVIEW_SIZE,
    SweepCell,
    cell_options,
    column_text,
    full_size_command,
    grid_sheet,
    plan,
    sweep,
)

# Options a cell sets itself, so the sweep's own values for them are not passed on.
_CELL_SET = ("strength", "ratio", "style_weight", "style_layers")


def command(argv: Sequence[str]) -> int:
    """``painterly sweep``: parse the flags, render the grid, print the cells' commands."""
    parser = Parser(
        prog="painterly sweep",
        description="Render a labelled grid of previews of CONTENT in the style of STYLE, over "
        "strengths (or α/β) and sets of style layers, computing the targets once; then print "
        "the command that renders each cell at full size. The other options apply to every "
        "cell and to the printed commands.",
        argument_default=argparse.SUPPRESS,
    )
    add_image_arguments(parser)
    add_output_flags(
        parser,
        output="where to write the grid (.png or .jpg)",
        overwrite="replace OUTPUT if it exists",
        quiet="no progress lines",
    )
    parser.add_argument(
        "--strengths",
        metavar="S,S,…",
        help=f"one column per strength (default: {','.join(map(str, DEFAULT_STRENGTHS))})",
    )
    parser.add_argument("--ratios", metavar="R,R,…", help="one column per α/β instead")
    parser.add_argument(
        "--layer-set",
        dest="layer_sets",
        action="append",
        metavar="LAYERS",
        help="one row per set of style layers, e.g. conv1_1,conv2_1; repeat for more rows "
        f"(default: {' and '.join(DEFAULT_LAYER_SETS)})",
    )
    parser.add_argument(
        "--preview-size",
        type=int,
        default=PREVIEW_SIZE,
        metavar="N",
        help=f"size of each cell in pixels (default: {PREVIEW_SIZE})",
    )
    parser.add_argument(
        "--preview-iterations",
        type=int,
        default=PREVIEW_ITERATIONS,
        metavar="N",
        help=f"loss evaluations per cell (default: {PREVIEW_ITERATIONS})",
    )
    add_option_flags(parser)
    args = vars(parser.parse_args(argv))
    out, overwrite, quiet = args.pop("output"), args.pop("overwrite"), args.pop("quiet")
    size, iterations = args.pop("preview_size"), args.pop("preview_iterations")
    if size < 16 or iterations < 1:
        raise PainterlyError("--preview-size must be at least 16 and --preview-iterations 1")
    strengths = _numbers(args.pop("strengths", ""), "strength")
    ratios = _numbers(args.pop("ratios", ""), "ratio")
    cells = plan(strengths, ratios, args.pop("layer_sets", DEFAULT_LAYER_SETS))
    content_path, style_paths = image_paths(args)
    inputs = [content_path, *style_paths]
    options = Options.build(**args)
    if options.method != "gatys":
        raise PainterlyError(
            "painterly sweep explores the optimisation's α/β and style layers; it runs "
            "--method gatys only"
        )
    for cell in cells:  # every cell's options are checked before the first run
        cell_options(options, cell, size, iterations)
    out = check_output_path(out, overwrite, input_files(content_path, style_paths, options))
    content, styles = load_inputs(content_path, style_paths)
    given = option_argv({k: v for k, v in args.items() if k not in _CELL_SET})

    started = [0.0]

    def on_cell(cell: SweepCell, image: Image.Image | None) -> None:
        if quiet:
            return
        if image is None:
            started[0] = time.monotonic()
            text = f"{cell.label} {column_text(cell.settings)}, {cell.settings['style_layers']}"
            print(f"{text} …", end="", file=sys.stderr, flush=True)
        else:
            found = summary(image, content)
            print(
                f" {time.monotonic() - started[0]:.1f} s, speckle {found['speckle']:.4f}, "
                f"grid {found['grid']:.2f}",
                file=sys.stderr,
            )

    if not quiet:
        # The painting's own figures, to read each cell's against (painterly.report.artefacts).
        for path, style in zip(style_paths, styles, strict=True):
            found = summary(resize_long_side(style, size))
            print(
                printable(f"{Path(path).name}: speckle {found['speckle']:.4f}, grid "
                          f"{found['grid']:.2f} (the painting at {size} px)"),
                file=sys.stderr,
            )  # fmt: skip
    images = sweep(content, styles, options, cells, size, iterations, on_cell)
    names = [Path(p).name for p in inputs]
    sheet = grid_sheet(names, cells, f"Each cell: {size} px, {iterations} evaluations.")
    pictures = {names[0]: content} | dict(zip(names[1:], styles, strict=True))
    picture, _ = render_sheet(sheet, sheet.note, images, pictures.__getitem__)
    quality = 95
    if out.suffix.lower() in (".jpg", ".jpeg"):
        picture, quality = jpeg_copy(picture)
    saved, interrupted = save_finished(picture, out, overwrite, quality)
    if interrupted:
        say_stopped(f"interrupted after the grid was made; it is saved in {saved}")
        return EXIT_INTERRUPTED
    print(printable(saved))
    for cell in cells:
        print(printable(f"{cell.label}  {full_size_command(inputs, given, cell, out)}"))
    return 0


def _numbers(text: str, what: str) -> list[float]:
    values = []
    for part in text.replace(" ", ",").split(","):
        if part:
            try:
                values.append(float(part))
            except ValueError:
                raise PainterlyError(f"each {what} must be a number, not {part!r}") from None
    return values
