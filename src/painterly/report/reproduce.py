"""Regenerate the paper's figures and the study's experiments as labelled contact sheets.

Each sheet is data: a :class:`Sheet` of :class:`Cell` runs (content, style, option
overrides of the ``gatys2016`` preset). :func:`reproduce` runs the cells with
:func:`painterly.api.run`, saves every result, one PNG contact sheet plus a small JPEG copy
per sheet, and ``reproduce.json`` with every setting, final loss and timing. ``command``
is the ``painterly reproduce`` front end.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from painterly import __version__
from painterly.api import run
from painterly.config.options import Options
from painterly.config.presets import PAPER_STYLE_LAYERS
from painterly.errors import PainterlyError, printable
from painterly.io.files import write_json
from painterly.io.images import load_image, save_image
from painterly.methods import Result
from painterly.report.sheets import Cell, Picture, Sheet, jpeg_copy, render_sheet

# --- sizes: the one place to tune how long a reproduction takes -------------------------
PRESET = "gatys2016"
FULL_STAGES: dict[str, tuple[tuple[int, int], ...]] = {
    # (long side in px, L-BFGS evaluations) of each coarse-to-fine stage, per kind of sheet
    "fig3": ((128, 150), (256, 150), (512, 80)),
    "fig4": ((128, 150),),
    "study": ((128, 150), (256, 50)),
    "calibration": ((128, 150),),
}
PREVIEW_STAGES: tuple[tuple[int, int], ...] = ((64, 30),)
PHOTO_RATIOS = (1e-3,)
"""α/β of the photo-to-photo sheet, one column each."""

CONTENT = "tubingen.jpg"
DEFAULT_EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def ratio_text(ratio: float) -> str:
    """α/β as the paper prints it: 8e-4, 1e-3."""
    mantissa, exponent = f"{ratio:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _layers_text(layers: Sequence[str]) -> str:
    return ", ".join(layers) if len(layers) <= 2 else f"{layers[0]} … {layers[-1]}"


_FIG3_STYLES = (  # the paper's Figure 3 B–F: file, painting, artist, α/β
    ("shipwreck.jpg", "The Shipwreck of the Minotaur", "J. M. W. Turner, c. 1810", 1e-3),
    ("starry_night.jpg", "The Starry Night", "Vincent van Gogh, 1889", 8e-4),
    ("the_scream.jpg", "The Scream", "Edvard Munch, 1893", 5e-3),
    ("composition_vii.jpg", "Composition VII", "Wassily Kandinsky, 1913", 5e-4),
    ("wave.jpg", "The Great Wave off Kanagawa", "Hokusai, c. 1831 (for Picasso)", 5e-4),
)
_FIG4_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)
_CALIBRATION_FACTORS = (1e-2, 1.0, 1e2)
_FIG4_LAYERS = tuple(PAPER_STYLE_LAYERS[:n] for n in range(1, len(PAPER_STYLE_LAYERS) + 1))
_STUDY_STYLE, _STUDY_RATIO = "starry_night.jpg", 1e-3
_PHOTO_STYLE = "rocket.jpg"
_INITS, _SEEDS = ("content", "style", "noise"), (1, 2)
_INPUTS = (
    Picture(CONTENT, "content: Neckarfront, Tübingen (photo)"),
    Picture(_STUDY_STYLE, "style: The Starry Night"),
)

SHEETS: dict[str, Sheet] = {
    sheet.name: sheet
    for sheet in (
        Sheet(
            name="fig3",
            title="Figure 3 of Gatys et al. (2016): the Neckarfront in Tübingen in five styles",
            note="The Great Wave off Kanagawa replaces Picasso's Femme nue assise (1910), "
            "which is not public domain everywhere, at the same α/β = 5e-4.",
            stages="fig3",
            pictures=(Picture(CONTENT, "A  photograph: Neckarfront, Tübingen", row=0, col=0),),
            cells=tuple(
                Cell(
                    id=f"{'bcdef'[i]}-{Path(file).stem}",
                    content=CONTENT,
                    style=file,
                    settings={"ratio": ratio},
                    label=f"α/β={ratio_text(ratio)}",
                    row=(i + 1) // 3,
                    col=(i + 1) % 3,
                    caption=f"{'BCDEF'[i]}  {painting}\n{artist}, α/β = {ratio_text(ratio)}",
                    inset=True,
                )
                for i, (file, painting, artist, ratio) in enumerate(_FIG3_STYLES)
            ),
        ),
        Sheet(
            name="fig4",
            title="Figure 4 of Gatys et al. (2016): α/β × style layers",
            note="Composition VII (Kandinsky) on Tübingen; each row matches the style at the "
            "layers named, with equal weights, and the content at conv4_2.",
            stages="fig4",
            pictures=(_INPUTS[0], Picture("composition_vii.jpg", "style: Composition VII")),
            rows=tuple(_layers_text(layers) for layers in _FIG4_LAYERS),
            cols=tuple(f"α/β = {ratio_text(r)}" for r in _FIG4_RATIOS),
            cells=tuple(
                Cell(
                    id=f"{layers[-1]}-{ratio_text(ratio)}",
                    content=CONTENT,
                    style="composition_vii.jpg",
                    settings={"ratio": ratio, "style_layers": ",".join(layers)},
                    label=f"α/β={ratio_text(ratio)} {_layers_text(layers)}",
                    row=row,
                    col=col,
                )
                for row, layers in enumerate(_FIG4_LAYERS)
                for col, ratio in enumerate(_FIG4_RATIOS)
            ),
        ),
        Sheet(
            name="calibration",
            title="Calibration: the paper's α/β, and two decades either side",
            note="Each Figure-3 style on Tübingen at its printed α/β (middle), 100× smaller "
            "(left: the content should fade) and 100× larger (right: the style should fade).",
            stages="calibration",
            pictures=(_INPUTS[0],),
            rows=tuple(painting for _, painting, _, _ in _FIG3_STYLES),
            cols=("α/β ÷ 100", "paper's α/β", "α/β × 100"),
            cells=tuple(
                Cell(
                    id=f"{Path(file).stem}-{ratio_text(ratio * factor)}",
                    content=CONTENT,
                    style=file,
                    settings={"ratio": ratio * factor},
                    label=f"{Path(file).stem} α/β={ratio_text(ratio * factor)}",
                    row=row,
                    col=col,
                    caption=f"α/β = {ratio_text(ratio * factor)}",
                    inset=True,
                )
                for row, (file, _, _, ratio) in enumerate(_FIG3_STYLES)
                for col, factor in enumerate(_CALIBRATION_FACTORS)
            ),
        ),
        Sheet(
            name="content-layer",
            title="Content layer conv2_2 vs conv4_2 (study §4.2)",
            note=f"The Starry Night on Tübingen at α/β = {ratio_text(_STUDY_RATIO)}. The paper "
            "(Fig. 5) finds that a lower content layer keeps the photograph's fine structure "
            "and lets the style blend in less.",
            stages="study",
            pictures=_INPUTS,
            cols=("content layer conv2_2", "content layer conv4_2 (paper)"),
            cells=tuple(
                Cell(
                    id=layer,
                    content=CONTENT,
                    style=_STUDY_STYLE,
                    settings={"ratio": _STUDY_RATIO, "content_layers": layer},
                    label=f"content layer {layer}",
                    col=col,
                )
                for col, layer in enumerate(("conv2_2", "conv4_2"))
            ),
        ),
        Sheet(
            name="init",
            title="Initialisation: content, style or noise, each with two seeds (study §4.3)",
            note=f"The Starry Night on Tübingen at α/β = {ratio_text(_STUDY_RATIO)}. Runs "
            "from an image do not depend on the seed; runs from noise do.",
            stages="study",
            pictures=_INPUTS,
            rows=tuple(f"seed {seed}" for seed in _SEEDS),
            cols=tuple(f"init: {init}" for init in _INITS),
            cells=tuple(
                Cell(
                    id=f"{init}-seed{seed}",
                    content=CONTENT,
                    style=_STUDY_STYLE,
                    settings={"ratio": _STUDY_RATIO, "init": init, "seed": seed},
                    label=f"init={init} seed={seed}",
                    row=row,
                    col=col,
                )
                for row, seed in enumerate(_SEEDS)
                for col, init in enumerate(_INITS)
            ),
            compare=tuple((f"{init}-seed1", f"{init}-seed2") for init in _INITS),
        ),
        Sheet(
            name="photo",
            title="Photo-to-photo transfer (study §4.4)",
            note="The style is a photograph, not a painting: Falcon 9 on the pad at dusk "
            "(SpaceX, public domain).",
            stages="study",
            pictures=(_INPUTS[0], Picture(_PHOTO_STYLE, "style: Falcon 9 at dusk (photo)")),
            cols=tuple(f"α/β = {ratio_text(r)}" for r in PHOTO_RATIOS),
            cells=tuple(
                Cell(
                    id=f"rocket-{ratio_text(ratio)}",
                    content=CONTENT,
                    style=_PHOTO_STYLE,
                    settings={"ratio": ratio},
                    label=f"α/β={ratio_text(ratio)}",
                    col=col,
                )
                for col, ratio in enumerate(PHOTO_RATIOS)
            ),
        ),
    )
}


def select_sheets(only: str | None) -> list[Sheet]:
    """The sheets named in ``only`` (comma-separated), in definition order; all if None."""
    if only is None:
        return list(SHEETS.values())
    names = [name.strip() for name in only.split(",") if name.strip()]
    for name in names:
        if name not in SHEETS:
            raise PainterlyError(f"unknown sheet {name!r}; sheets are {', '.join(SHEETS)}")
    if not names:
        raise PainterlyError(f"--only needs sheet names: {', '.join(SHEETS)}")
    return [sheet for name, sheet in SHEETS.items() if name in names]


def cell_options(cell: Cell, stages: tuple[tuple[int, int], ...], device: str) -> Options:
    """The preset with the cell's overrides, at the given coarse-to-fine stages."""
    sizes: dict[str, object] = {"size": stages[-1][0], "iterations": sum(n for _, n in stages)}
    sizes["scales"] = stages if len(stages) > 1 else ()
    return Options.build(preset=PRESET, device=device, **sizes, **cell.settings)


