"""Contact sheets: a grid of results with a title, a note, input thumbnails, column
headers, row labels and captions, drawn with Pillow (no font files needed)."""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

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

    if shrink > 0.3 and len(png_bytes(sheet_img)) > SHEET_PNG_MAX:
        return render_sheet(sheet, note, results, image, shrink * 0.85)
    return sheet_img, boxes


def png_bytes(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_copy(img: Image.Image) -> tuple[Image.Image, int]:
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
