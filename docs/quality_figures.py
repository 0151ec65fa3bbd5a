"""Make docs/quality.md's figures: painterly's default beside the paper's settings and
crowsonkb/style-transfer-pytorch (at its defaults and at painterly's wall time).

    PYTHONPATH=src python docs/quality_figures.py [--size 256] [--pairs N] [--peer-defaults N]
        [--paper] [--threads 1] [--shard K/N]

For each pair of :data:`benchmarks.artefacts.PAIRS` it runs, one after the other on the same
machine and the same number of threads: painterly's default on every pair, then a short
probe of crowsonkb (a fiftieth of its iterations) that gives its time per iteration;
crowsonkb with its iteration counts scaled so that it takes painterly's time ("equal time");
on the first
``--peer-defaults`` pairs crowsonkb at its defaults (``--end-scale`` the same size); with
``--paper``, the ``gatys2016`` preset with 500 evaluations. Every run appends one JSON line to
``out/quality/quality.jsonl`` as soon as it is measured, and a rerun skips what is there, so a
stopped run loses at most one image. Then it writes ``docs/images/quality.jpg`` (≤ 300 KB)
and ``docs/quality.json`` and prints the Markdown table of docs/quality.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.artefacts import PAIRS, SHARED, measure_run, paper_loss, read_log  # noqa: E402
from benchmarks.peers.runners import run_crowsonkb  # noqa: E402
from benchmarks.run import machine  # noqa: E402
from painterly.io.files import write_atomically  # noqa: E402
from painterly.io.images import load_image, resize_long_side  # noqa: E402
from painterly.report import artefacts  # noqa: E402
from painterly.report.sheets import Cell, Picture, Sheet, jpeg_copy, render_sheet  # noqa: E402

OUT = ROOT / "out" / "quality"
COLUMNS = ("painterly", "crowsonkb, equal time", "crowsonkb", "gatys2016")
PAPER_EVALUATIONS = 500
PROBE = 0.02
"""The share of crowsonkb's iterations its probe runs."""


def _log(message: str) -> None:
    print(f"[quality] {message}", file=sys.stderr, flush=True)


def _pair(pair: str) -> tuple[str, Path, Path]:
    content, style = (SHARED / p for p in pair.split(":"))
    return f"{content.stem}--{style.stem}", content, style


def _done(log: Path) -> dict[tuple[str, str], dict]:
    if not log.exists():
        return {}
    return {(r["pair"], r["column"]): r for r in read_log(log) if r.get("status") == "ok"}


def _append(log: Path, record: dict) -> None:
    with log.open("a") as handle:
        handle.write(json.dumps(record, default=str) + "\n")


def run_ours(pair: str, size: int, log: Path, where: dict, paper: bool) -> None:
    """painterly's default (and with ``paper`` the ``gatys2016`` preset) on one pair, and the
    painting's own figures, unless ``log`` has them."""
    key, content_path, style_path = _pair(pair)
    content, style = load_image(content_path), load_image(style_path)
    folder = OUT / key
    folder.mkdir(parents=True, exist_ok=True)
    base = {"pair": key, "size": size, "machine": where}
    if (key, "style image") not in _done(log):
        own = artefacts.measure(resize_long_side(style, size))
        _append(log, {**base, "column": "style image", "status": "ok", **own})
    ours = [("painterly", {})] + ([("gatys2016", {"preset": "gatys2016"})] if paper else [])
    for column, values in ours:
        if (key, column) in _done(log):
            continue
        _log(f"{key}: {column}")
        evaluations = PAPER_EVALUATIONS if column == "gatys2016" else None
        record, image = measure_run(column, values, content, style, size, evaluations)
        if image is not None:
            image.save(folder / _file(column))
        _append(log, {**base, **record, "column": column})


def run_peer(pair: str, size: int, log: Path, where: dict, peer_default: bool) -> None:
    """crowsonkb on one pair: a probe, then at painterly's time (and at its defaults)."""
    key, content_path, style_path = _pair(pair)
    content, style = load_image(content_path), load_image(style_path)
    folder = OUT / key
    base = {"pair": key, "size": size, "machine": where}
    seconds = _done(log)[(key, "painterly")]["seconds"]
    if (key, "crowsonkb probe") not in _done(log):
        _log(f"{key}: crowsonkb probe (iterations × {PROBE})")
        probe = run_crowsonkb(content_path, style_path, size, folder / "probe.png", PROBE)
        _append(log, {**base, **_without_trace(probe), "column": "crowsonkb probe",
                      "per_iteration_share": _iteration_seconds(probe)})  # fmt: skip
    probe = _done(log).get((key, "crowsonkb probe"))
    if probe is None or not probe.get("per_iteration_share"):
        return
    first, spent = probe["per_iteration_share"]
    # Scaled so that its start-up plus its iterations take painterly's time.
    equal = max(PROBE / 50, (seconds - first) * PROBE / spent)
    peer = [("crowsonkb, equal time", equal)] + ([("crowsonkb", 1.0)] if peer_default else [])
    for column, scale in peer:
        if (key, column) in _done(log):
            continue
        _log(f"{key}: {column} (iterations × {scale:.3f})")
        output = folder / _file(column)
        record = run_crowsonkb(content_path, style_path, size, output, iteration_scale=scale)
        if record.get("status") == "ok":
            image = Image.open(output).convert("RGB")
            record.update(artefacts.measure(image, content))
            record["paper_loss"] = paper_loss(image, content, style)
        _append(log, {**base, **_without_trace(record), "column": column})


