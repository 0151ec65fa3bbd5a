"""Make the example sheet of docs/feedforward.md and the README: AdaIN and WCT with controls.

    PYTHONPATH=src python docs/feedforward_figures.py

Writes ``docs/images/feedforward.jpg`` (at most 300 KB) and prints each image's seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from painterly import Options, run
from painterly.io.files import write_atomically
from painterly.io.images import load_image
from painterly.report.sheets import Cell, Picture, Sheet, jpeg_copy, render_sheet

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES, IMAGES = ROOT / "examples", ROOT / "docs" / "images"
SIZE = 384
# (caption, style files, options)
CELLS = (
    ("adain", ("starry_night.jpg",), {"method": "adain"}),
    ("adain --strength 0.5", ("starry_night.jpg",), {"method": "adain", "strength": 0.5}),
    ("wct", ("starry_night.jpg",), {"method": "wct"}),
    (
        "adain --preserve-color luminance",
        ("starry_night.jpg",),
        {"method": "adain", "preserve_color": "luminance"},
    ),
    (
        "adain, two styles --style-blend 0.5,0.5",
        ("starry_night.jpg", "the_scream.jpg"),
        {"method": "adain", "style_blend": (0.5, 0.5)},
    ),
    ("wct, The Scream", ("the_scream.jpg",), {"method": "wct"}),
)


def main() -> int:
    content = load_image(EXAMPLES / "tubingen.jpg")
    results, cells = {}, []
    for i, (caption, styles, settings) in enumerate(CELLS):
        options = Options.build(size=SIZE, **settings)
        result = run(content, [load_image(EXAMPLES / s) for s in styles], options)
        print(f"{caption}: {result.seconds:.2f} s", file=sys.stderr)
        key = f"cell{i}"
        results[key] = result.image
        cells.append(Cell(key, "", "", settings, caption, row=i // 3, col=i % 3, caption=caption))
    names = ("tubingen.jpg", "starry_night.jpg", "the_scream.jpg")
    sheet = Sheet(
        name="feedforward",
        title="Feed-forward style transfer: one pass of a pretrained network",
        note=f"Tübingen at {SIZE} px; AdaIN (Huang & Belongie 2017) and WCT at relu4_1 (Li et "
        "al. 2017) with the genuine AdaIN decoder",
        stages="",
        cells=tuple(cells),
        pictures=tuple(Picture(n, n.removesuffix(".jpg").replace("_", " ")) for n in names),
    )
    image, _ = render_sheet(sheet, sheet.note, results, lambda n: load_image(EXAMPLES / n))
    small, quality = jpeg_copy(image)
    target = IMAGES / "feedforward.jpg"
    write_atomically(
        target,
        lambda temp: small.save(temp, format="JPEG", quality=quality, subsampling=0),
        overwrite=True,
    )
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
