"""The figures of docs/artflow.md from a training run's files: the loss curve from its loss
log (JSON lines) and its latest sample sheet, both into docs/images.

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
from PIL import Image  # noqa: E402

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


def latest_samples(folder: Path, target: Path) -> Path:
    """The sample sheet of the latest iteration, as a JPEG."""
    sheets = sorted(folder.glob("iter-*.png"))
    if not sheets:
        raise SystemExit(f"no sample sheets in {folder}")
    Image.open(sheets[-1]).convert("RGB").save(target, quality=88)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="the run's -o (its files lie beside it)")
    args = parser.parse_args(argv)
    paths = TrainPaths.beside(args.model)
    IMAGES.mkdir(parents=True, exist_ok=True)
    print(loss_curve(paths.log, IMAGES / "artflow-loss.png"))
    print(latest_samples(paths.samples, IMAGES / "artflow-samples.jpg"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