def _file(column: str) -> str:
    return column.replace(", ", "-").replace(" ", "-") + ".png"


def _without_trace(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "trace"}


def _iteration_seconds(record: dict) -> tuple[float, float] | None:
    """(seconds to the first iterate, seconds of the iterates after it) of a peer run."""
    trace = record.get("trace") or []
    return (trace[0][0], trace[-1][0] - trace[0][0]) if len(trace) > 1 else None


def sheet(records: dict[tuple[str, str], dict], pairs: list[str], size: int) -> Image.Image:
    """Rows: pairs; columns: content, style, then :data:`COLUMNS`, each captioned with its
    seconds, speckle and grid as multiples of the painting's."""
    cells, results, pictures = [], {}, []
    for row, pair in enumerate(pairs):
        key, content_path, style_path = _pair(pair)
        own = records[(key, "style image")]
        pictures += [
            Picture(str(content_path), content_path.stem, row=row, col=0),
            Picture(str(style_path), style_path.stem, row=row, col=1),
        ]
        for col, column in enumerate(COLUMNS):
            r = records.get((key, column))
            path = OUT / key / _file(column)
            if r is None or not path.exists():
                continue
            label = f"{key}/{column}"
            results[label] = Image.open(path).convert("RGB")
            caption = (
                f"{column}: {r['seconds']:.0f} s, speckle {_times(r['speckle'], own['speckle'])}"
                f", grid {_times(r['grid'], own['grid'])}"
            )
            cells.append(Cell(label, "", "", {}, caption, row=row, col=col + 2, caption=caption))
    note = (
        f"{size} px, {machine()['cpu_kind']}; speckle and grid as multiples of the painting's "
        "own (docs/quality.md)"
    )
    layout = Sheet(
        name="quality",
        title="painterly's default beside the paper's settings and crowsonkb",
        note=note,
        stages="",
        cells=tuple(cells),
        pictures=tuple(pictures),
    )
    image, _ = render_sheet(layout, note, results, lambda p: load_image(p))
    return image


CROPS = (
    "paper",
    "init-content",
    "replicate",
    "scales-auto",
    "auto-content",
    "auto-content-replicate1",
)
"""The settings of benchmarks/artefacts.py shown in the close-up of the sky."""


