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

from benchmarks.measure import LineParser, Measured, Point, failure_reason, run_measured
from benchmarks.peers.envs import (
    CROWSONKB_COMMIT,
    REQUIREMENTS,
    PeerSetupError,
    folded_weights_file,
    peer_weights_file,
    venv_python,
)
from benchmarks.quality import TOLERANCE, evaluations_to_target, time_to_target
from painterly.errors import PainterlyError

HERE = Path(__file__).resolve().parent
# Builds the command: (python, content, style, weights, size, iterations, work dir) → argv.
CommandBuilder = Callable[[Path, Path, Path, Path, int, int, Path], list[str]]
# crowsonkb's iterations on each later scale and on the first, its ``stylize`` defaults at
# CROWSONKB_COMMIT (crowsonkb_main.py reads them there; this side cannot import it).
CROWSONKB_ITERATIONS = 500
CROWSONKB_INITIAL_ITERATIONS = 1000


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
    # painterly's VGG-19 (a registered name) → the file in the layout and input this peer reads.
    weights_file: Callable[[str], Path] = peer_weights_file


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


def _crowsonkb_argv(
    python: Path,
    content: Path,
    style: Path,
    weights: Path,
    size: int,
    iterations: tuple[int, int],
    output: Path,
) -> list[str]:
    later, first = iterations
    return [
        str(python), str(HERE / "crowsonkb_main.py"), str(content), str(style),
        "--weights", str(weights), "--end-scale", str(size), "--iterations", str(later),
        "--initial-iterations", str(first), "--output", str(output),
    ]  # fmt: skip


def _crowsonkb(python, content, style, weights, size, iterations, work) -> list[str]:
    # The harness's one iteration count is crowsonkb's per-scale one; the first scale keeps
    # its default share (twice as many), so a shortened run shortens every scale alike.
    first = iterations * CROWSONKB_INITIAL_ITERATIONS // CROWSONKB_ITERATIONS
    return _crowsonkb_argv(
        python, content, style, weights, size, (iterations, first), work / "out.png"
    )


CROWSONKB_SETTINGS = (
    f"style-transfer-pytorch at {CROWSONKB_COMMIT[:12]}, its command's defaults: content 0.015 "
    "(MSE, relu4_2), Wasserstein-2 style relu1_1…5_1 (256:64:16:4:1), TV 2, max pooling, "
    "replicate padding on conv1_1, from content, Adam (step 0.02) with an EMA (0.99) of the "
    "iterates, scales 128 px to the size in steps of √2, 1000 iterations on the first and "
    "500 on each later one"
)

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
        Peer(
            "crowsonkb",
            CROWSONKB_ITERATIONS,
            CROWSONKB_SETTINGS,
            _crowsonkb,
            parse_loss_line,
            folded_weights_file,
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
        python, weights_file = venv_python(name), peer.weights_file(weights)
    except (PeerSetupError, PainterlyError) as error:
        return {**record, "status": "not run", "reason": str(error)}
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as work:
        command = peer.command(python, content, style, weights_file, size, iterations, Path(work))
        measured = run_measured(command, peer.parse, env=_peer_env(), cwd=work)
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
        **_measured(measured),
        "best_loss": best,
        "default_run_s": estimated_run_seconds(measured.trace, iterations, peer.default_iterations)
        if estimated
        else measured.seconds,
        "default_run_estimated": estimated,
        "time_to_quality_s": time_to_target(measured.trace, target),
        "evaluations_to_quality": evaluations_to_target(measured.trace, target),
        "trace": measured.trace,
    }


def run_crowsonkb(
    content: Path,
    style: Path,
    size: int,
    output: Path,
    iteration_scale: float = 1.0,
    weights: str = "vgg19-normalized",
) -> dict[str, object]:
    """Run crowsonkb at its defaults up to ``size`` px, its iterations on every scale times
    ``iteration_scale`` (at least one each), and write its image to ``output``.

    ``iteration_scale`` 1 is "crowsonkb at its defaults"; our wall time over its default
    wall time is "crowsonkb at equal wall time". The record has ``status`` ("ok", "failed",
    "not run"), ``seconds``, ``trace``, ``output`` and ``scales`` (each scale's width,
    height and iterations, as it ran them).
    """
    iterations = (
        max(1, round(CROWSONKB_ITERATIONS * iteration_scale)),
        max(1, round(CROWSONKB_INITIAL_ITERATIONS * iteration_scale)),
    )
    record: dict[str, object] = {
        "name": "crowsonkb",
        "settings": CROWSONKB_SETTINGS,
        "size": size,
        "iteration_scale": iteration_scale,
        "iterations": iterations[0],
        "initial_iterations": iterations[1],
        "weights": weights,
        "output": str(output),
    }
    try:
        python, weights_file = venv_python("crowsonkb"), folded_weights_file(weights)
    except (PeerSetupError, PainterlyError) as error:
        return {**record, "status": "not run", "reason": str(error)}
    command = _crowsonkb_argv(python, content, style, weights_file, size, iterations, output)
    with tempfile.TemporaryDirectory(prefix="bench-crowsonkb-") as work:
        measured = run_measured(command, parse_loss_line, env=_peer_env(), cwd=work)
    if not measured.ok or not measured.trace:
        reason = failure_reason(measured) if not measured.ok else "it printed no losses"
        return {**record, "status": "failed", "reason": reason}
    return {
        **record,
        **_measured(measured),
        "scales": parse_scale_lines(measured.lines),
        "trace": measured.trace,
    }


def _measured(measured: Measured) -> dict[str, object]:
    """What every peer's record says of a run that printed losses."""
    return {
        "status": "ok",
        "seconds": measured.seconds,
        "peak_rss_bytes": measured.peak_rss_bytes,
        "evaluations": len(measured.trace),
        "final_loss": measured.trace[-1][1],
    }


def parse_scale_lines(lines: Sequence[str]) -> list[dict[str, int]]:
    """crowsonkb_main.py's ``SCALE <w> <h> <iterations>`` lines, in order."""
    scales = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "SCALE":
            width, height, iterations = map(int, parts[1:])
            scales.append({"width": width, "height": height, "iterations": iterations})
    return scales


def _peer_env() -> dict[str, str]:
    """This environment without PYTHONPATH: the painterly tree must not leak into a peer's."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
