"""``painterly leak``: how much of the photograph survives repeated stylisation.

Content leak (An et al. 2021, "ArtFlow: Unbiased Image Style Transfer via Reversible
Neural Flows", CVPR 2021): when a stylised image is stylised again, and again, the
photograph's structure should stay put (only the painting's look should be re-applied),
but a method whose encoder-transform-decoder is biased loses a little content in every
pass, and the loss accumulates until the photograph has *leaked* away. Here each round's
output becomes the next round's content, the styles taken in turn, and after every round
the output is compared with the original photograph by :mod:`painterly.similarity` (SSIM of
luminance, Sobel edge agreement): a leak-free method keeps the round-1 figures flat, a leaky
one falls towards what the style image itself scores against the photograph. The round trip
stylises once, then stylises that result with the original photograph as the style, and
compares with the photograph: a reversible method would give it back.

Outputs, in the folder given with ``-o``: ``METHOD-leak.json`` (every figure),
``METHOD-leak-curve.png`` (the curves; needs matplotlib) and ``METHOD-leak-sheet.jpg``
(rounds 1, 5, 10, 20 and the round trip).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from painterly.errors import Interrupted, PainterlyError
from painterly.options import Options
from painterly.similarity import edge_agreement, ssim

Stylise = Callable[[Image.Image, Image.Image], Image.Image]
"""(content, style) → stylised image: one application of the method under test."""
SHEET_ROUNDS = (1, 5, 10, 20)


COMPARE_SIDE = 128
"""Long side, in pixels, at which outputs are compared with the photograph: one scale for
runs of every size, and one at which the photograph's shapes count, not the brush texture a
method paints over them (finer than the shapes at any output size worth comparing)."""


def compare(
    image: Image.Image, original: Image.Image, side: int = COMPARE_SIDE
) -> dict[str, float]:
    """SSIM of luminance and edge agreement of ``image`` with ``original``, both resized to
    ``image``'s shape at ``side`` px on its long side (never enlarged)."""
    scale = min(1.0, side / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    a, b = (
        im if im.size == size else im.resize(size, Image.Resampling.LANCZOS)
        for im in (image, original)
    )
    return {"ssim": ssim(a, b), "edges": edge_agreement(a, b)}


def continuous_rounds(
    content: Image.Image,
    styles: Sequence[Image.Image],
    stylise: Stylise,
    rounds: int,
    on_round: Callable[[dict], None] | None = None,
) -> tuple[list[Image.Image], list[dict]]:
    """Stylise ``rounds`` times, each output the next round's content, styles in turn.

    Returns the outputs and, per round, ``{"round", "style", "ssim", "edges", "seconds"}``
    measured against ``content``; ``on_round`` gets each record as it is made.
    """
    outputs, records, current = [], [], content
    for index in range(1, rounds + 1):
        style = (index - 1) % len(styles)
        started = time.perf_counter()
        current = stylise(current, styles[style])
        seconds = time.perf_counter() - started
        record = {"round": index, "style": style, **compare(current, content), "seconds": seconds}
        outputs.append(current)
        records.append(record)
        if on_round:
            on_round(record)
    return outputs, records


def round_trip(
    content: Image.Image, style: Image.Image, stylise: Stylise
) -> tuple[Image.Image, Image.Image, dict]:
    """Stylise ``content`` with ``style``, then the result with ``content`` as the style.

    Returns both images and the second's :func:`compare` with ``content`` (plus seconds).
    """
    started = time.perf_counter()
    there = stylise(content, style)
    back = stylise(there, content)
    return there, back, {**compare(back, content), "seconds": time.perf_counter() - started}


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
    from painterly.sheets import Cell, Picture, Sheet, render_sheet

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
            (line,) = axis.plot(rounds, values, marker="o", markersize=3, label=report["method"])
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
        raise PainterlyError(f"the output path '{out_dir}' is a file, not a folder")
    paths = output_paths(out_dir, method)
    existing = [p for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise PainterlyError(f"{existing[0]} already exists; pass --overwrite to replace it")
    return paths


def _parser() -> argparse.ArgumentParser:
    from painterly.cli import _Parser, add_image_arguments, add_option_flags

    parser = _Parser(
        prog="painterly leak",
        description="Measure content leak: stylise, feed the output back as the next "
        "round's content (styles in turn), and compare every round with the photograph "
        "(SSIM of luminance, Sobel edge agreement); also a round trip (stylise, then "
        "stylise the result with the photograph as the style).",
        argument_default=argparse.SUPPRESS,
    )
    add_image_arguments(parser)
    parser.add_argument(
        "-o", "--out-dir", required=True, help="folder for METHOD-leak.json, -curve.png, -sheet.jpg"
    )
    parser.add_argument(
        "--rounds", default="20", metavar="N", help="rounds of stylisation (default: 20)"
    )
    parser.add_argument(
        "--no-round-trip",
        dest="round_trip",
        action="store_false",
        default=True,
        help="skip the round-trip test",
    )
    parser.add_argument(
        "--overwrite", action="store_true", default=False, help="replace existing outputs"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=False, help="no progress lines"
    )
    add_option_flags(parser)
    return parser


def _rounds(text: str) -> int:
    try:
        rounds = int(text)
    except ValueError:
        raise PainterlyError(f"--rounds must be a whole number, not {text!r}") from None
    if not 1 <= rounds <= 1000:
        raise PainterlyError(f"--rounds must be between 1 and 1000, not {rounds}")
    return rounds


def command(argv: Sequence[str]) -> int:
    """``painterly leak CONTENT STYLE… -o DIR [--rounds N] [--method M] [options]``."""
    from painterly.api import run
    from painterly.cli import image_paths, load_inputs
    from painterly.images import write_atomically
    from painterly.reproduce import write_json
    from painterly.sheets import jpeg_copy

    args = vars(_parser().parse_args(argv))
    out_dir = Path(args.pop("out_dir"))
    rounds = _rounds(args.pop("rounds"))
    overwrite, quiet, with_trip = args.pop("overwrite"), args.pop("quiet"), args.pop("round_trip")
    content_path, style_paths = image_paths(args)
    if args.get("masks"):
        raise PainterlyError("painterly leak stylises the whole image; it takes no --mask")
    if args.get("style_blend"):
        raise PainterlyError(
            "painterly leak uses the styles in turn, one per round; no --style-blend"
        )
    options = Options.build(**args)
    paths = check_outputs(out_dir, options.method, overwrite)
    content, styles = load_inputs(content_path, style_paths)
    if not styles:
        raise PainterlyError("give at least one style image")

    def stylise(image: Image.Image, style: Image.Image) -> Image.Image:
        try:
            return run(image, style, options).image
        except Interrupted:
            raise KeyboardInterrupt from None

    def show(record: dict) -> None:
        if not quiet:
            print(
                f"round {record['round']}/{rounds}: SSIM {record['ssim']:.3f}, "
                f"edges {record['edges']:.3f} ({record['seconds']:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    started = time.perf_counter()
    outputs, records = continuous_rounds(content, styles, stylise, rounds, show)
    trip = None
    if with_trip:
        _, back, trip_record = round_trip(content, styles[0], stylise)
        trip = (back, trip_record)
        if not quiet:
            print(
                f"round trip: SSIM {trip_record['ssim']:.3f}, edges {trip_record['edges']:.3f}",
                file=sys.stderr,
            )
    unrelated = compare(styles[0].resize(outputs[0].size, Image.Resampling.LANCZOS), content)
    report = {
        "method": options.method,
        "content": content_path,
        "styles": style_paths,
        "rounds": records,
        "round_trip": trip[1] if trip else None,
        "style_vs_content": unrelated,
        "compare_side": COMPARE_SIDE,
        "size": list(outputs[0].size),
        "options": {k: v for k, v in args.items()},
        "wall_seconds": time.perf_counter() - started,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    note = (
        f"{options.method} at {outputs[0].width}x{outputs[0].height} px; each round stylises "
        "the previous round's output; SSIM of luminance and edge agreement with the photograph "
        f"at {COMPARE_SIDE} px (1 = all of it)"
    )
    sheet = draw_sheet(
        f"Content leak: {options.method}, {rounds} rounds", note, content, styles, outputs,
        records, trip,
    )  # fmt: skip
    small, quality = jpeg_copy(sheet)
    write_atomically(
        paths["sheet"],
        lambda temp: small.save(temp, format="JPEG", quality=quality, subsampling=0),
        overwrite,
    )
    try:
        write_atomically(paths["curve"], lambda temp: plot_curves([report], Path(temp)), overwrite)
        report["curve"] = paths["curve"].name
    except ImportError:
        report["curve"] = None
        print("painterly: note: no curve drawn: matplotlib is not installed", file=sys.stderr)
    write_json(report, paths["json"])
    print(paths["json"])
    return 0
