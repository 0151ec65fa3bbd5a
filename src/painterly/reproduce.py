"""Regenerate the paper's figures and the study's experiments as labelled contact sheets.

Each sheet is data: a :class:`Sheet` of :class:`Cell` runs (content, style, option
overrides of the ``gatys2016`` preset). :func:`reproduce` runs the cells with
:func:`painterly.api.run`, saves every result, one PNG contact sheet plus a small JPEG copy
per sheet, and ``reproduce.json`` with every setting, final loss and timing. ``command``
is the ``painterly reproduce`` front end.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from painterly import __version__
from painterly.api import run
from painterly.errors import Interrupted, PainterlyError
from painterly.images import load_image, save_image, write_atomically
from painterly.methods import Result
from painterly.options import Options
from painterly.presets import PAPER_STYLE_LAYERS

# --- sizes: the one place to tune how long a reproduction takes -------------------------
PRESET = "gatys2016"
FULL_STAGES: dict[str, tuple[tuple[int, int], ...]] = {
    # (long side in px, L-BFGS evaluations) of each coarse-to-fine stage, per kind of sheet
    "fig3": ((256, 200), (512, 60)),
    "fig4": ((128, 150),),
    "study": ((128, 150), (256, 50)),
    "calibration": ((128, 150),),
}
PREVIEW_STAGES: tuple[tuple[int, int], ...] = ((64, 30),)
PHOTO_RATIOS = (1e-3,)
"""α/β of the photo-to-photo sheet, one column each."""

PANEL_SIDE = 384
"""Longest side of a result on a sheet; each cell's own PNG keeps the full size."""
SHEET_PIXELS = 500_000
"""Total area of the results on a sheet: stylised images take ~2.5 bytes/pixel as PNG."""
SHEET_PNG_MAX = 1_600_000
JPEG_SIDE, JPEG_QUALITY, JPEG_MAX = 1600, 85, 300_000
REFERENCE_HEIGHT = 128
MIN_COLUMN = 112
"""Columns stay wide enough for their labels when the results are tiny (preview)."""
INSET = 0.3
"""Long side of Figure 3's style inset, relative to the result's."""

CONTENT = "tubingen.jpg"
DEFAULT_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class Cell:
    """One run: ``settings`` override the preset (``ratio`` for α/β, layers, init, seed).

    ``id`` names the result's file; ``label`` is the one-line summary shown while it runs;
    ``caption`` goes under the result on the sheet; ``inset`` draws the style painting in
    the result's lower-left corner, as in the paper's Figure 3.
    """

    id: str
    content: str
    style: str
    settings: dict[str, object]
    label: str
    row: int = 0
    col: int = 0
    caption: str = ""
    inset: bool = False


@dataclass(frozen=True)
class Picture:
    """An input shown as it is: in the grid at (row, col), or above the grid if row is None."""

    file: str
    caption: str
    row: int | None = None
    col: int = 0