def crops(folder: Path, pair: str, size: int) -> Image.Image:
    """The top-left quarter (the sky) of each setting's output in ``folder/<pair>/`` and of
    the painting, three times enlarged without smoothing, so single pixels show."""
    key, _, style_path = _pair(pair)
    panels, cells = {}, []
    sources = [(name, folder / key / f"{name}.png") for name in CROPS]
    records = {r["config"].replace(" ", "-"): r for r in read_log(folder / "artefacts.jsonl")
               if r.get("pair") == key and r.get("status") == "ok"}  # fmt: skip
    own = records.get("style-image", {})
    for col, (name, path) in enumerate([("the painting", None), *sources]):
        if path is not None and not path.exists():
            continue
        image = resize_long_side(load_image(style_path), size) if path is None else Image.open(path)
        w, h = image.size
        panels[name] = (
            image.convert("RGB")
            .crop((0, 0, w // 2, h // 2))
            .resize((w // 2 * 3, h // 2 * 3), Image.Resampling.NEAREST)
        )
        r = records.get(name, own if path is None else {})
        caption = f"{name}: speckle {r['speckle']:.4f}" if r else name
        cells.append(Cell(name, "", "", {}, caption, row=0, col=col, caption=caption))
    note = f"{key}, {size} px, top-left quarter ×3; {machine()['cpu_kind']}"
    layout = Sheet(
        name="quality-crops", title="The sky, up close", note=note, stages="",
        cells=tuple(cells), pictures=(),
    )  # fmt: skip
    image, _ = render_sheet(layout, note, panels, lambda p: load_image(p))
    return image


Other = Callable[[str], tuple[Path, dict | None]]
"""A pair's key → the path of another run's output and its record (None: measure it)."""


def close_ups(
    pairs: list[str], size: int, other: tuple[str, Other], name: str, title: str
) -> Image.Image:
    """Per pair (a row): the top-left quarter ×3 of the painting, of ``other`` (its label,
    and where its output and record are), of today's default and of crowsonkb at equal time
    (both from out/quality), each captioned with its speckle and texture."""
    panels, cells = {}, []
    records = _done(OUT / "quality.jsonl")
    label, where = other
    for row, pair in enumerate(pairs):
        key, content_path, style_path = _pair(pair)
        content = load_image(content_path)
        sources = [
            ("the painting", None, records.get((key, "style image"))),
            (label, *where(key)),
            ("the default", OUT / key / "painterly.png", records.get((key, "painterly"))),
            ("crowsonkb, equal time", OUT / key / _file("crowsonkb, equal time"),
             records.get((key, "crowsonkb, equal time"))),
        ]  # fmt: skip
        for col, (column, path, r) in enumerate(sources):
            if path is not None and not path.exists():
                continue
            if path is None:
                image = resize_long_side(load_image(style_path), size)
            else:
                image = Image.open(path)
            if r is None or "texture" not in r:  # measure what the log lacks
                r = artefacts.measure(image, None if path is None else content)
            w, h = image.size
            panel = f"{key}/{column}"
            panels[panel] = (
                image.convert("RGB")
                .crop((0, 0, w // 2, h // 2))
                .resize((w // 2 * 3, h // 2 * 3), Image.Resampling.NEAREST)
            )
            caption = f"{column}: speckle {r['speckle']:.4f}, texture {r['texture']:.3f}"
            cells.append(Cell(panel, "", "", {}, caption, row=row, col=col, caption=caption))
    note = f"{size} px, top-left quarter ×3; {machine()['cpu_kind']}"
    layout = Sheet(
        name=name, title=title, note=note, stages="", cells=tuple(cells), pictures=(),
    )  # fmt: skip
    image, _ = render_sheet(layout, note, panels, lambda p: load_image(p))
    return image


def round_one(before: Path) -> Other:
    """The first round's default, from an earlier out/quality."""
    earlier = _done(before / "quality.jsonl")
    return lambda key: (before / key / "painterly.png", earlier.get((key, "painterly")))


def init_adain(folders: list[Path]) -> Other:
    """The default with ``--init adain``, from benchmarks/artefacts.py runs in ``folders``
    (the first that has the pair)."""

    def where(key: str) -> tuple[Path, dict | None]:
        run = "default init adain"
        for folder in folders:
            path = folder / key / "default-init-adain.png"
            if path.exists():
                runs = read_log(folder / "artefacts.jsonl")
                mine = [r for r in runs if (r.get("pair"), r.get("config")) == (key, run)]
                return path, mine[-1] if mine else None
        return folders[0] / key / "default-init-adain.png", None

    return where


def _alternation(record: dict, image: Callable[[], Image.Image]) -> float:
    """The record's 2-px alternation, or, when the record predates the measure, that of
    ``image()`` (the run's output, or the painting at the run's size)."""
    return record["alternation"] if "alternation" in record else artefacts.alternation(image())


def _loss(record: dict) -> float | None:
    loss = record.get("paper_loss")
    return loss.get("total") if isinstance(loss, dict) else loss


def _loss_at(record: dict, seconds: float) -> float | None:
    """The lowest loss ``record``'s trace had reached after ``seconds`` (None: no trace)."""
    seen = [loss for elapsed, loss in record.get("trace") or () if elapsed <= seconds]
    return min(seen) if seen else None


def table(records: dict[tuple[str, str], dict], pairs: list[str]) -> str:
    """docs/quality.md's table: per pair the painting's figures, then each run's seconds,
    artefacts as multiples of the painting's, and paper loss; for the default, that loss as
    a multiple of the paper's setting's after the same evaluations and after the same time
    (the ``gatys2016`` run's own trace, which is the paper loss)."""
    lines = [
        "| pair | run | s | speckle (× painting) | grid (× painting) | 2-px grid, grey levels "
        "| texture (× painting) | paper loss | × paper, equal evaluations | × paper, equal time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for pair in pairs:
        key, _, style_path = _pair(pair)
        own = records.get((key, "style image"))
        if own is None:
            continue
        painting = partial(resize_long_side, load_image(style_path), own["size"])
        lines.append(
            f"| {key} | *the painting* | | {own['speckle']:.4f} | {own['grid']:.2f} "
            f"| {_alternation(own, painting):.2f} | {own['texture']:.4f} | | | |"
        )
        paper = records.get((key, "gatys2016"))
        for column in COLUMNS:
            r = records.get((key, column))
            if r is None or r.get("status") != "ok" or "speckle" not in r:
                continue
            period = f" at {r['grid_period']} px" if r.get("grid_period") else ""
            loss = _loss(r)
            cells = [
                f"{r['seconds']:.0f}",
                f"{r['speckle']:.4f} ({_multiple(r['speckle'], own['speckle'])})",
                f"{r['grid']:.2f} ({_multiple(r['grid'], own['grid'])}){period}",
                f"{_alternation(r, partial(Image.open, OUT / key / _file(column))):.2f}",
                f"{r['texture']:.4f} ({_multiple(r['texture'], own['texture'])})",
                f"{loss:.2f}" if loss is not None else "",
            ]
            equal_evaluations = equal_time = ""
            if column == "painterly" and paper is not None and loss is not None:
                equal_evaluations = f"{loss / _loss(paper):.2f}×"
                then = _loss_at(paper, r["seconds"])
                equal_time = f"{loss / then:.2f}×" if then else ""
            cells += [equal_evaluations, equal_time]
            lines.append(f"| {key} | {column} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _multiple(value: float, reference: float) -> str:
    return f"{value / reference:.2f}×" if reference else "–"


def _times(value: float, reference: float) -> str:
    return f"{value / reference:.1f}×" if reference else f"{value:.4f}"


def _save_jpeg(image: Image.Image, name: str) -> Path:
    """``image`` as docs/images/NAME, a JPEG of at most 300 KB, written atomically."""
    small, quality = jpeg_copy(image)
    target = ROOT / "docs" / "images" / name
    write_atomically(
        target,
        lambda temp: small.save(temp, format="JPEG", quality=quality, subsampling=0),
        overwrite=True,
    )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=len(PAIRS))
    parser.add_argument(
        "--start", type=int, default=0, help="run from this pair on (for a second process)"
    )
    parser.add_argument(
        "--shard",
        default="0/1",
        help="K/N: run only the pairs whose index is K modulo N, so that N processes (one "
        "thread each) share the pairs; the last to finish draws the complete figure",
    )
    parser.add_argument("--peer-defaults", type=int, default=1)
    parser.add_argument("--paper", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--crops", type=Path, help="only draw the close-up from this benchmarks/artefacts.py --out"
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="only draw the before-and-after close-up of the first two pairs, the first "
        "round's default from this earlier out/quality",
    )
    parser.add_argument(
        "--adain",
        type=Path,
        nargs="+",
        help="only draw the close-up of The Scream and the cat with the default from the "
        "AdaIN result (--init adain), from these benchmarks/artefacts.py --out folders",
    )
    args = parser.parse_args(argv)
    if args.crops:
        print(_save_jpeg(crops(args.crops, PAIRS[0], args.size), "quality-crops.jpg"))
        return 0
    if args.before:
        other = ("round 1's default", round_one(args.before))
        title = "The skies, up close: before and after"
        figure = close_ups(list(PAIRS[:2]), args.size, other, "quality-round2", title)
        print(_save_jpeg(figure, "quality-round2.jpg"))
        return 0
    if args.adain:
        other = ("from the AdaIN result", init_adain(args.adain))
        title = "Starting from the AdaIN result: The Scream's sky and the cat"
        figure = close_ups([PAIRS[1], PAIRS[5]], args.size, other, "quality-round3", title)
        print(_save_jpeg(figure, "quality-round3.jpg"))
        return 0
    # One thread for painterly and for the peer alike: the machine's other core runs other
    # measurements, and equal time means equal means.
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "quality.jsonl"
    where = machine()
    _log(where["cpu_kind"])
    pairs = list(PAIRS[: args.pairs])
    shard, shards = (int(n) for n in args.shard.split("/"))
    mine = [(i, p) for i, p in enumerate(pairs) if i >= args.start and i % shards == shard]
    # painterly on every pair first, then the peer, then the paper's setting: a run stopped
    # for time keeps the figures every pair needs before the comparisons that need more.
    for _, pair in mine:
        run_ours(pair, args.size, log, where, False)
    for index, pair in mine:
        run_peer(pair, args.size, log, where, index < args.peer_defaults)
    if args.paper:
        for _, pair in mine:
            run_ours(pair, args.size, log, where, True)
    records = _done(log)
    target = _save_jpeg(sheet(records, pairs, args.size), "quality.jpg")
    summary = [{k: v for k, v in r.items() if k != "trace"} for r in records.values()]
    (ROOT / "docs" / "quality.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    print(target)
    print(table(records, list(PAIRS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
