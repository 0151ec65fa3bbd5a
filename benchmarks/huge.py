"""A print-size run, measured: each stage's time and peak memory beside the estimate that
:func:`painterly.estimate` gave before it started, and the seam figure of the result.

The seam figure compares the image's mean step between neighbouring pixels across the
borders of the last stage's tile grid with its mean step everywhere: 1.0 means the borders
are like any other column or row; a seam shows as a ratio above 1. (A tiled optimisation
moves its grid at random each evaluation, so its borders are measured where the grid sits
unshifted; a one-pass method's grid does not move.)

One JSON line per record is appended to ``OUT/huge.jsonl`` as soon as it is measured (the
estimate, each stage as it ends, the result), so a stopped run keeps what it measured; the
image goes to ``OUT/<name>.png`` and, with ``--figures DIR``, a downscaled copy and a
full-resolution crop around a meeting of tile borders go to ``DIR`` as JPEGs::

    python benchmarks/huge.py --name gatys4096 --size 4096 \\
        --scales 512:200,1024:60,2048:20,4096:8 --tile 768 --out out/huge --figures docs/images
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the ``benchmarks`` package importable from the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image

from benchmarks.run import machine
from painterly.api import run
from painterly.config.options import Options
from painterly.engine import cost
from painterly.engine.optimize import Progress
from painterly.engine.plan import Plan
from painterly.engine.tiles import Window
from painterly.io.images import load_image
from painterly.methods import cost_of, plan_of

ROOT = Path(__file__).resolve().parent.parent
PREVIEW = 1024
"""Long side of the downscaled copy for the docs."""
CROP = 512
"""Side of the full-resolution crop for the docs."""


def peak_rss() -> int:
    """This process's peak resident memory so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def borders(plan: Plan) -> tuple[list[int], list[int]]:
    """The inner tile borders (rows, columns) of the plan's last stage, unshifted; none
    when it is not tiled."""
    stage = plan.stages[-1]
    if stage.tile is None:
        return [], []
    tiles = cost.optimisation_tiles(plan) if plan.network.history else cost.pass_tiles(plan)
    found: list[Window] = tiles(stage)
    rows = sorted({w.top for w in found if w.top > 0})
    columns = sorted({w.left for w in found if w.left > 0})
    return rows, columns


