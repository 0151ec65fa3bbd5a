"""``painterly train artflow``: train ArtFlow's projection flow on a folder of photographs and
a folder of paintings (An et al. 2021; :mod:`painterly.train.artflow`)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from painterly.commands import EXIT_INTERRUPTED, say_stopped
from painterly.commands.common import (
    Parser,
    add_output_flags,
    default_text,
    format_seconds,
    progress_line,
)
from painterly.config.options import PRECISIONS
from painterly.config.values import read_integer
from painterly.errors import Interrupted, printable
from painterly.train.config import TrainConfig, flag

if TYPE_CHECKING:
    from painterly.train.artflow import TrainProgress

DEVICES = ("auto", "cpu", "cuda")
LINES = 100
"""Progress lines of a whole run when the output is not a terminal."""


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="painterly train",
        description="Train a network that stylises in one pass.",
    )
    models = parser.add_subparsers(dest="model", required=True, metavar="MODEL")
    artflow = models.add_parser(
        "artflow",
        help="ArtFlow's projection flow (An et al., CVPR 2021)",
        description="Train ArtFlow's projection flow, which stylises by AdaIN (or WCT) in its "
        "latent space and returns through its exact inverse: random crops of the images in "
        "--content and --style, VGG-19 content and style-statistics losses, Adam. The "
        "checkpoint (OUTPUT-stem.ckpt), loss log (-losses.jsonl) and sample sheets "
        "(-samples/) go beside the model; Ctrl-C writes the checkpoint, and --resume goes on "
        "from it exactly.",
        argument_default=argparse.SUPPRESS,
    )
    add_output_flags(
        artflow,
        output="where to write the trained flow (.safetensors)",
        overwrite="replace an earlier run's model, checkpoint, log and sample sheets",
        quiet="no progress display; print only the model's path",
    )
    # One flag per TrainConfig field; values stay text and TrainConfig reads them.
    for f in dataclasses.fields(TrainConfig):
        required = f.default is dataclasses.MISSING
        metavar = f.metadata.get("metavar") or "|".join(f.metadata.get("choices", ()))
        default = "" if required else f" (default: {default_text(f.default)})"
        artflow.add_argument(
            flag(f),
            dest=f.name,
            required=required,
            metavar=metavar or ("N" if isinstance(f.default, int) else "X"),
            help=f.metadata["help"] + default,
        )
    artflow.add_argument(
        "--resume",
        metavar="CKPT",
        help="go on from this checkpoint, with the settings and images it was made with; "
        "--iterations counts from the start of training",
    )
    artflow.add_argument(
        "--device", choices=DEVICES, default="auto", help="where to compute (default: auto)"
    )
    artflow.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="number format of the networks' convolutions: auto (bf16 where the hardware has "
        "it natively), fp32, bf16; the flow's weights and 1x1 convolutions stay fp32 "
        "(default: auto)",
    )
    artflow.add_argument(
        "--threads", metavar="N", help="CPU threads for torch (default: torch's own choice)"
    )
    return parser


def progress_printer(stream: TextIO | None = None) -> Callable[[TrainProgress], None]:
    """Training progress: on a terminal one line rewritten at most five times a second, else
    this session's first line and one per 1 % of the run."""
    line = progress_line(stream or sys.stderr, LINES)

    def show(p: TrainProgress) -> None:
        terms = " ".join(f"{k} {v:.4g}" for k, v in p.losses.items())
        text = (
            f"{terms} lr {p.learning_rate:.3g} | {p.seconds_per_iteration:.2f} s/it "
            f"ETA {format_seconds(p.eta)}"
        )
        line(p.iteration, p.total, p.first, text)

    return show


def command(argv: Sequence[str]) -> int:
    """``painterly train artflow --content DIR --style DIR -o MODEL.safetensors [options]``."""
    import torch

    from painterly.engine.runtime import select_device
    from painterly.train.artflow import train
    from painterly.train.store import TrainPaths

    args = vars(_parser().parse_args(argv))
    args.pop("model")
    output, overwrite, quiet = Path(args.pop("output")), args.pop("overwrite"), args.pop("quiet")
    resume = args.pop("resume", None)
    device, precision = args.pop("device"), args.pop("precision")
    threads = args.pop("threads", None)
    config = TrainConfig(**args)
    if threads is not None:
        torch.set_num_threads(read_integer(threads, "--threads", 1, 1024))
    started = time.monotonic()
    try:
        paths = train(
            config,
            output,
            None if resume is None else Path(resume),
            None if quiet else progress_printer(),
            select_device(device),
            precision,
            overwrite,
        )
    except Interrupted as stop:
        checkpoint = TrainPaths.beside(output).checkpoint
        say_stopped(
            f"interrupted after iteration {stop.iteration}; the model so far is in {output}, "
            f"and --resume {checkpoint} goes on from there"
        )
        return EXIT_INTERRUPTED
    if not quiet:
        print(
            printable(
                f"trained to iteration {config.iterations} "
                f"({format_seconds(time.monotonic() - started)} this session); checkpoint "
                f"{paths.checkpoint}, loss log {paths.log}"
            ),
            file=sys.stderr,
        )
    print(printable(paths.model))
    return 0
