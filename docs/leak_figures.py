"""Run ``painterly leak`` for every method and make the figures of docs/content-leak.md.

    PYTHONPATH=src python docs/leak_figures.py [--only adain,wct,gatys] [--out out/leak]

Each run is its own ``painterly leak`` process (its wall time is the user's); their outputs
go to ``--out``. Then the curves of the runs are drawn, several runs a figure, into
``docs/images/content-leak-*.png`` (:data:`FIGURES`), the sheets of :data:`SHEETS` copied to
``docs/images/content-leak-NAME.jpg`` (each ≤ 300 KB already) and the table of
docs/content-leak.md printed as Markdown. ``--only ""`` redraws from finished runs.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from painterly.io.files import write_atomically
from painterly.report.leak import plot_curves

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES, IMAGES = ROOT / "examples", ROOT / "docs" / "images"
CONTENT = EXAMPLES / "tubingen.jpg"
STYLES = (EXAMPLES / "starry_night.jpg", EXAMPLES / "the_scream.jpg")
# name → flags. The optimisation runs small and short: 20 rounds of 500 evaluations at
# 512 px would take hours on a CPU (here, on a shared 2-core machine, even 80 evaluations
# at 192 px did not finish in half an hour); every method is compared at 128 px anyway.
RUNS: dict[str, list[str]] = {
    "adain": ["--method", "adain", "--size", "192"],
    "wct": ["--method", "wct", "--size", "192"],
    "gatys": ["--method", "gatys", "--size", "128", "--iterations", "50"],
    "adain-128": ["--method", "adain", "--size", "128"],
    "wct-128": ["--method", "wct", "--size", "128"],
    "adain-512": ["--method", "adain", "--size", "512"],
    "wct-512": ["--method", "wct", "--size", "512"],
    "artflow-adain": ["--method", "artflow", "--size", "192"],
    "artflow-wct": ["--method", "artflow", "--transform", "wct", "--size", "192"],
    "adain-float": ["--method", "adain", "--size", "192", "--between", "float"],
    "wct-float": ["--method", "wct", "--size", "192", "--between", "float"],
    "artflow-adain-float": ["--method", "artflow", "--size", "192", "--between", "float"],
    "artflow-wct-float": [
        "--method",
        "artflow",
        "--transform",
        "wct",
        "--size",
        "192",
        "--between",
        "float",
    ],  # fmt: skip
}
FIGURES = {
    "curves": ("gatys", "adain", "wct"),
    "curves-artflow": ("artflow-adain", "artflow-wct", "artflow-adain-float", "artflow-wct-float"),
    "curves-float": ("adain-float", "wct-float", "artflow-adain-float", "artflow-wct-float"),
}
"""docs/images/content-leak-NAME.png → the runs drawn together in it (those that have been
run): the decoder methods through 8-bit images, artflow both ways, and all four one-pass
methods with float tensors between the rounds."""
SHEETS = ("gatys", "adain", "wct", "artflow-adain", "artflow-wct")
ROUNDS = 20
TABLE_ROUNDS = (1, 5, 10, 20)


def command(name: str, out: Path) -> list[str]:
    """The ``painterly leak`` command line of run ``name``."""
    return [
        sys.executable, "-m", "painterly", "leak", str(CONTENT), *map(str, STYLES),
        "--rounds", str(ROUNDS), "-o", str(out / name), "--overwrite", "-q", *RUNS[name],
    ]  # fmt: skip


def stem(name: str) -> str:
    """What ``painterly leak`` calls run ``name``'s files: METHOD[-TRANSFORM][-float]."""
    flags = RUNS[name]
    method = flags[1]
    if method == "artflow":
        given = flags.index("--transform") + 1 if "--transform" in flags else None
        method += "-" + (flags[given] if given else "adain")
    return f"{method}-float" if "--between" in flags else method


def report_of(out: Path, name: str) -> dict | None:
    """The JSON report of run ``name``, if it has been made."""
    path = out / name / f"{stem(name)}-leak.json"
    return json.loads(path.read_text()) if path.exists() else None


def table(out: Path) -> str:
    """The Markdown table of every finished run."""
    head = " | ".join(f"round {r} SSIM / edges" for r in TABLE_ROUNDS)
    lines = [
        f"| run | size | {head} | round trip SSIM / edges | wall |",
        "|---|---|" + "---|" * len(TABLE_ROUNDS) + "---|---|",
    ]
    for name in RUNS:
        report = report_of(out, name)
        if report is None:
            continue
        rounds = {r["round"]: r for r in report["rounds"]}
        cells = [f"{rounds[r]['ssim']:.2f} / {rounds[r]['edges']:.2f}" for r in TABLE_ROUNDS]
        trip = report["round_trip"]
        w, h = report["size"]
        lines.append(
            f"| {name} | {w}×{h} | {' | '.join(cells)} | {trip['ssim']:.2f} / "
            f"{trip['edges']:.2f} | {report['wall_seconds'] / 60:.1f} min |"
        )
    first = next((report_of(out, n) for n in RUNS if report_of(out, n)), None)
    if first is not None:
        base = first["style_vs_content"]
        lines.append(
            f"\nThe Starry Night itself against the photograph: SSIM {base['ssim']:.2f}, "
            f"edges {base['edges']:.2f}."
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(RUNS), help="comma-separated runs")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "leak")
    args = parser.parse_args()
    for name in [n for n in args.only.split(",") if n]:  # --only "": just the figures
        started = time.perf_counter()
        print(" ".join(command(name, args.out)), file=sys.stderr, flush=True)
        subprocess.run(command(name, args.out), check=True)
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    for figure, names in FIGURES.items():
        reports = [r for n in names if (r := report_of(args.out, n))]
        if reports:
            target = IMAGES / f"content-leak-{figure}.png"
            draw = functools.partial(plot_curves, reports)
            write_atomically(target, lambda temp, draw=draw: draw(Path(temp)), overwrite=True)
    for name in SHEETS:
        sheet = args.out / name / f"{stem(name)}-leak-sheet.jpg"
        if sheet.exists():
            shutil.copyfile(sheet, IMAGES / f"content-leak-{name}.jpg")
    print(table(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