@dataclass(frozen=True)
class Sheet:
    """One contact sheet: its runs, how they are laid out and labelled.

    ``stages`` names the entry of :data:`FULL_STAGES` used outside preview; ``compare``
    lists pairs of cell ids whose mean absolute pixel difference is recorded.
    """

    name: str
    title: str
    note: str
    stages: str
    cells: tuple[Cell, ...]
    pictures: tuple[Picture, ...] = ()
    rows: tuple[str, ...] = ()
    cols: tuple[str, ...] = ()
    compare: tuple[tuple[str, str], ...] = field(default=())


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
        raise PainterlyError(f"the output path '{out_dir}' is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise PainterlyError(
            f"the output folder '{out_dir}' is not empty; pass --overwrite to write into it"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PainterlyError(f"cannot create the output folder '{out_dir}' ({error})") from None
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


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(data: dict, path: Path) -> None:
    """Write ``data`` as JSON atomically (temporary file in the same folder, then rename)."""
    text = json.dumps(_jsonable(data), indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    write_atomically(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"), True)


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
        cells = []
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
        differences = [
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
        jpeg, quality = _jpeg_copy(picture)
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


# --- drawing -------------------------------------------------------------------------------

MARGIN, GAP = 14, 8
TITLE_SIZE, LABEL_SIZE, NOTE_SIZE = 22, 15, 13
MIN_TEXT_WIDTH, ROW_LABEL_WIDTH = 460, 150
_ASCII = str.maketrans(
    {"α": "alpha", "β": "beta", "ü": "ue", "§": "Sec. ", "…": "...", "×": "x", "–": "-"}
)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """DejaVu Sans where installed (it has α, β, ü); else Pillow's own font, ASCII only."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size), True
    except OSError:
        return ImageFont.load_default(size=size), False


class _Text:
    """Word-wrapped text in one font size."""

    def __init__(self, size: int, text: str, width: float) -> None:
        self.font, unicode = _font(size)
        self.height = round(size * 1.3)
        text = text if unicode else text.translate(_ASCII)
        self.lines: list[str] = []
        for paragraph in text.split("\n"):
            line = ""
            for word in paragraph.split(" "):
                trial = f"{line} {word}" if line else word
                if line and self.font.getlength(trial) > width:
                    self.lines.append(line)
                    line = word
                else:
                    line = trial
            self.lines.append(line)
        if not text:
            self.lines = []
        self.width = max((self.font.getlength(line) for line in self.lines), default=0)
        self.size = (math.ceil(self.width), self.height * len(self.lines))

    def draw(self, draw: ImageDraw.ImageDraw, x: float, y: float, align: str = "left") -> None:
        for line in self.lines:
            shift = {"left": 0, "center": 0.5, "right": 1}[align] * (
                self.width - self.font.getlength(line)
            )
            draw.text((x + shift, y), line, font=self.font, fill=(20, 20, 20))
            y += self.height


def _fit(img: Image.Image, long_side: int) -> Image.Image:
    if max(img.size) <= long_side:
        return img
    scale = long_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def _panel_side(images: Sequence[Image.Image], shrink: float) -> int:
    """One long side for every panel: native, ≤ PANEL_SIDE, and within SHEET_PIXELS."""
    shape = sum(img.width * img.height / max(img.size) ** 2 for img in images)
    budget = math.sqrt(SHEET_PIXELS / shape)
    native = max(max(img.size) for img in images)
    return max(16, int(min(native, PANEL_SIDE, budget) * shrink))


def render_sheet(
    sheet: Sheet,
    note: str,
    results: dict[str, Image.Image],
    image: Callable[[str], Image.Image],
    shrink: float = 1.0,
) -> tuple[Image.Image, dict[str, dict[str, list[int]]]]:
    """Draw the contact sheet; return it and each cell's ``box`` (x, y, w, h) on it.

    Figure 3's cells also get the ``inset`` box where the style painting covers the result.
    Title and note on top, then the inputs as thumbnails, then the grid with column
    headers, row labels and captions. If the PNG would exceed :data:`SHEET_PNG_MAX`, the
    panels are drawn smaller.
    """
    grid: dict[tuple[int, int], tuple[Image.Image, str, Cell | None]] = {
        (c.row, c.col): (results[c.id], c.caption, c) for c in sheet.cells
    }
    for p in sheet.pictures:
        if p.row is not None:
            grid[(p.row, p.col)] = (image(p.file), p.caption, None)
    side = _panel_side([results[c.id] for c in sheet.cells], shrink)
    panels = {key: _fit(img, side) for key, (img, _, _) in grid.items()}
    n_rows = max(len(sheet.rows), 1 + max(r for r, _ in grid))
    n_cols = max(len(sheet.cols), 1 + max(c for _, c in grid))

    col_w = [
        max([MIN_COLUMN] + [p.width for (r, c), p in panels.items() if c == col])
        for col in range(n_cols)
    ]
    panel_h = [
        max([0] + [p.height for (r, c), p in panels.items() if r == row]) for row in range(n_rows)
    ]
    captions = {
        key: _Text(NOTE_SIZE, caption, col_w[key[1]]) for key, (_, caption, _) in grid.items()
    }
    caption_h = [
        max([0] + [t.size[1] for (r, c), t in captions.items() if r == row])
        for row in range(n_rows)
    ]
    row_labels = [_Text(LABEL_SIZE, label, ROW_LABEL_WIDTH) for label in sheet.rows]
    label_w = max([0] + [t.size[0] + GAP for t in row_labels])
    headers = [_Text(LABEL_SIZE, label, col_w[i]) for i, label in enumerate(sheet.cols)]
    header_h = max([0] + [t.size[1] + GAP // 2 for t in headers])
    grid_w = label_w + sum(col_w) + GAP * (n_cols - 1)

    references = [p for p in sheet.pictures if p.row is None]
    thumbs = [_fit(image(p.file), 4 * REFERENCE_HEIGHT) for p in references]
    thumbs = [
        t.resize((max(1, round(t.width * REFERENCE_HEIGHT / t.height)), REFERENCE_HEIGHT))
        for t in thumbs
    ]
    ref_w = [max(t.width, MIN_COLUMN) for t in thumbs]
    ref_captions = [_Text(NOTE_SIZE, p.caption, w) for p, w in zip(references, ref_w, strict=True)]
    refs_w = sum(ref_w) + GAP * max(0, len(thumbs) - 1)
    refs_h = (REFERENCE_HEIGHT + max(t.size[1] for t in ref_captions) + GAP) if thumbs else 0

    width = max(grid_w, refs_w, MIN_TEXT_WIDTH)
    title = _Text(TITLE_SIZE, sheet.title, width)
    note_text = _Text(NOTE_SIZE, note, width)
    top = MARGIN + title.size[1] + GAP // 2 + note_text.size[1] + GAP
    grid_top = top + refs_h + header_h
    height = grid_top + sum(panel_h) + sum(caption_h) + GAP * n_rows + MARGIN - GAP
    sheet_img = Image.new("RGB", (width + 2 * MARGIN, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet_img)
    title.draw(draw, MARGIN, MARGIN)
    note_text.draw(draw, MARGIN, MARGIN + title.size[1] + GAP // 2)

    x = MARGIN
    for thumb, w, caption in zip(thumbs, ref_w, ref_captions, strict=True):
        sheet_img.paste(thumb, (x, top))
        caption.draw(draw, x, top + REFERENCE_HEIGHT + 2)
        x += w + GAP

    left = MARGIN + (width - grid_w) // 2 + label_w
    col_x = [left + sum(col_w[:i]) + GAP * i for i in range(n_cols)]
    row_y = [grid_top + sum(panel_h[:i]) + sum(caption_h[:i]) + GAP * i for i in range(n_rows)]
    for i, header in enumerate(headers):
        header.draw(draw, col_x[i] + (col_w[i] - header.width) / 2, top + refs_h, "center")
    for i, label in enumerate(row_labels):
        label.draw(draw, left - label_w, row_y[i] + (panel_h[i] - label.size[1]) / 2)

    boxes: dict[str, dict[str, list[int]]] = {}
    for (row, col), panel in panels.items():
        x = col_x[col] + (col_w[col] - panel.width) // 2
        y = row_y[row] + (panel_h[row] - panel.height) // 2
        sheet_img.paste(panel, (x, y))
        caption = captions[(row, col)]
        caption.draw(
            draw,
            col_x[col] + (col_w[col] - caption.width) / 2,
            row_y[row] + panel_h[row] + 2,
            "center",
        )
        cell = grid[(row, col)][2]
        if cell is None:
            continue
        boxes[cell.id] = {"box": [x, y, panel.width, panel.height]}
        if cell.inset:
            inset = _fit(image(cell.style), max(4, round(INSET * max(panel.size))))
            frame = (x, y + panel.height - inset.height - 2, inset.width + 2, inset.height + 2)
            draw.rectangle(
                (frame[0], frame[1], x + frame[2] - 1, y + panel.height - 1), fill="white"
            )
            sheet_img.paste(inset, (x, y + panel.height - inset.height))
            boxes[cell.id]["inset"] = list(frame)

    if shrink > 0.3 and len(_png_bytes(sheet_img)) > SHEET_PNG_MAX:
        return render_sheet(sheet, note, results, image, shrink * 0.85)
    return sheet_img, boxes


def _png_bytes(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg_copy(img: Image.Image) -> tuple[Image.Image, int]:
    """The sheet at most JPEG_SIDE px long and JPEG_MAX bytes, and the quality to save it at.

    Lower quality comes first (down to JPEG_QUALITY - 15), as shrinking blurs the labels.
    """
    small = _fit(img, JPEG_SIDE)
    while True:
        for quality in range(JPEG_QUALITY, JPEG_QUALITY - 16, -5):
            buffer = io.BytesIO()
            small.save(buffer, format="JPEG", quality=quality, subsampling=0)
            if buffer.tell() <= JPEG_MAX or max(small.size) < 200:
                return small, quality
        small = _fit(img, int(max(small.size) * min(0.9, math.sqrt(JPEG_MAX / buffer.tell()))))


# --- command line --------------------------------------------------------------------------


def command(argv: Sequence[str]) -> int:
    """``painterly reproduce``: parse the flags, run the sheets, report on stderr."""
    from painterly.cli import EXIT_INTERRUPTED, _format_seconds, _Parser

    preview = ", ".join(f"{size} px × {n} iterations" for size, n in PREVIEW_STAGES)
    parser = _Parser(
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
        log(f"{sheet.name}: {len(sheet.cells)} cells in {_format_seconds(record['seconds'])}")

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
        print(
            f"\npainterly: interrupted; sheets completed: {names} (in {out_dir})",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    log("wall time: " + ", ".join(f"{s.name} {r['seconds']:.1f} s" for s, r in done))
    for _, record in done:
        print(out_dir.resolve() / record["png"])
    print(out_dir.resolve() / "reproduce.json")
    return 0