def mean_abs_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two same-size 8-bit RGB images, in 0–255 units."""
    x, y = (np.asarray(img.convert("RGB"), dtype=np.int16) for img in (a, b))
    return float(np.abs(x - y).mean())


def prepare_output(out_dir: Path, overwrite: bool) -> Path:
    """Create ``out_dir``; refuse one that already holds files unless ``overwrite``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise PainterlyError(f"the output path '{printable(out_dir)}' is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise PainterlyError(
            f"the output folder '{printable(out_dir)}' is not empty; pass --overwrite to write"
            " into it"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PainterlyError(
            f"cannot create the output folder '{printable(out_dir)}' ({error})"
        ) from None
    return out_dir.resolve()


def check_examples(sheets: Sequence[Sheet], examples: Path) -> None:
    """Fail before any run if an input image is missing."""
    needed = {p.file for s in sheets for p in s.pictures}
    needed |= {f for s in sheets for c in s.cells for f in (c.content, c.style)}
    missing = sorted(f for f in needed if not (examples / f).is_file())
    if missing:
        raise PainterlyError(
            f"the examples folder '{examples}' lacks {', '.join(missing)}; "
            "pass --examples with the folder of the project's examples/"
        )


CellCallback = Callable[[Sheet, int, Cell, Result | None], None]


def reproduce(
    sheets: Sequence[Sheet],
    out_dir: Path,
    *,
    examples: Path = DEFAULT_EXAMPLES,
    preview: bool = False,
    device: str = "auto",
    overwrite: bool = False,
    on_cell: CellCallback | None = None,
    on_sheet: Callable[[Sheet, dict], None] | None = None,
) -> dict:
    """Run ``sheets`` into ``out_dir``; return what ``reproduce.json`` holds.

    ``on_cell(sheet, index, cell, None)`` is called before each run and again with its
    :class:`Result` after; ``on_sheet(sheet, record)`` once a sheet's files are written.
    The JSON is rewritten after each sheet, so an interrupted run keeps what it finished.
    """
    check_examples(sheets, examples)
    plans = {  # every option checked before the first run
        (sheet.name, cell.id): cell_options(
            cell, PREVIEW_STAGES if preview else FULL_STAGES[sheet.stages], device
        )
        for sheet in sheets
        for cell in sheet.cells
    }
    out_dir = prepare_output(out_dir, overwrite)
    inputs: dict[str, Image.Image] = {}

    def image(file: str) -> Image.Image:
        if file not in inputs:
            inputs[file] = load_image(examples / file, file)
        return inputs[file]

    record: dict = {
        "painterly": __version__,
        "torch": torch.__version__,
        "preset": PRESET,
        "preview": preview,
        "examples": str(examples),
        "sheets": {},
    }
    for sheet in sheets:
        started = time.monotonic()
        (out_dir / sheet.name).mkdir(exist_ok=True)
        results: dict[str, Image.Image] = {}
        cells: list[dict] = []
        for index, cell in enumerate(sheet.cells):
            options = plans[(sheet.name, cell.id)]
            if on_cell:
                on_cell(sheet, index, cell, None)
            result = run(image(cell.content), image(cell.style), options)
            file = f"{sheet.name}/{cell.id}.png"
            save_image(result.image, out_dir / file, overwrite=overwrite)
            results[cell.id] = result.image
            cells.append(
                {
                    "id": cell.id,
                    "row": cell.row,
                    "col": cell.col,
                    "content": cell.content,
                    "style": cell.style,
                    "image": file,
                    "options": dataclasses.asdict(options),
                    "losses": result.losses,
                    "iterations": result.iterations,
                    "seconds": round(result.seconds, 2),
                }
            )
            if on_cell:
                on_cell(sheet, index, cell, result)
        differences: list[dict[str, Any]] = [
            {"cells": [a, b], "mean_abs_difference": mean_abs_difference(results[a], results[b])}
            for a, b in sheet.compare
        ]
        note = sheet.note
        if differences:
            note += " Mean |difference| between the seeds (0–255): " + ", ".join(
                f"{d['cells'][0].split('-')[0]} {d['mean_abs_difference']:.3g}" for d in differences
            )
        picture, boxes = render_sheet(sheet, note, results, image)
        for cell_record in cells:
            cell_record.update(boxes[cell_record["id"]])
        png = save_image(picture, out_dir / f"{sheet.name}.png", overwrite=overwrite)
        jpeg, quality = jpeg_copy(picture)
        jpg = save_image(jpeg, out_dir / f"{sheet.name}.jpg", overwrite=overwrite, quality=quality)
        sheet_record = {
            "title": sheet.title,
            "note": note,
            "png": png.name,
            "jpg": jpg.name,
            "rows": list(sheet.rows),
            "cols": list(sheet.cols),
            "pictures": [p.file for p in sheet.pictures],
            "cells": cells,
            "seconds": round(time.monotonic() - started, 2),
        }
        if differences:
            sheet_record["differences"] = differences
        record["sheets"][sheet.name] = sheet_record
        write_json(record, out_dir / "reproduce.json")
        if on_sheet:
            on_sheet(sheet, sheet_record)
    return record
