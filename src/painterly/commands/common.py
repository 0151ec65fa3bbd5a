"""What every subcommand shares: the one-line-error parser, the flags generated from
:class:`~painterly.config.options.Options`, the image arguments, reading the inputs and the
progress display, the inputs a run reads and the saving of its finished image."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from painterly.commands import EXIT_USAGE
from painterly.config.options import (
    MAX_WEIGHT,
    Options,
    field_default,
    option_fields,
)
from painterly.config.presets import PRESETS
from painterly.engine.optimize import Progress
from painterly.errors import printable

if TYPE_CHECKING:
    from PIL import Image


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        text = printable(message)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def default_text(value: object) -> str:
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
        if value is True:  # a switch such as --photorealistic
            argv.append(flags[name])
            continue
        for text in value if isinstance(value, list) else [value]:
            argv += [flags[name], str(text)]
    return argv


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Options field; values stay text and Options validates them."""
    group = parser.add_argument_group("style-transfer options")
    group.add_argument(
        "--preset",
        metavar="|".join(PRESETS),
        help="start from a reference setting; options given as well override it, and "
        "--size/--iterations/--scales or --style-weight/--ratio/--strength replace its "
        "schedule or its balance as a whole (default: none, i.e. the defaults below, which "
        "equal gatys2016)",
    )
    for f in option_fields():
        default = field_default(f)
        if f.metadata.get("switch"):
            group.add_argument(
                option_flag(f),
                dest=f.name,
                action="store_const",
                const=True,
                help=f.metadata["help"],
            )
            continue
        choices = f.metadata.get("choices")
        metavar = f.metadata.get("metavar") or ("|".join(choices) if choices else None)
        if metavar is None:
            metavar = "N" if isinstance(default, int) else "X"

        group.add_argument(
            option_flag(f),
            dest=f.name,
            metavar=metavar,
            action=f.metadata.get("action", "store"),
            help=f"{f.metadata['help']} (default: {default_text(default)})",
        )
        if f.name == "style_weight":
            group.add_argument(
                "--ratio",
                metavar="ALPHA/BETA",
                help=f"content-to-style ratio α/β of the paper, more than 0, at most "
                f"{MAX_WEIGHT:g}; sets the style weight to content weight / ratio, which must "
                f"be at most {MAX_WEIGHT:g} too (default: 1/style weight)",
            )


def add_output_flags(
    parser: argparse.ArgumentParser,
    output: str,
    overwrite: str,
    quiet: str,
    output_flag: str = "--output",
    required: bool = True,
) -> None:
    """``-o``, ``--overwrite`` and ``-q`` as every command that writes has them, with its
    own help texts; ``output_flag`` names the long form of ``-o`` (leak's is ``--out-dir``).
    ``required`` false leaves the check to the command (stylize's ``--estimate`` writes
    nothing)."""
    parser.add_argument("-o", output_flag, required=required, help=output)
    parser.add_argument("--overwrite", action="store_true", default=False, help=overwrite)
    parser.add_argument("-q", "--quiet", action="store_true", default=False, help=quiet)


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


def save_finished(
    image: Image.Image,
    path: Path,
    overwrite: bool,
    quality: int = 95,
    *,
    options: Options | None = None,
    exif: bytes | None = None,
) -> tuple[Path, bool]:
    """Save a finished image, also when Ctrl-C comes meanwhile: the save completes first.

    The file is written at the ``bit_depth`` and ``dpi`` of ``options``, with ``exif`` (the
    content's). Returns where it went and whether an interrupt came, for the caller to
    report (with :func:`~painterly.commands.say_stopped`) instead of losing the image to it.
    """
    from painterly.io.files import interrupts_deferred
    from painterly.io.images import save_image

    o = options or Options()
    with interrupts_deferred(redeliver=False) as held:
        saved = save_image(
            image,
            path,
            overwrite=overwrite,
            quality=quality,
            bit_depth=o.bit_depth,
            dpi=o.dpi,
            exif=exif,
        )
    return saved, bool(held)


def load_inputs(content: str, styles: Sequence[str]) -> tuple[Image.Image, list[Image.Image]]:
    """Read the content and style images (a user error raises PainterlyError)."""
    from painterly.io.images import load_image

    return load_image(content, "content image"), [load_image(s, "style image") for s in styles]


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


BAR = 24
"""Characters of the progress bar."""


def progress_line(stream: TextIO, lines: int) -> Callable[[int, int, int, str], None]:
    """A progress display ``show(iteration, total, first, text)``: on a terminal one line
    with a bar, rewritten at most five times a second; elsewhere the line of this session's
    first iteration (``first`` + 1), one per ``lines``-th of the run and the last."""
    interactive = stream.isatty()
    last = [0.0]

    def show(iteration: int, total: int, first: int, text: str) -> None:
        now = time.monotonic()
        final = iteration == total
        if interactive and not final and now - last[0] < 0.2:
            return
        every = max(1, total // lines)
        if not interactive and not final and iteration > first + 1 and iteration % every:
            return
        last[0] = now
        filled = BAR * iteration // total
        line = f"[{'#' * filled}{'.' * (BAR - filled)}] {iteration}/{total} {text}"
        stream.write(
            ("\r" + line + "\x1b[K" + ("\n" if final else "")) if interactive else line + "\n"
        )
        stream.flush()

    return show


def progress_printer(stream: TextIO | None = None) -> Callable[[Progress], None]:
    """Progress display: one rewritten line on a terminal; else the first line, one per 10 %."""
    line = progress_line(stream or sys.stderr, 10)

    def show(p: Progress) -> None:
        terms = " ".join(f"{k} {v:.3g}" for k, v in p.losses.items())
        text = f"{terms} | {p.elapsed / p.iteration:.2f} s/it ETA {format_seconds(p.eta)}"
        line(p.iteration, p.total, 0, text)

    return show
