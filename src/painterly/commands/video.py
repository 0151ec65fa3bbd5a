"""``painterly video IN STYLE... -o OUT [options]``: stylise a clip without flicker."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from painterly.commands import EXIT_INTERRUPTED, say_stopped
from painterly.commands.common import (
    Parser,
    add_option_flags,
    add_output_flags,
    format_seconds,
    progress_line,
)
from painterly.config.options import Options
from painterly.engine.optimize import Progress
from painterly.errors import Interrupted, PainterlyError, printable


def parser() -> argparse.ArgumentParser:
    from painterly.io.video import VIDEO_FORMATS
    from painterly.video.settings import setting_fields

    parser = Parser(
        prog="painterly video",
        description="Paint a video clip in the style of one or more images, frame by frame, "
        "each frame tied to the one before along the optical flow so that the clip does not "
        "flicker (gatys: Ruder et al. 2016; adain, wct, artflow: a flow-guided blend).",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("video", help="the clip to paint (any container and codec FFmpeg reads)")
    parser.add_argument("style", nargs="+", help="the painting(s) whose style to use")
    add_output_flags(
        parser,
        output=f"where to write the clip ({', '.join(VIDEO_FORMATS)}); H.264 for .mp4, .mov "
        "and .mkv, with the source's frame rate and audio",
        overwrite="replace OUTPUT, and an earlier run's kept frames, if they exist",
        quiet="no progress display; print only the output path",
    )
    group = parser.add_argument_group("video options")
    for f in setting_fields():
        default = f.metadata["default_text"]
        if isinstance(f.default, bool):  # a switch
            how: dict = {"action": "store_const", "const": True}
        else:
            how = {"metavar": f.metadata["metavar"]}
        help = f.metadata["help"] + (f" (default: {default})" if default else "")
        group.add_argument(f.metadata["flag"], dest=f.name, help=help, **how)
    group.add_argument(
        "--resume", action="store_true", default=False,
        help="continue a stopped run from the frames it kept in OUTPUT.frames/ (with "
        "--overwrite: start again instead of refusing frames made from other inputs or settings)",
    )  # fmt: skip
    add_option_flags(parser)
    return parser


def _require_video_extra() -> None:
    try:
        import av  # noqa: F401
        import cv2  # noqa: F401
    except ImportError:
        raise PainterlyError(
            "painterly video needs the video extra: pip install 'painterly[video]'"
        ) from None


def command(argv: Sequence[str]) -> int:
    _require_video_extra()
    from painterly.video.run import FrameProgress, frames_folder, stylize_video
    from painterly.video.settings import VideoSettings, setting_fields

    args = vars(parser().parse_args(argv))
    video, styles, out = args.pop("video"), args.pop("style"), args.pop("output")
    overwrite, resume, quiet = args.pop("overwrite"), args.pop("resume"), args.pop("quiet")
    settings = VideoSettings.build(**{f.name: args.pop(f.name, None) for f in setting_fields()})
    options = Options.build(**args)
    line = None if quiet else progress_line(sys.stderr, 20)
    frames = {"done": 0, "total": 0}
    if line is not None and sys.stderr.isatty():
        from painterly.io.video import probe, selected_count

        info = probe(video)
        frames["total"] = selected_count(info, settings.start, settings.duration, settings.every)

    def on_frame(p: FrameProgress) -> None:
        frames.update(done=p.done, total=p.total)
        if line is not None:
            kept = " (kept)" if p.cached else ""
            text = f"frames{kept} | {format_seconds(p.elapsed)} ETA {format_seconds(p.eta)}"
            line(p.done, p.total, 0, text)

    def on_evaluation(p: Progress) -> None:
        # An optimised frame takes seconds to minutes: on a terminal the frame line also
        # says how far the frame in hand has got (elsewhere, a line per frame is enough).
        if line is not None and sys.stderr.isatty() and frames["total"]:
            text = f"frames | frame {frames['done'] + 1}: {p.iteration}/{p.total} evaluations"
            line(frames["done"], frames["total"], 0, text)

    try:
        result = stylize_video(video, styles, out, options, settings, overwrite=overwrite,
                               resume=resume, on_frame=on_frame,
                               callback=on_evaluation)  # fmt: skip
    except (Interrupted, KeyboardInterrupt):
        folder = frames_folder(Path(out))
        if any(folder.glob("*.png")):
            say_stopped(
                f"interrupted; the finished frames are kept in {printable(folder)}: run the "
                "same command with --resume to continue"
            )
        else:
            say_stopped("interrupted before the first frame was finished")
        return EXIT_INTERRUPTED
    if not quiet:
        audio = ", with the audio" if result.audio else ""
        resumed = f" ({result.resumed} kept from before)" if result.resumed else ""
        print(
            f"{result.frames} frames{resumed} of {result.size[0]}×{result.size[1]} at "
            f"{result.fps:.3g} fps{audio} in {format_seconds(result.seconds)}",
            file=sys.stderr,
        )
    print(printable(result.path))
    return 0
