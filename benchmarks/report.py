"""The benchmark's outputs: a printed table (Markdown), the JSON record and its summary."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.measure import Point

GIB = 1024**3
TARGET_SECONDS = 120.0  # time to quality at 512 px on the project's 2-core machine
TARGET_SPEEDUP = 10.0  # versus the fastest peer's default run, measured side by side
MEMORY_BUDGET = 8 * GIB  # peak RSS at 2048 px
TARGET_SIZE = 512


def thin(trace: Sequence[Point], limit: int = 200) -> list[Point]:
    """At most about ``limit`` points of ``trace``, evenly spaced, always keeping the last."""
    if len(trace) <= limit:
        return list(trace)
    step = -(-len(trace) // limit)
    kept = list(trace[::step])
    return kept if kept[-1] == trace[-1] else [*kept, trace[-1]]


def best_painterly(quality: dict) -> dict | None:
    """The painterly run (reference or candidate) with the shortest time to quality."""
    runs = [quality.get("reference", {}), *quality.get("candidates", [])]
    reached = [r for r in runs if r.get("time_to_quality_s") is not None]
    return min(reached, key=lambda r: r["time_to_quality_s"]) if reached else None


def default_run_seconds(peer: dict) -> float:
    """A peer's default run's wall time: measured, or estimated from a shorter run."""
    return peer.get("default_run_s", peer["seconds"])


def summary(results: dict) -> dict[str, object]:
    """The issue's targets, each from numbers measured in this run (None where not run)."""
    out: dict[str, object] = {}
    best = best_painterly(results.get("quality", {}))
    if best is not None:
        out["painterly_best"] = best["name"]
        out["painterly_time_to_quality_s"] = best["time_to_quality_s"]
        if results["settings"]["size"] == TARGET_SIZE:
            out["meets_time_target"] = best["time_to_quality_s"] <= TARGET_SECONDS
    peers = [p for p in results.get("peers", []) if p.get("status") == "ok"]
    if peers:
        fastest = min(peers, key=default_run_seconds)
        out["fastest_peer"] = fastest["name"]
        out["fastest_peer_default_run_s"] = default_run_seconds(fastest)
        out["fastest_peer_default_run_estimated"] = bool(fastest.get("default_run_estimated"))
        if best is not None:
            speedup = default_run_seconds(fastest) / best["time_to_quality_s"]
            out["speedup_vs_fastest_peer_default_run"] = speedup
            out["meets_speedup_target"] = speedup >= TARGET_SPEEDUP
    memory = results.get("memory")
    if memory and memory.get("status") == "ok":
        out["memory_size"] = memory["size"]
        out["memory_peak_rss_bytes"] = memory["peak_rss_bytes"]
        out["meets_memory_target"] = memory["peak_rss_bytes"] <= MEMORY_BUDGET
    return out


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _gib(value: int | None) -> str:
    return "—" if not value else f"{value / GIB:.2f} GiB"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _efficiency_lines(eff: dict) -> list[str]:
    peak = eff["peak"]
    lines = [
        f"### Engine efficiency ({peak['dtype']}, {eff['threads']} threads; "
        f"conv peak {peak['flops_per_s'] / 1e9:.1f} GFLOP/s, 3×3 conv "
        f"{'→'.join(map(str, peak['shape'][:2]))} at {peak['shape'][2]}×{peak['shape'][3]}, "
        f"{peak.get('layout', 'nchw').upper()})",
        "",
    ]
    rows = [
        [
            f"{r['size']} px",
            f"{r['width']}×{r['height']}",
            r["precision"],
            f"{r['flops'] / 1e9:.1f}",
            f"{r['best_s']:.3f} s",
            f"{r['flops'] / r['best_s'] / 1e9:.1f}",
            f"{r['efficiency']:.0%}",
        ]
        for r in eff["rows"]
    ]
    header = ["size", "image", "precision", "GFLOP/eval", "s/eval (best)", "GFLOP/s", "efficiency"]
    bf16 = eff["bf16"]
    note = f"bf16: {bf16['note']}"
    if bf16.get("faster_than_fp32"):
        b = bf16["peak"]
        note += (
            f"; bf16 rows against the bf16 conv peak, {b['flops_per_s'] / 1e9:.1f} GFLOP/s "
            f"({'×'.join(map(str, b['shape']))}, {b.get('layout', 'nchw').upper()})"
        )
    return [*lines, *_table(header, rows), "", note]


