"""``painterly leak``: measure content leak over rounds of stylisation and a round trip."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from painterly.commands.common import (
    Parser,
    add_image_arguments,
    add_option_flags,
    add_output_flags,
    image_paths,
    load_inputs,
)
from painterly.config.options import Options, input_files
from painterly.errors import Interrupted, PainterlyError, printable
from painterly.io.files import (
    Inputs,
    check_output_folder,
    check_target,
    os_reason,
    write_atomically,
    write_json,
)
from painterly.report.artefacts import summary
from painterly.report.leak import (
    COMPARE_SIDE,
    State,
    check_outputs,
    compare,
    continuous_rounds,
    draw_sheet,
    plot_curves,
    round_trip,
)

BETWEEN = ("8bit", "float")


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="painterly leak",
        description="Measure content leak: stylise, feed the output back as the next "
        "round's content (styles in turn), and compare every round with the photograph "
        "(SSIM of luminance, Sobel edge agreement); also a round trip (stylise, then "
        "stylise the result with the photograph as the style).",
        argument_default=argparse.SUPPRESS,
    )
    add_image_arguments(parser)
    add_output_flags(
        parser,
        output="folder for METHOD-leak.json, -curve.png, -sheet.jpg",
        overwrite="replace existing outputs",
        quiet="no progress lines",
        output_flag="--out-dir",
    )
    parser.add_argument(
        "--rounds", default="20", metavar="N", help="rounds of stylisation (default: 20)"
    )
    parser.add_argument(
        "--between",
        choices=BETWEEN,
        default="8bit",
        help="what passes from round to round: 8bit images (default, as files would) or "
        "float tensors, never rounded (adain, wct and artflow); the outputs are named "
        "METHOD-float-leak.* then",
    )
    parser.add_argument(
        "--no-round-trip",
        dest="round_trip",
        action="store_false",
        default=True,
        help="skip the round-trip test",
    )
    add_option_flags(parser)
    return parser


def _rounds(text: str) -> int:
    try:
        rounds = int(text)
    except ValueError:
        raise PainterlyError(f"--rounds must be a whole number, not {text!r}") from None
    if not 1 <= rounds <= 1000:
        raise PainterlyError(f"--rounds must be between 1 and 1000, not {rounds}")
    return rounds


def _check_outputs(out_dir: Path, method: str, overwrite: bool, inputs: Inputs) -> dict[str, Path]:
    """Every output checked before the first round: the folder can be made and written,
    and each file may be written there (not an input, a link or a folder; not existing
    without ``overwrite``)."""
    paths = check_outputs(out_dir, method, overwrite)
    check_output_folder(out_dir)
    if out_dir.is_dir():
        for path in paths.values():
            check_target(path, overwrite, inputs)
    return paths


def _make_folder(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # made impossible since the check, e.g. by another process
        raise PainterlyError(
            f"cannot create the output folder '{printable(out_dir)}' ({os_reason(error)})"
        ) from None


def _measure(
    start: State,
    styles: Sequence[State],
    step: Callable[[State, State], State],
    picture: Callable[[State], Image.Image],
    photo: Image.Image,
    rounds: int,
    with_trip: bool,
    show: Callable[[dict], None],
) -> tuple[list[Image.Image], list[dict], tuple[Image.Image, dict] | None]:
    """The rounds and, ``with_trip``, the round trip, over images or float tensors."""
    outputs, records = continuous_rounds(start, styles, step, rounds, show, picture, photo)
    if not with_trip:
        return outputs, records, None
    _, back, trip_record = round_trip(start, styles[0], step, picture, photo)
    return outputs, records, (back, trip_record)


def command(argv: Sequence[str]) -> int:
    """``painterly leak CONTENT STYLE… -o DIR [--rounds N] [--method M] [options]``."""
    from painterly.api import run
    from painterly.io.images import to_image
    from painterly.methods import ONE_PASS
    from painterly.methods.feedforward import FloatRounds
    from painterly.report.sheets import jpeg_copy

    args = vars(_parser().parse_args(argv))
    out_dir = Path(args.pop("out_dir"))
    rounds = _rounds(args.pop("rounds"))
    overwrite, quiet, with_trip = args.pop("overwrite"), args.pop("quiet"), args.pop("round_trip")
    content_path, style_paths = image_paths(args)
    if args.get("masks"):
        raise PainterlyError("painterly leak stylises the whole image; it takes no --mask")
    if args.get("style_blend"):
        raise PainterlyError(
            "painterly leak uses the styles in turn, one per round; no --style-blend"
        )
    between = args.pop("between")
    options = Options.build(**args)
    # artflow names its transform: artflow-adain and artflow-wct are two methods in the paper.
    name = f"artflow-{options.transform}" if options.method == "artflow" else options.method
    label = name if between == "8bit" else f"{name}-float"
    if between == "float" and options.method not in ONE_PASS:
        raise PainterlyError(
            f"--between float needs a one-pass method ({', '.join(ONE_PASS)}); "
            f"{options.method} starts each round from an image"
        )
    paths = _check_outputs(
        out_dir, label, overwrite, input_files(content_path, style_paths, options)
    )
    content, styles = load_inputs(content_path, style_paths)
    if not styles:
        raise PainterlyError("give at least one style image")

    def stylise(image: Image.Image, style: Image.Image) -> Image.Image:
        try:
            return run(image, style, options).image
        except Interrupted:
            raise KeyboardInterrupt from None

    def show(record: dict) -> None:
        if not quiet:
            print(
                f"round {record['round']}/{rounds}: SSIM {record['ssim']:.3f}, "
                f"edges {record['edges']:.3f}, speckle {record['speckle']:.4f}, "
                f"grid {record['grid']:.2f} ({record['seconds']:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    started = time.perf_counter()
    if between == "float":
        make, network = ONE_PASS[options.method]
        # Unclamped between rounds too: a value past [0, 1] is part of what a round hands on.
        chain = FloatRounds(content, styles, options, lambda d: make(options, d, False), network())
        outputs, records, trip = _measure(
            chain.content, chain.styles, chain.step, to_image, content, rounds, with_trip, show
        )
    else:
        outputs, records, trip = _measure(
            content, styles, stylise, lambda image: image, content, rounds, with_trip, show
        )
    if trip is not None and not quiet:
        print(
            f"round trip: SSIM {trip[1]['ssim']:.3f}, edges {trip[1]['edges']:.3f}", file=sys.stderr
        )
    style_at_size = styles[0].resize(outputs[0].size, Image.Resampling.LANCZOS)
    unrelated = compare(style_at_size, content)
    report = {
        "method": options.method,
        "label": label,
        "between": between,
        "content": content_path,
        "styles": style_paths,
        "rounds": records,
        "round_trip": trip[1] if trip else None,
        "style_vs_content": unrelated,
        # The painting's own speckle and grid at the output's size: what "clean" is measured by.
        "style_artefacts": summary(style_at_size),
        "compare_side": COMPARE_SIDE,
        "size": list(outputs[0].size),
        "options": {k: v for k, v in args.items()},
        "wall_seconds": time.perf_counter() - started,
    }
    _make_folder(out_dir)
    note = (
        f"{options.method} at {outputs[0].width}x{outputs[0].height} px; each round stylises "
        f"the previous round's output ({'float tensors' if between == 'float' else '8-bit'}); "
        "SSIM of luminance and edge agreement with the photograph "
        f"at {COMPARE_SIDE} px (1 = all of it)"
    )
    sheet = draw_sheet(
        f"Content leak: {label}, {rounds} rounds", note, content, styles, outputs,
        records, trip,
    )  # fmt: skip
    small, quality = jpeg_copy(sheet)
    write_atomically(
        paths["sheet"],
        lambda temp: small.save(temp, format="JPEG", quality=quality, subsampling=0),
        overwrite,
    )
    try:
        write_atomically(paths["curve"], lambda temp: plot_curves([report], Path(temp)), overwrite)
        report["curve"] = paths["curve"].name
    except ImportError:
        report["curve"] = None
        print("painterly: note: no curve drawn: matplotlib is not installed", file=sys.stderr)
    write_json(report, paths["json"])
    print(printable(paths["json"]))
    return 0
