"""ArtFlow models judged by the loss they were trained on, beside the AdaIN decoder, on
images none of them trained on; and the speed of one pass beside AdaIN's, same run.

For each model file (as ``painterly train artflow`` writes them) and for AdaIN with the
genuine decoder, every content × style pair is stylised at ``--size`` px (the style at the
same long side), and the output judged by the training objective's terms: content, the
mean squared difference of relu4_1 from the photograph's; style, the squared differences
of the channel means and standard deviations at relu1_1 … relu4_1 from the painting's
(:func:`painterly.train.artflow.content_loss`, ``style_statistics_loss``, unweighted). The
styles are the five paintings of ``../shared/images``, which are not in the training set;
the contents are Tübingen (not in it either) and three of the dataset's photographs (in it).
Issue 16's style target is artflow's style loss within 1.5× of AdaIN's.

Speed: the best of ``--repeats`` passes of Tübingen with The Starry Night at ``--speed-size``
px, models loaded, one untimed warm-up; the ratio to AdaIN's (target: at most 4).

    PYTHONPATH=src python benchmarks/artflow_eval.py MODEL.safetensors [MODEL …]
        [--size 256] [--speed-size 512] [--repeats 3] [--threads 2] [--out FILE.jsonl]

One JSON line per model (and one for AdaIN) is appended to ``--out`` as it is measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import machine  # noqa: E402
from painterly.io.images import load_image, resize_long_side, to_tensor  # noqa: E402
from painterly.methods.adain import adaptive_instance_norm  # noqa: E402
from painterly.methods.artflow import TRANSFORMS, transfer  # noqa: E402
from painterly.methods.feedforward import ENCODER_WEIGHTS, decoder_pass  # noqa: E402
from painterly.models import load_encoder  # noqa: E402
from painterly.models.vgg import VGG19  # noqa: E402
from painterly.train.artflow import (  # noqa: E402
    CONTENT_LAYER,
    STYLE_LAYERS,
    content_loss,
    style_statistics_loss,
)
from painterly.train.store import load_flow  # noqa: E402

SHARED = ROOT.parent / "shared"
CONTENTS = (
    "images/content/tubingen.jpg",
    "datasets/photos/deb-lomiri-1.jpg",
    "datasets/photos/popos-12.jpg",
    "datasets/photos/skimage-2.jpg",
)
STYLES = tuple(
    f"images/style/{name}.jpg"
    for name in ("starry_night", "the_scream", "composition_vii", "shipwreck", "wave")
)
Stylise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(content 1×3×H×W, style 1×3×h×w) → the stylised content."""
SPEED_PAIR = ("images/content/tubingen.jpg", "images/style/starry_night.jpg")


def _image(path: str, size: int) -> torch.Tensor:
    return to_tensor(resize_long_side(load_image(SHARED / path), size))


def judge(stylise: Stylise, size: int, encoder: VGG19) -> dict[str, float]:
    """Mean content and style terms of ``stylise`` over every pair, at ``size`` px."""
    contents, styles = [], []
    for content_path in CONTENTS:
        content = _image(content_path, size)
        with torch.no_grad():
            target = encoder(content, [CONTENT_LAYER])[CONTENT_LAYER]
        for style_path in STYLES:
            style = _image(style_path, size)
            with torch.no_grad():
                out = stylise(content, style)
                features = encoder(out, STYLE_LAYERS)
                style_features = encoder(style, STYLE_LAYERS)
                contents.append(content_loss(features[CONTENT_LAYER], target).item())
                styles.append(style_statistics_loss(features, style_features).item())
    return {"content": statistics.fmean(contents), "style": statistics.fmean(styles)}


def speed(stylise: Stylise, size: int, repeats: int) -> float:
    """Best seconds of one pass at ``size`` px after a warm-up."""
    content, style = (_image(p, size) for p in SPEED_PAIR)
    stylise(content, style)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        stylise(content, style)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", type=Path, nargs="*")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--speed-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--transform", choices=tuple(TRANSFORMS), default="adain")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "artflow-eval.jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    where = machine()
    print(f"{where['cpu_kind']}, {args.threads} threads, torch {torch.__version__}", flush=True)
    device = torch.device("cpu")
    encoder = load_encoder(ENCODER_WEIGHTS, "max", "reflect", CONTENT_LAYER, device)
    adain_pass = decoder_pass(adaptive_instance_norm, device)
    runs = [("adain decoder", None, lambda c, s: adain_pass(c, [(s, 1.0)], 1.0))]
    transform = TRANSFORMS[args.transform]
    for model in args.models:
        flow = load_flow(model)
        runs.append(
            (str(model), flow, lambda c, s, f=flow: transfer(f, c, [(s, 1.0)], transform, 1.0))
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    reference: dict[str, float] = {}
    print("| model | width | content | style | style ÷ AdaIN's | s / pass | ÷ AdaIN's |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, flow, stylise in runs:
        losses = judge(stylise, args.size, encoder)
        seconds = speed(stylise, args.speed_size, args.repeats)
        reference = reference or {**losses, "seconds": seconds}
        record = {
            "model": name,
            "width": getattr(flow, "width", None),
            "transform": None if flow is None else args.transform,
            "size": args.size,
            "speed_size": args.speed_size,
            **losses,
            "seconds": seconds,
            "machine": where,
        }
        with args.out.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(
            f"| {name} | {record['width'] or '–'} | {losses['content']:.3f} | "
            f"{losses['style']:.3f} | {losses['style'] / reference['style']:.2f}× | "
            f"{seconds:.2f} | {seconds / reference['seconds']:.2f}× |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
