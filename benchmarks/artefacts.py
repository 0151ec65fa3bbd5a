"""Speckle, grid and loss of painterly's settings on several image pairs, beside the paintings'.

For every pair and every setting (a named set of option values, :data:`CONFIGS`) it runs
painterly, measures the output with :mod:`painterly.report.artefacts`, judges its total loss by
the paper's objective (``gatys2016`` at the output's size, fp32, whatever the setting
optimised), and records the seconds. The style image's own speckle and grid, at the size the
network sees it, are measured once per pair, so each figure can be read as a multiple of the
painting's. One JSON line per run is appended to ``OUT/artefacts.jsonl`` as soon as it is
measured (a stopped benchmark keeps what it measured), the images go to ``OUT/<pair>/``, and
a Markdown table is printed at the end::

    python benchmarks/artefacts.py --size 256 --configs paper,auto --out out/artefacts
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the ``benchmarks`` package importable from the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from PIL import Image

from benchmarks.run import machine
from painterly.api import run
from painterly.config.options import Options
from painterly.controls.inputs import prepare_inputs
from painterly.engine.optimize import Progress
from painterly.engine.plan import resolve
from painterly.io.images import load_image, resize_long_side, to_tensor
from painterly.methods import gatys
from painterly.report import artefacts

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PAIRS = (
    "datasets/photos/deb-lomiri-1.jpg:datasets/paintings/aic-212.jpg",
    "images/content/tubingen.jpg:images/style/the_scream.jpg",
    "images/content/tubingen.jpg:images/style/starry_night.jpg",
    "datasets/photos/popos-12.jpg:datasets/paintings/aic-164.jpg",
    "datasets/photos/deb-lomiri-3.jpg:images/style/shipwreck.jpg",
    "datasets/photos/skimage-2.jpg:images/style/wave.jpg",
)
"""Content:style paths under ../shared: a bridge under a clear sky and Renoir's Seascape (the
pair of issue 15), Tübingen with three of the paper's paintings, and three more photographs
of the datasets (sky, sea and fur: flat and soft regions where speckle shows)."""

CONFIGS: dict[str, dict[str, object]] = {
    "paper": {"preset": "gatys2016"},
    "paper fp32": {"preset": "gatys2016", "precision": "fp32"},
    "init content": {"preset": "gatys2016", "init": "content"},
    "init adain": {"preset": "gatys2016", "init": "adain"},
    "scales auto": {"preset": "gatys2016", "scales": "auto"},
    "no conv1_1": {
        "preset": "gatys2016",
        "style_layers": "conv2_1,conv3_1,conv4_1,conv5_1",
    },
    "max pooling": {"preset": "gatys2016", "pooling": "max"},
    # TV per pixel is about 0.003 for these outputs at 256 px against a total of about 4:
    # weight 10 makes it about 1 % of the loss.
    "tv 10": {"preset": "gatys2016", "tv_weight": 10.0},
    "replicate": {"preset": "gatys2016", "padding": "replicate"},
    "jitter 4": {"preset": "gatys2016", "jitter": 4},
    "wasserstein": {"preset": "gatys2016", "style_loss": "wasserstein"},
    "sliced": {"preset": "gatys2016", "style_loss": "sliced"},
    "adam avg": {
        "preset": "gatys2016",
        "optimizer": "adam",
        "learning_rate": 0.02,
        "average": 0.99,
    },  # fmt: skip
    "auto replicate": {"preset": "gatys2016", "scales": "auto", "padding": "replicate"},
    "auto replicate tv": {
        "preset": "gatys2016",
        "scales": "auto",
        "padding": "replicate",
        "tv_weight": 10.0,
    },  # fmt: skip
    "auto content replicate": {
        "preset": "gatys2016",
        "scales": "auto",
        "init": "content",
        "padding": "replicate",
    },  # fmt: skip
    "auto content replicate1": {
        "preset": "gatys2016",
        "scales": "auto",
        "init": "content",
        "padding": "replicate1",
    },  # fmt: skip
    # The two steps of issue 15's second round, over the first round's default.
    "auto content replicate1 pyramid": {
        "preset": "gatys2016",
        "scales": "auto",
        "init": "content",
        "padding": "replicate1",
        "pyramid": 4,
    },  # fmt: skip
    "auto content replicate1 finish tv": {
        "preset": "gatys2016",
        "scales": "auto",
        "init": "content",
        "padding": "replicate1",
        "finish_tv": 40.0,
    },  # fmt: skip
    "auto content": {"preset": "gatys2016", "scales": "auto", "init": "content"},
    "auto sliced": {"preset": "gatys2016", "scales": "auto", "style_loss": "sliced"},
    "default": {},
    # Issue 15's third round, over the default: what the Scream's sky and the cat keep.
    "default init adain": {"init": "adain"},
    "default init noise": {"init": "noise"},
    "default style 3x": {"style_weight": 3e3},
    "default finish tv 120": {"finish_tv": 120.0},
    "default init adain finish tv 120": {"init": "adain", "finish_tv": 120.0},
}
"""The settings tried, by name; each is option values on top of its preset (none: the
defaults). A setting that names an option this version lacks is reported as not run."""


def _log(message: str) -> None:
    print(f"[artefacts] {message}", file=sys.stderr, flush=True)


def paper_loss(image: Image.Image, content: Image.Image, style: Image.Image) -> dict[str, float]:
    """The ``gatys2016`` objective's terms (fp32) of ``image`` at its own size: one measure
    for settings that optimise different objectives."""
    options = Options.build(preset="gatys2016", size=max(image.size), precision="fp32")
    inputs = prepare_inputs(content, [style], options)
    plan = resolve(options, inputs, gatys.network(options))
    stage = plan.stages[-1]
    objective = gatys.session(plan, inputs).objective(stage, options)
    x = to_tensor(image.resize(stage.output, Image.Resampling.LANCZOS)).to(plan.device)
    with torch.no_grad():
        return {k: float(v) for k, v in objective(x).items()}


def measure_run(
    name: str, values: dict[str, object], content: Image.Image, style: Image.Image,
    size: int, evaluations: int | None,
) -> tuple[dict[str, object], Image.Image | None]:  # fmt: skip
    """One setting on one pair at ``size`` px: its artefacts, paper loss, seconds and loss
    trace, with ``evaluations`` in all (None: the setting's own budget)."""
    budget = {} if evaluations is None else {"iterations": evaluations}
    try:
        options = Options.build(**{**values, "size": size, **budget})
    except Exception as error:  # an option this version lacks: not run, say why
        return {"config": name, "status": "not run", "reason": str(error)}, None
    trace: list[tuple[float, float]] = []

    def note(progress: Progress) -> None:
        trace.append((progress.elapsed, progress.losses["total"]))
        if progress.iteration % 100 == 0:
            _log(f"  {name}: {progress.iteration}/{progress.total} in {progress.elapsed:.0f} s")

    started = time.perf_counter()
    result = run(content, [style], options, note)
    seconds = time.perf_counter() - started
    image = result.image
    record = {
        "config": name,
        "status": "ok",
        "options": {k: v for k, v in values.items()},
        "seconds": seconds,
        "evaluations": result.iterations,
        "own_loss": result.losses,
        "paper_loss": paper_loss(image, content, style),
        **artefacts.measure(image, content),
        "trace": trace[:: max(1, len(trace) // 50)],
    }
    return record, image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--evaluations", type=int, default=500)
    parser.add_argument("--configs", default="paper,scales auto,default")
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "artefacts")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's choice, one per core)"
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="only print the table of what --out holds, the artefacts measured afresh from its "
        "images (so a change of the measures needs no new runs)",
    )
    args = parser.parse_args(argv)
    if args.table:
        print(table(remeasured(read_log(args.out / "artefacts.jsonl"), args.out)))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown setting {unknown[0]!r}; settings are {', '.join(CONFIGS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "artefacts.jsonl"
    where = machine()
    _log(f"{where['cpu_kind']}, {where['torch_threads']} threads, torch {where['torch']}")
    for pair in args.pairs.split(","):
        content_path, style_path = (SHARED / p for p in pair.split(":"))
        content = load_image(content_path, "content image")
        style = load_image(style_path, "style image")
        key = f"{content_path.stem}--{style_path.stem}"
        (args.out / key).mkdir(exist_ok=True)
        own = artefacts.measure(resize_long_side(style, args.size))
        base = {"pair": key, "size": args.size, "machine": where}
        _append(log, {**base, "config": "style image", "status": "ok", **own})
        for name in names:
            _log(f"{key}: {name}")
            record, image = measure_run(
                name, CONFIGS[name], content, style, args.size, args.evaluations
            )
            if image is not None:
                image.save(args.out / key / f"{name.replace(' ', '-')}.png")
            _append(log, {**base, **record})
    print(table(read_log(log)))
    return 0


def _append(path: Path, record: dict[str, object]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(record, default=str) + "\n")


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def remeasured(records: list[dict], out: Path) -> list[dict]:
    """``records`` with speckle, grid and texture measured again from the saved images."""
    pairs = {f"{Path(c).stem}--{Path(s).stem}": (c, s) for c, s in (p.split(":") for p in PAIRS)}
    fresh = []
    for r in records:
        if r.get("status") != "ok" or r["pair"] not in pairs:
            fresh.append(r)
            continue
        content_path, style_path = (SHARED / p for p in pairs[r["pair"]])
        if r["config"] == "style image":
            image = resize_long_side(load_image(style_path), r["size"])
            fresh.append({**r, **artefacts.measure(image)})
            continue
        path = out / r["pair"] / f"{r['config'].replace(' ', '-')}.png"
        if path.exists():
            found = artefacts.measure(Image.open(path).convert("RGB"), load_image(content_path))
            r = {**r, **found}
        fresh.append(r)
    return fresh


def table(records: list[dict]) -> str:
    """Markdown: per pair and setting, speckle and grid as multiples of the painting's, the
    grid's worst period, the paper loss as a multiple of the ``paper`` setting's, seconds."""
    rows = [
        "| pair | setting | speckle (× painting) | grid (× painting) | texture (× painting) | "
        "paper loss (× paper) | s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    by_pair: dict[str, dict[str, dict]] = {}
    for r in records:
        if r.get("status") == "ok":
            by_pair.setdefault(r["pair"], {})[r["config"]] = r
    for pair, runs in by_pair.items():
        own = runs.get("style image")
        paper = runs.get("paper")
        if own:
            rows.append(
                f"| {pair} | *the painting* | {own['speckle']:.4f} | {own['grid']:.2f}"
                f"{' at ' + str(own['grid_period']) + ' px' if own.get('grid_period') else ''} | "
                f"{own.get('texture', 0):.4f} | | |"
            )
        for name, r in runs.items():
            if name == "style image":
                continue
            cells = [
                f"{r[k]:{f}} ({_ratio(r[k], own and own.get(k))})" if k in r else "–"
                for k, f in (("speckle", ".4f"), ("grid", ".2f"), ("texture", ".4f"))
            ]
            loss = _ratio(r["paper_loss"]["total"], paper and paper["paper_loss"]["total"])
            if r.get("grid_period"):
                cells[1] += f" at {r['grid_period']} px"
            rows.append(f"| {pair} | {name} | {' | '.join(cells)} | {loss} | {r['seconds']:.0f} |")
    return "\n".join(rows)


def _ratio(value: float, reference: float | None) -> str:
    return f"{value / reference:.2f}×" if reference else "–"


if __name__ == "__main__":
    sys.exit(main())
