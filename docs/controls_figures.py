"""Make the example images of docs/controls.md and measure how uniform ``--strength`` is.

    PYTHONPATH=src python docs/controls_figures.py [--only NAMES] [--device cpu]

Writes ``docs/images/controls-NAME.jpg`` (each at most 300 KB) for the figures named
(default: all of colour, blend, scale, regions, strength) and, for ``strength``, prints
the balance figures of docs/controls.md as a Markdown table; ``transfer`` (no image)
prints the retention that strength gives at twice the pilots' size. ``painterly sweep`` makes
the sweep example itself (the command is in docs/controls.md).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from torch.nn import functional as F

from painterly import Options, run
from painterly.controls.strength import retention
from painterly.engine.runtime import select_device
from painterly.io.images import load_image, save_image, to_tensor
from painterly.models import load_encoder
from painterly.report.sheets import Cell, Picture, Sheet, jpeg_copy, render_sheet

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES, IMAGES = ROOT / "examples", ROOT / "docs" / "images"
SIZE, ITERATIONS = 128, 100
"""Size and L-BFGS evaluations of the example images."""
STUDY_SIZE, STUDY_ITERATIONS = 128, 100
"""Size and evaluations of the 3 × 3 strength experiment."""
STRENGTH, FIXED_RATIO = 0.3, 1e-3
"""The experiment's strength and the fixed α/β it is compared with: on these pairs both give
a retention of about 0.7 on average, so the comparison is of spreads at the same look."""
CONTENTS = ("tubingen.jpg", "rocket.jpg", "wave.jpg")
STYLES = ("starry_night.jpg", "the_scream.jpg", "composition_vii.jpg")
NAMES = {
    "tubingen.jpg": "Tübingen",
    "rocket.jpg": "Falcon 9",
    "wave.jpg": "The Great Wave",
    "starry_night.jpg": "The Starry Night",
    "the_scream.jpg": "The Scream",
    "composition_vii.jpg": "Composition VII",
    "tubingen_sky.png": "mask: sky",
    "tubingen_ground.png": "mask: the rest",
}


@dataclass(frozen=True)
class Run:
    """One image of a figure: its grid place, caption, inputs and options."""

    row: int
    col: int
    caption: str
    content: str = "tubingen.jpg"
    styles: tuple[str, ...] = ("starry_night.jpg",)
    settings: dict[str, object] = field(default_factory=dict)


def _image(file: str) -> Image.Image:
    return load_image(EXAMPLES / file, file)


def _options(run_: Run, size: int, iterations: int, device: str) -> Options:
    settings = dict(run_.settings)
    if "masks" in settings:
        settings["masks"] = [f"{EXAMPLES / m}:{EXAMPLES / s}" for m, s in settings["masks"]]
    return Options.build(size=size, iterations=iterations, device=device, **settings)


def _render(runs: list[Run], size: int, iterations: int, device: str) -> dict[str, object]:
    results = {}
    for r in runs:
        started = time.monotonic()
        options = _options(r, size, iterations, device)
        styles = [] if options.masks else [_image(s) for s in r.styles]
        results[f"{r.row}-{r.col}"] = run(_image(r.content), styles, options)
        print(f"  {r.caption!r}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    return results


def _save(name: str, title: str, note: str, runs: list[Run], results, pictures, rows, cols):
    sheet = Sheet(
        name=name,
        title=title,
        note=note,
        stages="",
        cells=tuple(
            Cell(
                f"{r.row}-{r.col}",
                r.content,
                r.styles[0],
                r.settings,
                r.caption,
                r.row,
                r.col,
                r.caption,
            )
            for r in runs
        ),
        pictures=tuple(Picture(file, NAMES.get(file, file)) for file in pictures),
        rows=rows,
        cols=cols,
    )
    images = {key: result.image for key, result in results.items()}
    picture, _ = render_sheet(sheet, note, images, _image)
    jpeg, quality = jpeg_copy(picture)
    path = save_image(jpeg, IMAGES / f"controls-{name}.jpg", overwrite=True, quality=quality)
    print(path)


def colour(device: str) -> None:
    runs = [
        Run(0, 0, "no colour control", styles=("the_scream.jpg",)),
        Run(
            0,
            1,
            "--preserve-color luminance",
            styles=("the_scream.jpg",),
            settings={"preserve_color": "luminance"},
        ),
        Run(
            0,
            2,
            "--preserve-color histogram",
            styles=("the_scream.jpg",),
            settings={"preserve_color": "histogram"},
        ),
    ]
    results = _render(runs, SIZE, ITERATIONS, device)
    _save(
        "colour",
        "Colour: the content's colours with the style's strokes (Gatys et al. 2017 §5)",
        f"Tübingen in the style of The Scream, α/β = 1e-3, {SIZE} px.",
        runs,
        results,
        ("tubingen.jpg", "the_scream.jpg"),
        (),
        (),
    )


def blend(device: str) -> None:
    pair = ("starry_night.jpg", "the_scream.jpg")
    runs = [
        Run(0, 0, "The Starry Night only"),
        Run(0, 1, "--style-blend 0.7,0.3", styles=pair, settings={"style_blend": "0.7,0.3"}),
        Run(0, 2, "--style-blend 0.3,0.7", styles=pair, settings={"style_blend": "0.3,0.7"}),
        Run(0, 3, "The Scream only", styles=("the_scream.jpg",)),
    ]
    results = _render(runs, SIZE, ITERATIONS, device)
    _save(
        "blend",
        "Several styles: Gram targets mixed by weight",
        f"Tübingen, α/β = 1e-3, {SIZE} px: "
        "painterly tubingen.jpg starry_night.jpg the_scream.jpg --style-blend 0.7,0.3",
        runs,
        results,
        ("tubingen.jpg", *pair),
        (),
        (),
    )


def scale(device: str) -> None:
    runs = [
        Run(0, col, f"--style-scale {s:g}", settings={"style_scale": s})
        for col, s in enumerate((0.5, 1.0, 2.0))
    ]
    runs += [
        Run(1, 0, "conv1_1, conv2_1", settings={"style_layers": "conv1_1,conv2_1"}),
        Run(1, 1, "conv1_1 … conv3_1", settings={"style_layers": "conv1_1,conv2_1,conv3_1"}),
        Run(1, 2, "conv1_1 … conv5_1 (paper)", settings={}),
    ]
    results = _render(runs, SIZE, ITERATIONS, device)
    _save(
        "scale",
        "Scale: how big the brush strokes are",
        f"Tübingen in the style of The Starry Night, α/β = 1e-3, {SIZE} px. Top: the "
        "style image's size relative to the output. Bottom: the style layers matched (equal "
        "weights); deeper layers add larger structures.",
        runs,
        results,
        ("tubingen.jpg", "starry_night.jpg"),
        ("--style-scale", "--style-layers"),
        (),
    )


def regions(device: str) -> None:
    sky, ground = "tubingen_sky.png", "tubingen_ground.png"
    runs = [
        Run(0, 0, "--mask sky:starry_night", settings={"masks": [(sky, "starry_night.jpg")]}),
        Run(
            0,
            1,
            "… --mask rest:the_scream",
            settings={"masks": [(sky, "starry_night.jpg"), (ground, "the_scream.jpg")]},
        ),
    ]
    results = _render(runs, SIZE, ITERATIONS, device)
    _save(
        "regions",
        "Regions: a style per mask (Gatys et al. 2017 §4)",
        f"Tübingen, α/β = 1e-3, {SIZE} px. Left: only the sky is painted, the rest "
        "keeps the photograph. Right: the rest in The Scream's style.",
        runs,
        results,
        ("tubingen.jpg", sky, "starry_night.jpg", "the_scream.jpg"),
        (),
        (),
    )


@dataclass
class Balance:
    """The balance figures of one finished run (see docs/controls.md)."""

    retention: float
    similarity: float
    weighted_ratio: float


def balance(content: str, style: str, result, device: str) -> Balance:
    """ρ, the cosine similarity of conv4_2 features with the content's, and α L_c / β L_s."""
    o = result.options
    dev = select_device(device)
    encoder = load_encoder(o.weights, o.pooling, "zeros", "conv4_2", dev)
    size = result.image.size

    def features(img: Image.Image) -> torch.Tensor:
        tensor = to_tensor(img.resize(size, Image.Resampling.LANCZOS)).to(dev)
        with torch.no_grad():
            return encoder(tensor, ["conv4_2"])["conv4_2"].flatten()

    target = features(_image(content))

    def similarity(img: Image.Image) -> float:
        return F.cosine_similarity(features(img), target, dim=0).item()

    cos = similarity(result.image)
    return Balance(
        retention(cos, similarity(_image(style))),
        cos,
        result.losses["content"] / result.losses["style"],
    )


