"""``painterly leak``: how much of the photograph survives repeated stylisation.

Content leak (An et al. 2021, "ArtFlow: Unbiased Image Style Transfer via Reversible
Neural Flows", CVPR 2021): when a stylised image is stylised again, and again, the
photograph's structure should stay put (only the painting's look should be re-applied),
but a method whose encoder-transform-decoder is biased loses a little content in every
pass, and the loss accumulates until the photograph has *leaked* away. Here each round's
output becomes the next round's content, the styles taken in turn, and after every round
the output is compared with the original photograph by :mod:`painterly.report.similarity` (SSIM of
luminance, Sobel edge agreement): a leak-free method keeps the round-1 figures flat, a leaky
one falls towards what the style image itself scores against the photograph. The round trip
stylises once, then stylises that result with the original photograph as the style, and
compares with the photograph: a reversible method would give it back.

Outputs, in the folder given with ``-o``: ``METHOD-leak.json`` (every figure),
``METHOD-leak-curve.png`` (the curves; needs matplotlib) and ``METHOD-leak-sheet.jpg``
(rounds 1, 5, 10, 20 and the round trip).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from PIL import Image

from painterly.errors import PainterlyError, printable
from painterly.report.artefacts import summary
from painterly.report.similarity import edge_agreement, ssim

State = TypeVar("State")
"""What one round hands to the next: an image, or a float tensor."""
SHEET_ROUNDS = (1, 5, 10, 20)


COMPARE_SIDE = 128
"""Long side, in pixels, at which outputs are compared with the photograph: one scale for
runs of every size, and one at which the photograph's shapes count, not the brush texture a
method paints over them (finer than the shapes at any output size worth comparing)."""


def compare(
    image: Image.Image, original: Image.Image, side: int = COMPARE_SIDE
) -> dict[str, float]:
    """SSIM of luminance and edge agreement of ``image`` with ``original``, both resized to
    ``image``'s shape at ``side`` px on its long side (never enlarged).

    ``original`` is first resized to ``image``'s size, as a method receives it (Lanczos, as
    the methods resize their content), so that an output that *is* its input scores 1.0
    instead of what two different resampling paths to ``side`` px differ by (SSIM 0.999).
    """
    if original.size != image.size:
        original = original.resize(image.size, Image.Resampling.LANCZOS)
    scale = min(1.0, side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    a, b = (
        im if im.size == size else im.resize(size, Image.Resampling.LANCZOS)
        for im in (image, original)
    )
    return {"ssim": ssim(a, b), "edges": edge_agreement(a, b)}


def _same(image: Any) -> Image.Image:
    return image


def continuous_rounds(
    content: State,
    styles: Sequence[State],
    stylise: Callable[[State, State], State],
    rounds: int,
    on_round: Callable[[dict], None] | None = None,
    picture: Callable[[State], Image.Image] = _same,
    original: Image.Image | None = None,
) -> tuple[list[Image.Image], list[dict]]:
    """Stylise ``rounds`` times, each output the next round's content, styles in turn.

    ``content`` and ``styles`` are images, or whatever ``stylise`` takes (float tensors,
    so that no round is rounded to 8 bits), ``picture`` making an image of each output for
    the measures. Returns the outputs' pictures and, per round, ``{"round", "style", "ssim",
    "edges", "seconds", "speckle", "grid"}``: similarity measured against ``original``
    (default: ``content``), and the artefacts of the output
    (:mod:`painterly.report.artefacts`, speckle where ``original`` is flat); ``on_round``
    gets each record as it is made.
    """
    photo = cast(Image.Image, content) if original is None else original
    outputs, records, current = [], [], content
    for index in range(1, rounds + 1):
        style = (index - 1) % len(styles)
        started = time.perf_counter()
        current = stylise(current, styles[style])
        seconds = time.perf_counter() - started
        shown = picture(current)
        record = {
            "round": index,
            "style": style,
            **compare(shown, photo),
            "seconds": seconds,
            **summary(shown, photo),
        }
        outputs.append(shown)
        records.append(record)
        if on_round:
            on_round(record)
    return outputs, records


def round_trip(
    content: State,
    style: State,
    stylise: Callable[[State, State], State],
    picture: Callable[[State], Image.Image] = _same,
    original: Image.Image | None = None,
) -> tuple[Image.Image, Image.Image, dict]:
    """Stylise ``content`` with ``style``, then the result with ``content`` as the style
    (images, or what ``stylise`` takes, as for :func:`continuous_rounds`).

    Returns both pictures and the second's :func:`compare` with ``original`` (default:
    ``content``), plus seconds.
    """
    photo = cast(Image.Image, content) if original is None else original
    started = time.perf_counter()
    there = stylise(content, style)
    back = stylise(there, content)
    seconds = time.perf_counter() - started
    return picture(there), picture(back), {**compare(picture(back), photo), "seconds": seconds}


def sheet_rounds(rounds: int) -> list[int]:
    """The rounds shown on the sheet: 1, 5, 10, 20 where run, and always the last."""
    shown = [r for r in SHEET_ROUNDS if r <= rounds]
    return shown if rounds in shown else [*shown, rounds]


def draw_sheet(
    title: str,
    note: str,
    content: Image.Image,
    styles: Sequence[Image.Image],
    outputs: Sequence[Image.Image],
    records: Sequence[dict],
    trip: tuple[Image.Image, dict] | None,
) -> Image.Image:
    """The contact sheet: inputs on top, then the chosen rounds and the round trip."""
    from painterly.report.sheets import Cell, Picture, Sheet, render_sheet

    pictures = {"content": content} | {f"style{i + 1}": s for i, s in enumerate(styles)}
    shown = sheet_rounds(len(outputs))
    results = {f"round{r}": outputs[r - 1] for r in shown}
    cells = [
        Cell(
            id=f"round{r}", content="", style="", settings={}, label="", col=i,
            caption=f"SSIM {records[r - 1]['ssim']:.2f}, edges {records[r - 1]['edges']:.2f}",
        )
        for i, r in enumerate(shown)
    ]  # fmt: skip
    cols = [f"round {r}" for r in shown]
    if trip is not None:
        results["trip"] = trip[0]
        cells.append(
            Cell(
                id="trip", content="", style="", settings={}, label="", col=len(shown),
                caption=f"SSIM {trip[1]['ssim']:.2f}, edges {trip[1]['edges']:.2f}",
            )
        )  # fmt: skip
        cols.append("round trip")
    sheet = Sheet(
        name="leak",
        title=title,
        note=note,
        stages="",
        cells=tuple(cells),
        pictures=tuple(
            Picture(name, "photograph" if name == "content" else f"style {name[5:]}")
            for name in pictures
        ),
        cols=tuple(cols),
    )
    image, _ = render_sheet(sheet, note, results, pictures.__getitem__)
    return image


def plot_curves(reports: Sequence[dict], path: Path) -> None:
    """SSIM and edge agreement against the round, one line per report (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    for key, axis, label in (
        ("ssim", axes[0], "SSIM of luminance"),
        ("edges", axes[1], "edge agreement (Sobel, r)"),
    ):
        for report in reports:
            rounds = [r["round"] for r in report["rounds"]]
            values = [r[key] for r in report["rounds"]]
            name = report.get("label", report["method"])  # reports before labels had none
            (line,) = axis.plot(rounds, values, marker="o", markersize=3, label=name)
            trip = report.get("round_trip")
            if trip:
                axis.axhline(trip[key], color=line.get_color(), linestyle=":", linewidth=1)
        axis.set_xlabel("round")
        axis.set_ylabel(label)
        axis.set_ylim(-0.1, 1)  # edge agreement is a correlation and can go below 0
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    axes[0].legend(title="method (dotted: round trip)", fontsize=8, title_fontsize=8)
    fig.suptitle("Content kept after repeated stylisation (1 = the photograph)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def output_paths(out_dir: Path, method: str) -> dict[str, Path]:
    """The files a run writes in ``out_dir``."""
    stem = out_dir / f"{method}-leak"
    return {
        "json": stem.with_suffix(".json"),
        "curve": Path(f"{stem}-curve.png"),
        "sheet": Path(f"{stem}-sheet.jpg"),
    }


def check_outputs(out_dir: Path, method: str, overwrite: bool) -> dict[str, Path]:
    """The output paths, refusing a file in place of the folder or existing outputs."""
    if out_dir.exists() and not out_dir.is_dir():
        raise PainterlyError(f"the output path '{printable(out_dir)}' is a file, not a folder")
    paths = output_paths(out_dir, method)
    existing = [p for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise PainterlyError(
            f"{printable(existing[0])} already exists; pass --overwrite to replace it"
        )
    return paths
