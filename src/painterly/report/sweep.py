"""``painterly sweep``: explore a pair at preview size before one long run.

Renders a labelled grid, one cell per combination of a column setting (a strength, or an
α/β) and a row setting (a set of style layers), all on one engine session: the content
features and the style Grams are computed once, for every layer any cell reads, and each
cell only optimises its own image. Prints, for each cell, the
command that renders it at full size with the other options given.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from painterly.config.options import Options, parse_layers
from painterly.controls.inputs import prepare_inputs
from painterly.engine.plan import resolve
from painterly.errors import PainterlyError
from painterly.methods.gatys import deepest_layer, network, run_session, session
from painterly.models.vgg import LAYER_NAMES
from painterly.report.sheets import Cell, Picture, Sheet

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

    Every cell runs on one session (:mod:`painterly.engine.session`), whose plan is the
    first cell's with the encoder cut at the deepest layer any cell reads, and whose
    targets hold every layer any cell reads: the content features and style Grams are
    computed once per size, and each cell is ``painterly.run`` of :func:`cell_options` by
    construction (same device, precision, sizes, targets). ``on_cell(cell, None)`` is
    called before each cell and ``on_cell(cell, image)`` after it.
    """
    plans = {cell.label: cell_options(options, cell, size, iterations) for cell in cells}
    content_layers = list(dict.fromkeys(n for o in plans.values() for n in o.content_layers))
    style_layers = list(dict.fromkeys(n for o in plans.values() for n in o.style_layers))
    last = max((deepest_layer(o) for o in plans.values()), key=LAYER_NAMES.index)
    inputs = prepare_inputs(content, styles, options)
    first = next(iter(plans.values()))
    plan = resolve(first, inputs, network(first, last))
    shared = session(plan, inputs, content_layers=content_layers, style_layers=style_layers)
    images = {}
    for cell in cells:
        if on_cell:
            on_cell(cell, None)
        images[cell.label] = run_session(shared, plans[cell.label]).image
        if on_cell:
            on_cell(cell, images[cell.label])
    return images


def column_text(settings: dict[str, object]) -> str:
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
        cols=tuple(dict.fromkeys(column_text(c.settings) for c in cells)),
    )
