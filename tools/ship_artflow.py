"""Make the ArtFlow model that ships with painterly from a training run's model file.

    PYTHONPATH=src python tools/ship_artflow.py out/artflow-w64/artflow.safetensors

Stores the flow in src/painterly/models/trained/artflow.safetensors as float16 if that
changes no pixel of a 256 px stylisation of the bundled example by more than MAX_CHANGE
levels of 255, else as float32 (either way the flow computes in float32, so it stays exactly
invertible); keeps the run's settings and length as metadata (without this machine's folder
names) and prints the SHA-256 and the ``made`` line for the registry
(painterly.models.weights.TRAINED).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import safetensors
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import machine  # noqa: E402
from painterly.io.images import load_image, resize_long_side, to_tensor  # noqa: E402
from painterly.methods.artflow import TRANSFORMS, transfer  # noqa: E402
from painterly.models.weights import TRAINED, TRAINED_DIR  # noqa: E402
from painterly.train.store import TrainPaths, load_flow, save_flow  # noqa: E402

MAX_CHANGE = 2.0
"""Largest change float16 storage may make to a pixel of the check (levels of 255)."""
SIDE = 256


def _check_image(name: str) -> torch.Tensor:
    return to_tensor(resize_long_side(load_image(ROOT / "examples" / name), SIDE))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the run's model file (float32)")
    args = parser.parse_args()
    flow = load_flow(args.model)
    with safetensors.safe_open(str(args.model), "pt") as file:
        metadata = dict(file.metadata())
    config = json.loads(metadata["config"])
    for key in ("content_dir", "style_dir"):
        config[key] = Path(config[key]).name
    log = TrainPaths.beside(args.model).log
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    hours = records[-1]["seconds"] / 3600
    cpu = machine()["cpu_kind"]
    made = (
        f"painterly train artflow --width {config['width']} --crop {config['crop']} --batch "
        f"{config['batch']} --lr {config['learning_rate']} (seed {config['seed']}), "
        f"{metadata['iterations']} iterations in {hours:.1f} h on {cpu}"
    )
    target = TRAINED_DIR / TRAINED["artflow"].file
    target.parent.mkdir(exist_ok=True)
    info = {"config": json.dumps(config), "iterations": metadata["iterations"], "made": made}
    content, style = _check_image("tubingen.jpg"), _check_image("starry_night.jpg")
    reference = transfer(flow, content, [(style, 1.0)], TRANSFORMS["adain"], 1.0)
    for dtype in (torch.float16, torch.float32):
        save_flow(flow, target, {**info, "stored": str(dtype)}, overwrite=True, dtype=dtype)
        shipped = transfer(load_flow(target), content, [(style, 1.0)], TRANSFORMS["adain"], 1.0)
        change = (reference - shipped).abs() * 255
        print(
            f"{dtype}: the check stylisation changes by {change.mean():.3f} levels of 255 on"
            f" average, {change.max():.2f} at most"
        )
        if change.max() <= MAX_CHANGE:
            break
        print(f"more than {MAX_CHANGE} levels: {dtype} does not hold the quality")
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"{target} ({target.stat().st_size / 1e6:.2f} MB)")
    print(f'_ARTFLOW_SHA256 = "{digest}"')
    print(f'_ARTFLOW_MADE = "{made}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
