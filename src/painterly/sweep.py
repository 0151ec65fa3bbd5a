"""``painterly sweep``: explore a pair at preview size before one long run.

Renders a labelled grid, one cell per combination of a column setting (a strength, or an
α/β) and a row setting (a set of style layers), all from one encoder and one set of
targets: the content features and the style Grams are computed once, for every layer any
cell reads, and each cell only optimises its own image. Prints, for each cell, the
command that renders it at full size with the other options given.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from painterly.errors import PainterlyError
from painterly.images import check_output_path, save_image, to_image
from painterly.methods.gatys import (
    Objective,
    adain_start,
    calibrate_strength,
    deepest_layer,
    initial_image,
    optimize_stage,
)
from painterly.methods.inputs import prepare_inputs, stage_sizes
from painterly.methods.targets import compute_targets
from painterly.models import load_encoder
from painterly.models.vgg import LAYER_NAMES, layer_stride
from painterly.optimize import history_pairs
from painterly.options import Options, parse_layers
from painterly.runtime import check_fits, select_device
from painterly.sheets import Cell, Picture, Sheet, jpeg_copy, render_sheet

DEFAULT_STRENGTHS = (0.25, 0.5, 0.75)
DEFAULT_LAYER_SETS = (
    "conv1_1,conv2_1,conv3_1",
    "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1",
)
PREVIEW_SIZE, PREVIEW_ITERATIONS = 128, 100


@dataclass(frozen=True)
class SweepCell:
    """One cell: its label (row letter, column number: ``B2``) and the options it sets."""

    label: str
    row: int
    col: int
    settings: dict[str, object]


def plan(
    strengths: Sequence[float] = (),
    ratios: Sequence[float] = (),
    layer_sets: Sequence[str] = DEFAULT_LAYER_SETS,
) -> list[SweepCell]:
    """The cells of a grid: rows are ``layer_sets``, columns ``strengths`` or ``ratios``."""
    if strengths and ratios:
        raise PainterlyError("sweep over --strengths or over --ratios, not both")
    columns = (
        [{"ratio": r} for r in ratios]
        if ratios
        else [{"strength": s} for s in strengths or DEFAULT_STRENGTHS]
    )
    if len(layer_sets) > 26:
        raise PainterlyError("a sweep has at most 26 rows of layer sets")
    return [
        SweepCell(f"{chr(65 + row)}{col + 1}", row, col, {**column, "style_layers": layers})
        for row, layers in enumerate(layer_sets)
        for col, column in enumerate(columns)
    ]


def cell_options(options: Options, cell: SweepCell, size: int, iterations: int) -> Options:
    """The options of one cell at preview size: one stage of ``size`` px, ``iterations``."""
    return options.replace(size=size, iterations=iterations, scales=(), **cell.settings)


def sweep(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: Options,
    cells: Sequence[SweepCell],
    size: int = PREVIEW_SIZE,
    iterations: int = PREVIEW_ITERATIONS,
    on_cell: Callable[[SweepCell, Image.Image | None], None] | None = None,
) -> dict[str, Image.Image]:
    """Render every cell at ``size`` px with ``iterations`` evaluations; {label: image}.

    Each cell gives the same image as ``painterly.run`` with :func:`cell_options`: the
    targets are shared, not approximated. ``on_cell(cell, None)`` is called before each
    cell and ``on_cell(cell, image)`` after it.
    """
    plans = {cell.label: cell_options(options, cell, size, iterations) for cell in cells}
    content_layers = list(dict.fromkeys(n for o in plans.values() for n in o.content_layers))
    style_layers = list(dict.fromkeys(n for o in plans.values() for n in o.style_layers))
    last = max((deepest_layer(o) for o in plans.values()), key=LAYER_NAMES.index)
    inputs = prepare_inputs(content, styles, options)
    device = select_device(options.device)
    first = next(iter(plans.values()))
    content_wh, style_whs = stage_sizes(inputs, first, layer_stride(last))
    largest_style = max(style_whs, key=lambda wh: wh[0] * wh[1])
    check_fits(content_wh, largest_style, last, history_pairs(options.optimizer), device, size)
    torch.manual_seed(options.seed)
    encoder = load_encoder(options.weights, options.pooling, "zeros", last, device)
    targets = compute_targets(
        encoder, inputs, content_wh, style_whs, content_layers, style_layers, device
    )
    images = {}
    for cell in cells:
        if on_cell:
            on_cell(cell, None)
        cell_opts = plans[cell.label]
        if cell_opts.strength is not None:
            cell_opts = calibrate_strength(encoder, inputs, cell_opts, device)
        objective = Objective(encoder, targets, cell_opts)
        adain = adain_start(inputs, cell_opts, size, device, torch.float32)
        start = initial_image(cell_opts, targets.content_image, targets.first_style, adain)
        outcome = optimize_stage(objective, start, cell_opts, iterations, None, inputs.finish)
        images[cell.label] = inputs.finish(to_image(objective.compose(outcome.image)))
        if on_cell:
            on_cell(cell, images[cell.label])
    return images


def _column_text(settings: dict[str, object]) -> str:
    if "ratio" in settings:
        return f"α/β = {settings['ratio']:g}"
    return f"strength {settings['strength']:g}"


def full_size_command(
    inputs: Sequence[str], given: Sequence[str], cell: SweepCell, output: Path
) -> str:
    """The shell command that renders ``cell`` at full size: ``painterly INPUTS -o OUT``,
    then the options given to the sweep (``given``, already as flags), then the cell's."""
    settings = [
        (f"--{name.replace('_', '-')}", str(value)) for name, value in cell.settings.items()
    ]
    out = output.with_name(f"{output.stem}-{cell.label}.png")
    argv = ["painterly", *inputs, "-o", str(out), *given]
    for flag, value in settings:
        argv += [flag, value]
    return shlex.join(argv)