def _spread(values: list[float], log: bool) -> tuple[float, float]:
    xs = [math.log10(v) for v in values] if log else values
    return max(xs) - min(xs), statistics.pstdev(xs)


def study(size: int, device: str) -> tuple[list[Run], dict[str, object], dict]:
    """Run the 3 × 3 pairs at ``size`` px, once at α/β = FIXED_RATIO and once at STRENGTH;
    print their balance figures as a Markdown table and the spreads over the pairs."""
    runs = []
    for row, content in enumerate(CONTENTS):
        for col, style in enumerate(STYLES):
            runs.append(
                Run(row, col, f"α/β = {FIXED_RATIO:g}", content, (style,), {"ratio": FIXED_RATIO})
            )
            runs.append(
                Run(row, col + 3, f"strength {STRENGTH}", content, (style,), {"strength": STRENGTH})
            )
    results = _render(runs, size, STUDY_ITERATIONS, device)
    figures = {
        (r.row, r.col): balance(r.content, r.styles[0], results[f"{r.row}-{r.col}"], device)
        for r in runs
    }
    print(f"{size} px, {STUDY_ITERATIONS} evaluations:")
    print(
        "| content | style | fixed: ρ | cos | αL_c/βL_s | strength: ρ | cos | αL_c/βL_s | its α/β |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row, content in enumerate(CONTENTS):
        for col, style in enumerate(STYLES):
            f, s = figures[(row, col)], figures[(row, col + 3)]
            ratio = results[f"{row}-{col + 3}"].options.ratio
            print(
                f"| {NAMES[content]} | {NAMES[style]} | {f.retention:.3f} | "
                f"{f.similarity:.3f} | {f.weighted_ratio:.3g} | {s.retention:.3f} | "
                f"{s.similarity:.3f} | {s.weighted_ratio:.3g} | {ratio:.2g} |"
            )
    print()
    for label, attribute, log in (
        ("retention ρ", "retention", False),
        ("cosine similarity at conv4_2", "similarity", False),
        ("α L_c / β L_s (decades)", "weighted_ratio", True),
    ):
        fixed, calibrated = (
            _spread(
                [getattr(figures[(r, c + shift)], attribute) for r in range(3) for c in range(3)],
                log,
            )
            for shift in (0, 3)
        )
        print(
            f"{label}: range {fixed[0]:.3f} (std {fixed[1]:.3f}) at α/β = {FIXED_RATIO:g}, "
            f"{calibrated[0]:.3f} (std {calibrated[1]:.3f}) at strength {STRENGTH}: "
            f"range {fixed[0] / calibrated[0]:.1f}× smaller, std "
            f"{fixed[1] / calibrated[1]:.1f}× smaller"
        )
    return runs, results, figures


def strength(device: str) -> None:
    """The 3 × 3 experiment at the pilots' own size, and its sheet."""
    runs, results, figures = study(STUDY_SIZE, device)
    captioned = [
        Run(
            r.row,
            r.col,
            f"ρ = {figures[(r.row, r.col)].retention:.2f}",
            r.content,
            r.styles,
            r.settings,
        )
        for r in runs
    ]
    _save(
        "strength",
        f"Fixed α/β = {FIXED_RATIO:g} (left) against --strength {STRENGTH} (right)",
        f"Each pair at {STUDY_SIZE} px, {STUDY_ITERATIONS} L-BFGS evaluations from noise. Under "
        "each image its retention ρ of the photograph's structure (1: the photograph, 0: as "
        "unlike it as the painting); strength 0.3 asks for ρ = 0.7.",
        captioned,
        results,
        (),
        tuple(NAMES[c] for c in CONTENTS),
        tuple(f"α/β {FIXED_RATIO:g}: {NAMES[s]}" for s in STYLES)
        + tuple(f"strength {STRENGTH}: {NAMES[s]}" for s in STYLES),
    )


def transfer(device: str) -> None:
    """The same experiment at twice the pilots' size (no image): does the α/β found at 128 px
    still give every pair the same retention at 256 px?"""
    study(2 * STUDY_SIZE, device)


FIGURES = {
    "colour": colour,
    "blend": blend,
    "scale": scale,
    "regions": regions,
    "strength": strength,
    "transfer": transfer,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="colour,blend,scale,regions,strength", help="comma-separated figures"
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    for name in args.only.split(","):
        started = time.monotonic()
        print(f"{name}:", file=sys.stderr)
        FIGURES[name](args.device)
        print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
