"""The peers as the harness runs them: command line, default settings, loss parser.

Each peer runs with its own defaults (iterations, weights of the loss terms, pooling,
start image) at the benchmark's size, on painterly's VGG-19 converted to the layout it
reads, in its own virtual environment (:mod:`benchmarks.peers.envs`). Its losses are its
own, so its time to quality is measured against the best loss of its own default run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import LineParser, Point, failure_reason, run_measured
from benchmarks.peers.envs import REQUIREMENTS, PeerSetupError, peer_weights_file, venv_python
from benchmarks.quality import TOLERANCE, evaluations_to_target, time_to_target
from painterly.errors import PainterlyError

HERE = Path(__file__).resolve().parent
# Builds the command: (python, content, style, weights, size, iterations, work dir) → argv.
CommandBuilder = Callable[[Path, Path, Path, Path, int, int, Path], list[str]]


def parse_loss_line(line: str) -> float | None:
    """``LOSS 12.5`` (the harness's own peer scripts) → 12.5."""
    parts = line.split()
    return float(parts[1]) if len(parts) == 2 and parts[0] == "LOSS" else None


def parse_neural_style_line(line: str) -> float | None:
    """neural-style's ``  Total loss: 12.5`` (printed every evaluation with -print_iter 1)."""
    text = line.strip()
    return float(text.removeprefix("Total loss:")) if text.startswith("Total loss:") else None


def estimated_run_seconds(trace: Sequence[Point], iterations: int, wanted_iterations: int) -> float:
    """How long a run of ``wanted_iterations`` would take, from a shorter run's trace.

    The time to the first loss (start-up, weights, targets) is kept; the later evaluations'
    mean cost is extended to as many evaluations as ``wanted_iterations`` would make at the
    measured evaluations per iteration (a line search can make more than one).
    """
    first = trace[0][0]
    if len(trace) < 2:
        return first * wanted_iterations / iterations
    per_evaluation = (trace[-1][0] - first) / (len(trace) - 1)
    evaluations = len(trace) * wanted_iterations / iterations
    return first + per_evaluation * (evaluations - 1)


@dataclass(frozen=True)
class Peer:
    """One peer: how to run it and what its default run is."""

    name: str
    default_iterations: int
    settings: str
    command: CommandBuilder
    parse: LineParser


def _reference(python, content, style, weights, size, iterations, _work) -> list[str]:
    return [
        str(python), str(HERE / "reference.py"), str(content), str(style),
        "--weights", str(weights), "--size", str(size), "--iterations", str(iterations),
    ]  # fmt: skip


def _pystiche(python, content, style, weights, size, iterations, _work) -> list[str]:
    return [
        str(python), str(HERE / "pystiche_main.py"), str(content), str(style),
        "--weights", str(weights), "--size", str(size), "--steps", str(iterations),
    ]  # fmt: skip


def _neural_style(python, content, style, weights, size, iterations, work) -> list[str]:
    # Non-default flags, none of which changes the algorithm: -gpu c (its default is GPU 0),
    # -disable_check (the converted file has no classifier, which it never uses, and
    # strict loading would refuse it), -print_iter 1 (a loss line every evaluation).
    return [
        str(python), "-u", str(HERE / "neural_style_main.py"),
        "-content_image", str(content), "-style_image", str(style),
        "-model_file", str(weights), "-disable_check", "-gpu", "c",
        "-image_size", str(size), "-num_iterations", str(iterations), "-print_iter", "1",
        "-output_image", str(work / "out.png"),
    ]  # fmt: skip


PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        Peer(
            "pystiche",
            500,
            "pystiche 1.0.1 example defaults: relu4_2 content (1), Gram MSE relu1_1…5_1 "
            "(mean, 1e3), max pooling, from content, L-BFGS 1 iteration/step, 500 steps",
            _pystiche,
            parse_loss_line,
        ),
        Peer(
            "neural-style",
            1000,
            "neural-style 0.5.7 defaults: content 5, style 100, TV 1e-3, max pooling, random "
            "init, L-BFGS (history 100, no line search), 1000 iterations",
            _neural_style,
            parse_neural_style_line,
        ),
        Peer(
            "reference",
            500,
            "authors' notebook algorithm: full VGG-19 forward, Gram/(H·W), MSE, style "
            "1e3/N_l², content 1, max pooling, from content, L-BFGS defaults, 500 evaluations",
            _reference,
            parse_loss_line,
        ),
    )
}


def run_peer(
    name: str,
    content: Path,
    style: Path,
    size: int,
    iterations: int | None = None,
    weights: str = "vgg19-normalized",
) -> dict[str, object]:
    """Run one peer (its default iterations unless ``iterations``) on painterly's VGG-19
    ``weights`` (a registered name) and summarise it."""
    peer = PEERS[name]
    iterations = iterations or peer.default_iterations
    record: dict[str, object] = {
        "name": name,
        "requirements": list(REQUIREMENTS[name]),
        "settings": peer.settings,
        "iterations": iterations,
        "default_iterations": peer.default_iterations,
        "weights": weights,
    }
    try:
        python, weights_file = venv_python(name), peer_weights_file(weights)
    except (PeerSetupError, PainterlyError) as error:
        return {**record, "status": "not run", "reason": str(error)}
    # The painterly tree must not leak into the peer's environment.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as work:
        command = peer.command(python, content, style, weights_file, size, iterations, Path(work))
        measured = run_measured(command, peer.parse, env=env, cwd=work)
    if not measured.ok or not measured.trace:
        reason = failure_reason(measured) if not measured.ok else "it printed no losses"
        return {**record, "status": "failed", "reason": reason}
    best = min(loss for _, loss in measured.trace)
    target = TOLERANCE * best
    # A run cut short (--peer-iterations) still gives the target ratio its default run's
    # wall time, estimated from the evaluations it made, and says so.
    estimated = iterations != peer.default_iterations
    return {
        **record,
        "status": "ok",
        "seconds": measured.seconds,
        "peak_rss_bytes": measured.peak_rss_bytes,
        "evaluations": len(measured.trace),
        "final_loss": measured.trace[-1][1],
        "best_loss": best,
        "default_run_s": estimated_run_seconds(measured.trace, iterations, peer.default_iterations)
        if estimated
        else measured.seconds,
        "default_run_estimated": estimated,
        "time_to_quality_s": time_to_target(measured.trace, target),
        "evaluations_to_quality": evaluations_to_target(measured.trace, target),
        "trace": measured.trace,
    }