def seam_ratio(image: Image.Image, rows: list[int], columns: list[int]) -> dict[str, float]:
    """The mean |step| between neighbours across each border over the mean |step| of the
    :data:`NEAR` steps on either side of it (the border's own excluded), averaged over the
    borders: columns (horizontal steps) and rows (vertical steps) apart."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    ratios = {}
    for axis, found, key in ((1, columns, "columns"), (0, rows, "rows")):
        if not found:
            continue
        steps = np.abs(np.diff(pixels, axis=axis)).mean(axis=(0 if axis else 1, 2))
        each = []
        for border in found:
            near = [i for i in range(border - 1 - NEAR, border + NEAR) if i != border - 1]
            near = [i for i in near if 0 <= i < len(steps)]
            each.append(steps[border - 1] / steps[near].mean())
        ratios[key] = float(np.mean(each))
    return ratios


def midpoints(found: list[int], length: int) -> list[int]:
    """Positions half-way between the borders (and the image's edges): the control, where
    no tile meets another."""
    edges = [0, *found, length]
    return [(a + b) // 2 for a, b in zip(edges, edges[1:], strict=False)] if found else []


NEAR = 8
"""Steps on each side of a border that it is compared with."""


def figures(image: Image.Image, rows: list[int], columns: list[int], name: str, folder: Path):
    """A downscaled copy and a full-resolution crop centred where two borders meet (the
    image's centre when it was not tiled), as JPEGs of at most 300 KB."""
    folder.mkdir(parents=True, exist_ok=True)
    small = image.copy()
    small.thumbnail((PREVIEW, PREVIEW), Image.Resampling.LANCZOS)
    y = rows[len(rows) // 2] if rows else image.height // 2
    x = columns[len(columns) // 2] if columns else image.width // 2
    top = max(0, min(y - CROP // 2, image.height - CROP))
    left = max(0, min(x - CROP // 2, image.width - CROP))
    crop = image.crop((left, top, left + CROP, top + CROP))
    written = {}
    for tag, picture in (("small", small), ("crop", crop)):
        path = folder / f"huge-{name}-{tag}.jpg"
        for quality in (85, 75, 65, 55):
            picture.save(path, quality=quality, optimize=True)
            if path.stat().st_size <= 300_000:
                break
        written[tag] = str(path)
    written["crop_box"] = [left, top, left + CROP, top + CROP]
    return written


def exactness(size: int, tile: int) -> dict[str, object]:
    """How far the tiled loss, gradient and one-pass result are from the untiled ones at
    ``size`` px (both fit), on the bundled pair, float32 and at the native low precision."""
    import torch

    from painterly.controls.inputs import prepare_inputs
    from painterly.engine.objective import Objective
    from painterly.engine.runtime import autocast
    from painterly.engine.targets import compute_targets
    from painterly.engine.tiling import TiledObjective
    from painterly.io.images import resize_long_side, to_tensor
    from painterly.methods import adain, feedforward
    from painterly.models import load_encoder

    cpu = torch.device("cpu")
    content = load_image(ROOT / "examples/tubingen.jpg", "content")
    style = load_image(ROOT / "examples/starry_night.jpg", "style")
    options = Options.build(size=size)
    found: dict[str, object] = {"size": size, "tile": tile}
    encoder = load_encoder(options.weights, options.pooling, options.padding, "conv5_1", cpu)
    inputs = prepare_inputs(content, [style], options)
    image = to_tensor(resize_long_side(content, size))
    h, w = image.shape[-2:]
    styled = resize_long_side(style, size)
    dtypes = [torch.float32]
    if machine()["native_bf16_flags"]:
        dtypes.append(torch.bfloat16)
    for dtype in dtypes:
        targets = compute_targets(
            encoder, inputs, (w, h), [styled.size], list(options.content_layers),
            list(options.style_layers), cpu, dtype, style_loss="gram", seed=0,
        )  # fmt: skip
        start = image + 0.1 * torch.randn(image.shape, generator=torch.Generator().manual_seed(0))
        runs = {}
        for name, objective in (
            ("whole", Objective(encoder, targets, options, dtype)),
            ("tiled", TiledObjective(encoder, targets, options, dtype, tile)),
        ):
            x = start.clone().requires_grad_(True)
            terms = objective(x)
            terms["total"].backward()
            assert x.grad is not None
            runs[name] = (terms["total"].item(), x.grad)
        (whole, g_whole), (tiled, g_tiled) = runs["whole"], runs["tiled"]
        found[f"gatys_{str(dtype)[6:]}"] = {
            "loss_relative": abs(tiled - whole) / abs(whole),
            "gradient_relative": float((g_tiled - g_whole).norm() / g_whole.norm()),
        }
    encode, decode = feedforward.networks(cpu)
    codec = feedforward.vgg_codec(encode, decode, adain.FIT)
    c = to_tensor(resize_long_side(content, size))
    st = to_tensor(styled)
    with torch.inference_mode(), autocast(cpu, torch.float32):
        tiled_out = feedforward.tiled_pass(codec, tile)(c, [(st, 1.0)], 1.0)
        whole_out = feedforward.decoder_pass(adain.adaptive_instance_norm, cpu)(c, [(st, 1.0)], 1.0)
    found["adain_max_abs"] = float((tiled_out - whole_out).abs().max())
    found["adain_levels_differing"] = float(
        ((tiled_out * 255).round() != (whole_out * 255).round()).float().mean()
    )
    return found


def per_evaluation(ticks: list[float]) -> float | None:
    """The median time between evaluations of a stage (the first, which follows the
    targets' computation, is left out); None with fewer than three."""
    steps = np.diff(ticks)
    return round(float(np.median(steps)), 3) if len(steps) >= 2 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--content", default=str(ROOT / "examples/tubingen.jpg"))
    parser.add_argument("--style", default=str(ROOT / "examples/starry_night.jpg"))
    parser.add_argument("--method", default="gatys")
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--scales", default=None)
    parser.add_argument("--tile", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "out/huge")
    parser.add_argument("--figures", type=Path, default=None)
    parser.add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE",
        help="any other option, as Options.build takes it (iterations=2, optimizer=adam, ...)",
    )  # fmt: skip
    parser.add_argument(
        "--exactness", type=int, default=0, metavar="TILE",
        help="instead: tiled against untiled at --size in TILE-px tiles",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.exactness:
        args.out.mkdir(parents=True, exist_ok=True)
        line = {"name": args.name, "kind": "exactness", **exactness(args.size, args.exactness)}
        with (args.out / "huge.jsonl").open("a") as f:
            f.write(json.dumps(line) + "\n")
        print(json.dumps(line))
        return 0
    values: dict[str, object] = {"method": args.method, "size": args.size, "tile": args.tile}
    if args.scales:
        values["scales"] = args.scales
    for item in args.option:
        name, _, value = item.partition("=")
        values[name.replace("-", "_")] = value
    options = Options.build(**values)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "huge.jsonl"

    def record(kind: str, **fields: object) -> None:
        line = {"name": args.name, "kind": kind, **fields}
        with log.open("a") as f:
            f.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)

    content, style = load_image(args.content, "content"), load_image(args.style, "style")
    record("machine", **machine(), options=values, content=args.content, style=args.style)
    plan = plan_of(content, [style], options)
    estimated = cost_of(plan)
    for s in estimated.stages:
        record("estimate", stage=s.index, output=s.output, tile=s.tile,
               kept=plan.stages[s.index].kept, evaluations=s.evaluations, memory=s.memory,
               seconds=round(s.seconds, 1))  # fmt: skip
    started = time.perf_counter()
    marks = {"stage": 0, "at": started}
    ticks: list[float] = []  # when each evaluation of the current stage ended

    def progress(p: Progress) -> None:
        if p.stage_iteration == 1:
            ticks.clear()
        ticks.append(time.perf_counter())
        if p.stage_iteration == p.stage_total:  # the stage's last evaluation
            now = time.perf_counter()
            record("stage", stage=p.stage, output=p.stage_size, evaluations=p.stage_total,
                   seconds=round(now - marks["at"], 1), peak_rss=peak_rss(),
                   per_evaluation=per_evaluation(ticks), losses=p.losses)  # fmt: skip
            marks["at"] = now

    result = run(content, style, options, progress)
    seconds = time.perf_counter() - started
    path = args.out / f"{args.name}.png"
    result.image.save(path)
    rows, columns = borders(plan)
    shown = figures(result.image, rows, columns, args.name, args.figures) if args.figures else {}
    record("result", output=result.image.size, seconds=round(seconds, 1), peak_rss=peak_rss(),
           estimate_seconds=round(estimated.seconds, 1), estimate_memory=estimated.memory,
           seams=seam_ratio(result.image, rows, columns),
           control=seam_ratio(result.image, midpoints(rows, result.image.height),
                              midpoints(columns, result.image.width)), border_rows=rows,
           border_columns=columns, image=str(path), figures=shown)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