def grid_sheet(names: Sequence[str], cells: Sequence[SweepCell], note: str) -> Sheet:
    """The contact sheet of a sweep: content and style thumbnails (``names``: the files,
    content first), a column per strength or α/β, a row per layer set, cells by label."""
    row_layers = dict.fromkeys(str(c.settings["style_layers"]) for c in cells)
    return Sheet(
        name="sweep",
        title=f"painterly sweep: {names[0]} in the style of {', '.join(names[1:]) or 'the masks'}",
        note=note + " painterly sweep prints the command that renders each cell at full size.",
        stages="",
        cells=tuple(
            Cell(c.label, names[0], names[0], c.settings, c.label, c.row, c.col, c.label)
            for c in cells
        ),
        pictures=(Picture(names[0], f"content: {names[0]}"),)
        + tuple(Picture(name, f"style: {name}") for name in names[1:]),
        rows=tuple(", ".join(parse_layers(layers, "equal")) for layers in row_layers),
        cols=tuple(dict.fromkeys(_column_text(c.settings) for c in cells)),
    )


# --- command line --------------------------------------------------------------------------

# Options a cell sets itself, so the sweep's own values for them are not passed on.
_CELL_SET = ("strength", "ratio", "style_weight", "style_layers")


def command(argv: Sequence[str]) -> int:
    """``painterly sweep``: parse the flags, render the grid, print the cells' commands."""
    from painterly.cli import (
        _Parser,
        add_image_arguments,
        add_option_flags,
        image_paths,
        load_inputs,
        option_argv,
    )

    parser = _Parser(
        prog="painterly sweep",
        description="Render a labelled grid of previews of CONTENT in the style of STYLE, over "
        "strengths (or α/β) and sets of style layers, computing the targets once; then print "
        "the command that renders each cell at full size. The other options apply to every "
        "cell and to the printed commands.",
        argument_default=argparse.SUPPRESS,
    )
    add_image_arguments(parser)
    parser.add_argument(
        "-o", "--output", required=True, help="where to write the grid (.png or .jpg)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", default=False, help="replace OUTPUT if it exists"
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
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=False, help="no progress lines"
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
    out = check_output_path(out, overwrite)
    content, styles = load_inputs(content_path, style_paths)
    given = option_argv({k: v for k, v in args.items() if k not in _CELL_SET})

    started = [0.0]

    def on_cell(cell: SweepCell, image: Image.Image | None) -> None:
        if quiet:
            return
        if image is None:
            started[0] = time.monotonic()
            text = f"{cell.label} {_column_text(cell.settings)}, {cell.settings['style_layers']}"
            print(f"{text} …", end="", file=sys.stderr, flush=True)
        else:
            print(f" {time.monotonic() - started[0]:.1f} s", file=sys.stderr)

    images = sweep(content, styles, options, cells, size, iterations, on_cell)
    names = [Path(p).name for p in inputs]
    sheet = grid_sheet(names, cells, f"Each cell: {size} px, {iterations} evaluations.")
    pictures = {names[0]: content} | dict(zip(names[1:], styles, strict=True))
    picture, _ = render_sheet(sheet, sheet.note, images, pictures.__getitem__)
    quality = 95
    if out.suffix.lower() in (".jpg", ".jpeg"):
        picture, quality = jpeg_copy(picture)
    saved = save_image(picture, out, overwrite=overwrite, quality=quality)
    print(saved)
    for cell in cells:
        print(f"{cell.label}  {full_size_command(inputs, given, cell, out)}")
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
