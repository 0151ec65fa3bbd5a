"""Make the sheets and the table of docs/photorealistic.md: four photo pairs, six ways.

    PYTHONPATH=src python docs/photoreal_figures.py [--size 512] [--only day-dusk,…]

For each pair (:data:`PAIRS`) the photograph is stylised by plain gatys (painterly's
defaults) and by each method under ``--photorealistic`` (gatys: Luan et al.'s two steps with
the matting term; the one-pass methods: the fast smoothing of Li et al. 2018; all: the style's
chroma last), and by adain and wct with the exact smoothing. Each result's wall time, its
edge correlation with the photograph (:func:`painterly.report.similarity.edge_agreement` at
the output's size) and how far its colours moved towards the style's (:func:`colour_moved`)
go to ``out/photoreal/results.jsonl`` as they are made, so a stopped run keeps them; the
sheets go to ``docs/images/photoreal-PAIR.jpg`` (each ≤ 300 KB) and the table is printed as
Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import machine  # noqa: E402
from painterly import Options, run  # noqa: E402
from painterly.io.files import write_atomically  # noqa: E402
from painterly.io.images import load_image  # noqa: E402
from painterly.report.sheets import Cell, Picture, Sheet, jpeg_copy, render_sheet  # noqa: E402
from painterly.report.similarity import edge_agreement  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "datasets" / "photos"
IMAGES = ROOT / "docs" / "images"
# name → (content, style, what the pair asks for). Sources and licences: the datasets'
# SOURCES.md (docs/photorealistic.md credits each file).
PAIRS = {
    "day-dusk": (PHOTOS / "kodak-21.jpg", PHOTOS / "elementary-3.jpg", "day → dusk"),
    "summer-autumn": (PHOTOS / "deb-plasma-10.jpg", PHOTOS / "deb-plasma-6.jpg", "summer → autumn"),
    "warm-cool": (PHOTOS / "skimage-3.jpg", PHOTOS / "deb-plasma-4.jpg", "indoor warm → cool"),
    "old-film": (ROOT / "examples" / "tubingen.jpg", PHOTOS / "skimage-5.jpg", "an old film look"),
}
# caption → options (over --size); gatys runs painterly's default 500 evaluations, and
# --photorealistic with gatys that plain run and then the photo preset's 1000.
WAYS = {
    "gatys": {"method": "gatys"},
    "gatys --photorealistic": {"method": "gatys", "photorealistic": True},
    "adain --photorealistic": {"method": "adain", "photorealistic": True},
    "wct --photorealistic": {"method": "wct", "photorealistic": True},
    "artflow --photorealistic": {"method": "artflow", "photorealistic": True},
    "adain --photorealistic --photo-smooth exact": {
        "method": "adain", "photorealistic": True, "photo_smooth": "exact",
    },
    "wct --photorealistic --photo-smooth exact": {
        "method": "wct", "photorealistic": True, "photo_smooth": "exact",
    },
}  # fmt: skip


def lab_ab(image: Image.Image) -> np.ndarray:
    """The a* and b* of every pixel (CIE L*a*b*, D65, via OpenCV), 2 × N."""
    import cv2

    rgb = np.asarray(image.convert("RGB"), np.float32) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., 1:].reshape(-1, 2).T


def colour_moved(output: Image.Image, content: Image.Image, style: Image.Image) -> float:
    """How far the output's colours went from the content's towards the style's: 1 −
    W(output, style) / W(content, style), W the 1-D Wasserstein distance of a* plus that of
    b* (scipy). 0: the content's colours, 1: the style's; the target is ≥ 0.5."""
    from scipy.stats import wasserstein_distance

    def distance(a: Image.Image, b: Image.Image) -> float:
        return sum(wasserstein_distance(x, y) for x, y in zip(lab_ab(a), lab_ab(b), strict=True))

    return 1.0 - distance(output, style) / distance(content, style)


def make(
    content: Image.Image,
    style: Image.Image,
    size: int,
    settings: dict,
    pair: str,
    way: str,
    log: Path,
) -> tuple[Image.Image, float]:
    """Run one way on one pair, append its record to ``log``; the image and its seconds."""
    started = time.perf_counter()
    image = run(content, style, Options.build(size=size, **settings)).image
    seconds = time.perf_counter() - started
    target = content.resize(image.size, Image.Resampling.LANCZOS)
    record = {
        "pair": pair, "way": way, "size": list(image.size), "seconds": seconds,
        "edges": edge_agreement(image, target),
        "colour_moved": colour_moved(image, target, style),
        "cpu": machine()["cpu_kind"],
    }  # fmt: skip
    with log.open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(json.dumps(record), file=sys.stderr, flush=True)
    return image, seconds


def records(log: Path) -> dict[tuple[str, str], dict]:
    """The last record of every (pair, way) in ``log``."""
    last = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        last[(record["pair"], record["way"])] = record
    return last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--only", default=",".join(PAIRS))
    parser.add_argument(
        "--ways", default=",".join(WAYS), help="the ways to run; the others are drawn from --out"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "photoreal")
    args = parser.parse_args()
    ways = args.ways.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "results.jsonl"
    print(f"# {machine()['cpu_kind']}, --size {args.size}", file=sys.stderr)
    for name in args.only.split(","):
        content_path, style_path, title = PAIRS[name]
        content, style = load_image(content_path), load_image(style_path)
        results, cells = {}, []
        earlier = records(log) if set(WAYS) - set(ways) else {}
        for i, (caption, settings) in enumerate(WAYS.items()):
            key = f"{name}-{i}"
            if caption in ways:
                image, seconds = make(content, style, args.size, settings, name, caption, log)
                image.save(args.out / f"{key}.png")
            else:  # drawn from the earlier run's image and record
                image = Image.open(args.out / f"{key}.png").convert("RGB")
                seconds = earlier[(name, caption)]["seconds"]
            results[key] = image
            at = i + 2  # after the photograph and the style
            label = (
                f"{caption}, {seconds:.0f} s" if seconds >= 10 else f"{caption}, {seconds:.1f} s"
            )
            cells.append(
                Cell(key, "", "", settings, caption, row=at // 4, col=at % 4, caption=label)
            )
        pictures = (
            Picture(str(content_path), "photograph", row=0, col=0),
            Picture(str(style_path), "style", row=0, col=1),
        )
        sheet = Sheet(
            name=f"photoreal-{name}",
            title=f"Photorealistic transfer: {title}",
            note=f"{args.size} px on {machine()['cpu_kind']}",
            stages="",
            cells=tuple(cells),
            pictures=pictures,
        )
        picture, _ = render_sheet(sheet, sheet.note, results, lambda n: load_image(n))
        small, quality = jpeg_copy(picture)
        write_atomically(
            IMAGES / f"photoreal-{name}.jpg",
            lambda temp, small=small, quality=quality: small.save(
                temp, format="JPEG", quality=quality, subsampling=0
            ),
            overwrite=True,
        )
    print_table(log)
    return 0


def print_table(log: Path) -> None:
    """The Markdown table of the last record of every (pair, way) in ``log``."""
    print("| pair | way | edges | colour moved | wall |\n|---|---|---|---|---|")
    for (pair, way), r in records(log).items():
        edges, moved = f"{r['edges']:.2f}", f"{r['colour_moved']:.2f}"
        print(f"| {pair} | {way} | {edges} | {moved} | {r['seconds']:.1f} s |")


if __name__ == "__main__":
    sys.exit(main())