def _quality_lines(quality: dict, size: int) -> list[str]:
    ref = quality["reference"]
    if ref.get("status") != "ok":
        return ["### Time to quality", "", f"reference run failed: {ref.get('reason')}"]
    lines = [
        f"### Time to quality ({size} px; L* = {ref['best_loss']:.4g} after "
        f"{ref['evaluations']} evaluations; target ≤ 1.05·L*)",
        "",
    ]
    if quality.get("reference_reused"):
        lines += ["The reference was measured in an earlier run (`--reuse-reference`).", ""]
    rows = []
    for run in [ref, *quality["candidates"]]:
        evals = run.get("evaluations_to_quality")
        rows.append(
            [
                run["name"],
                run["scales"],
                _s(run.get("time_to_quality_s"))
                if run.get("status") == "ok"
                else run.get("reason", "failed"),
                "—" if evals is None else str(evals),
                _s(run.get("seconds")),
                _gib(run.get("peak_rss_bytes")),
            ]
        )
    header = ["painterly run", "scales", "time to quality", "final-size evals", "wall", "peak RSS"]
    return [*lines, *_table(header, rows)]


def _peer_lines(peers: list[dict]) -> list[str]:
    rows = []
    for p in peers:
        if p["status"] == "ok":
            rows.append(
                [
                    p["name"],
                    "ok",
                    f"{p['evaluations']} evals ({p['iterations']} iterations/steps)",
                    f"{_s(default_run_seconds(p))} (estimated from this run's "
                    f"{_s(p['seconds'])}, {p['default_iterations']} iterations)"
                    if p.get("default_run_estimated")
                    else _s(p["seconds"]),
                    _s(p["time_to_quality_s"]),
                    _gib(p["peak_rss_bytes"]),
                ]
            )
        else:
            rows.append([p["name"], p["status"], p["reason"], "—", "—", "—"])
    header = ["peer", "status", "run", "wall (default run)", "time to 1.05× own best", "peak RSS"]
    return ["### Peers (own defaults, own loss)", "", *_table(header, rows)]


def _summary_lines(s: dict, size: int) -> list[str]:
    lines = ["### Targets (ratios from the figures above)", ""]
    if "painterly_time_to_quality_s" in s:
        verdict = (
            ("met" if s["meets_time_target"] else "NOT met")
            if "meets_time_target" in s
            else f"target is for {TARGET_SIZE} px"
        )
        lines.append(
            f"- painterly time to quality at {size} px: {s['painterly_time_to_quality_s']:.1f} s "
            f"({s['painterly_best']}); ≤ {TARGET_SECONDS:.0f} s: {verdict}"
        )
    if "speedup_vs_fastest_peer_default_run" in s:
        lines.append(
            f"- fastest peer's default run ({s['fastest_peer']}, "
            f"{s['fastest_peer_default_run_s']:.1f} s"
            f"{', estimated' if s.get('fastest_peer_default_run_estimated') else ''}) "
            "÷ painterly time to quality: "
            f"{s['speedup_vs_fastest_peer_default_run']:.1f}×; ≥ {TARGET_SPEEDUP:.0f}×: "
            f"{'met' if s['meets_speedup_target'] else 'NOT met'}"
        )
    if "memory_peak_rss_bytes" in s:
        lines.append(
            f"- peak RSS at {s['memory_size']} px: {_gib(s['memory_peak_rss_bytes'])}; "
            f"≤ {MEMORY_BUDGET / GIB:.0f} GiB: {'met' if s['meets_memory_target'] else 'NOT met'}"
        )
    return lines if len(lines) > 2 else [*lines, "(none: the sections they need did not run)"]


def table(results: dict) -> str:
    """Every section that ran, as Markdown tables, and the targets."""
    size = results["settings"]["size"]
    parts = [
        f"## painterly benchmark ({results['mode']} mode, {results['machine']['cpu']}, "
        f"{results['machine']['cores']} cores, torch {results['machine']['torch']})"
    ]
    if results.get("sources"):
        parts.append(
            "Combined from separate runs on this machine: "
            + "; ".join(
                f"{', '.join(s['sections'])} from {s['file']} ({s['date']})"
                for s in results["sources"]
            )
        )
    if "efficiency" in results:
        parts.append("\n".join(_efficiency_lines(results["efficiency"])))
    if "quality" in results:
        parts.append("\n".join(_quality_lines(results["quality"], size)))
    if "peers" in results:
        parts.append("\n".join(_peer_lines(results["peers"])))
    if "memory" in results:
        m = results["memory"]
        parts.append(
            f"### Memory\n\n{m['size']} px ({m.get('width', '?')}×{m.get('height', '?')}), "
            f"{m['evaluations']} evaluations: peak RSS "
            + (_gib(m["peak_rss_bytes"]) if m.get("status") == "ok" else m.get("reason", "failed"))
        )
    if "feedforward" in results:
        from benchmarks.feedforward import table_lines

        parts.append("\n".join(table_lines(results["feedforward"])))
    parts.append("\n".join(_summary_lines(results["summary"], size)))
    return "\n\n".join(parts) + "\n"
