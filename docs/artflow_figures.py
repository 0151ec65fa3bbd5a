"""The figures of docs/artflow.md from a training run's files: the loss curve from its loss
log (JSON lines), its sample sheets at several iterations, and a sheet of the model beside
AdaIN and WCT on pairs none of them trained on, all into docs/images.

    PYTHONPATH=src python docs/artflow_figures.py out/artflow-w64/artflow.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import machine  # noqa: E402
from painterly.train.store import TrainPaths  # noqa: E402

IMAGES = ROOT / "docs" / "images"
WINDOW = 50
"""Iterations per point of the curve: one batch of four crops says little on its own."""


def loss_curve(log: Path, target: Path) -> Path:
    """Mean content, style and total loss per :data:`WINDOW` iterations, on a log scale."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    for term in ("total", "style", "content"):
        xs, ys = [], []
        for start in range(0, len(records) - WINDOW + 1, WINDOW):
            window = records[start : start + WINDOW]
            xs.append(window[-1]["iteration"])
            ys.append(sum(r[term] for r in window) / WINDOW)
        ax.plot(xs, ys, label=term)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"weighted loss (mean of {WINDOW})")
    seconds = records[-1]["seconds"] if records else 0
    ax.set_title(f"{len(records)} iterations, {seconds / 3600:.1f} h; {machine()['cpu_kind']}",
                 fontsize=8)  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target


SAMPLE_SHEETS = 4
"""Sample sheets shown, spread evenly over the run (the last one always)."""
PAIRS = (
    ("images/content/tubingen.jpg", "images/style/starry_night.jpg"),
    ("datasets/photos/deb-lomiri-1.jpg", "images/style/the_scream.jpg"),
    ("images/content/tubingen.jpg", "images/style/composition_vii.jpg"),
    ("datasets/photos/skimage-2.jpg", "images/style/wave.jpg"),
)
"""Content × style pairs of the comparison (the styles are not in the training set)."""
SIDE = 192
"""Long side of each picture of the comparison (the style at the same long side)."""


def sample_sheets(folder: Path, target: Path) -> Path:
    """:data:`SAMPLE_SHEETS` sample sheets side by side, the last of the run at the right,
    each captioned with its iteration."""
    sheets = sorted(folder.glob("iter-*.png"))
    if not sheets:
        raise SystemExit(f"no sample sheets in {folder}")
    chosen = [
        sheets[round(i * (len(sheets) - 1) / (SAMPLE_SHEETS - 1))] for i in range(SAMPLE_SHEETS)
    ]
    chosen = list(dict.fromkeys(chosen))
    pictures = [Image.open(path).convert("RGB") for path in chosen]
    width = sum(p.width for p in pictures) + 8 * (len(pictures) - 1)
    height = max(p.height for p in pictures) + 16
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for path, picture in zip(chosen, pictures, strict=True):
        draw.text((x + 2, 2), f"iteration {int(path.stem.split('-')[1]):,}", fill="black")
        sheet.paste(picture, (x, 16))
        x += picture.width + 8
    sheet.save(target, quality=85)
    return target


def comparison(model: Path, target: Path) -> Path:
    """The pairs of :data:`PAIRS` through AdaIN and WCT (the genuine decoder) and through
    the flow of ``model`` with each transform in its latent, one row a pair, on a contact
    sheet of :mod:`painterly.report.sheets` (at most 300 KB as JPEG)."""
    from painterly.io.images import load_image, resize_long_side, to_image, to_tensor
    from painterly.methods.adain import adaptive_instance_norm
    from painterly.methods.artflow import TRANSFORMS, transfer
    from painterly.methods.feedforward import decoder_pass
    from painterly.methods.wct import whiten_colour
    from painterly.report.sheets import Cell, Sheet, jpeg_copy, render_sheet
    from painterly.train.store import load_flow

    device = torch.device("cpu")
    flow = load_flow(model)
    decoded = {"adain": adaptive_instance_norm, "wct": whiten_colour}
    passes = {name: decoder_pass(t, device) for name, t in decoded.items()} | {
        f"artflow-{name}": lambda c, s, a, t=t: transfer(flow, c, s, t, a)
        for name, t in TRANSFORMS.items()
    }
    shared = ROOT.parent / "shared"
    results: dict[str, Image.Image] = {}
    cells = []
    for row, (content_path, style_path) in enumerate(PAIRS):
        content = to_tensor(resize_long_side(load_image(shared / content_path), SIDE))
        style = to_tensor(resize_long_side(load_image(shared / style_path), SIDE))
        with torch.inference_mode():
            pictures = [content, style] + [
                run(content, [(style, 1.0)], 1.0) for run in passes.values()
            ]
        for col, picture in enumerate(pictures):
            key = f"{row}-{col}"
            results[key] = to_image(picture[0])
            cells.append(Cell(key, "", "", {}, "", row=row, col=col))
    note = f"{model.name} beside the AdaIN decoder; styles not in the training set"
    sheet = Sheet("artflow", "ArtFlow beside AdaIN and WCT", note, "", tuple(cells),
                  cols=("photograph", "style", *passes))  # fmt: skip
    picture, _ = render_sheet(sheet, note, results, results.__getitem__)
    small, quality = jpeg_copy(picture)
    small.save(target, quality=quality, subsampling=0)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="the run's -o (its files lie beside it)")
    args = parser.parse_args(argv)
    paths = TrainPaths.beside(args.model)
    IMAGES.mkdir(parents=True, exist_ok=True)
    print(loss_curve(paths.log, IMAGES / "artflow-loss.png"))
    print(sample_sheets(paths.samples, IMAGES / "artflow-samples.jpg"))
    print(comparison(args.model, IMAGES / "artflow-comparison.jpg"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
