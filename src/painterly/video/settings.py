"""What a clip adds to :class:`~painterly.config.options.Options`: the frames to take and how
they are tied together, with their checks.

Kept apart from :mod:`painterly.video.clip` (which needs OpenCV for the flow) so that front
ends can list and validate the settings without the video extra: each field's ``metadata``
carries its help text, its command-line flag and the words for its default, from which
``painterly video`` makes its flags and the studio its form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from painterly.config.options import Options
from painterly.config.values import read_integer, read_number, read_switch
from painterly.errors import PainterlyError

DEFAULT_TEMPORAL_WEIGHT = 2e3
"""γ of the temporal loss for gatys frames, in painterly's calibrated loss scale."""
DEFAULT_BLEND = 0.6
"""Share of the warped previous output in a one-pass frame, where the warp is trusted."""
MAX_TEMPORAL_WEIGHT = 1e9


def _setting(
    default: Any, help: str, flag: str, metavar: str | None, default_text: str | None
) -> Any:
    meta = {"help": help, "flag": flag, "metavar": metavar, "default_text": default_text}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class VideoSettings:
    """The frames to take (``start`` and ``duration`` in seconds, every ``every``-th frame)
    and how frames are tied together (see :mod:`painterly.video.clip`)."""

    start: float = _setting(0.0, "where to begin, in seconds", "--start", "SECONDS", "0")
    duration: float | None = _setting(
        None, "how much, in seconds", "--duration", "SECONDS", "to the end"
    )
    every: int = _setting(1, "take every N-th frame, for a quick preview", "--every", "N", "1")
    per_frame: bool = _setting(
        False,
        "stylise every frame on its own, with nothing tying it to the last (flickers; for "
        "comparison)",
        "--per-frame", None, None,
    )  # fmt: skip
    temporal_weight: float = _setting(
        DEFAULT_TEMPORAL_WEIGHT,
        "gatys: weight of the temporal loss on the pixels the flow carries over from the "
        "previous frame, 0 to turn it off",
        "--temporal-weight", "X", f"{DEFAULT_TEMPORAL_WEIGHT:g}",
    )  # fmt: skip
    blend: float = _setting(
        DEFAULT_BLEND,
        "adain, wct, artflow: share of the previous output, warped, in each frame where the "
        "flow is trusted, 0 to 0.95",
        "--blend", "X", f"{DEFAULT_BLEND:g}",
    )  # fmt: skip
    frame_iterations: int | None = _setting(
        None,
        "gatys: evaluations for each frame after the first, which starts from the previous one",
        "--frame-iterations", "N", "half of the iterations",
    )  # fmt: skip

    @classmethod
    def build(cls, **values: Any) -> VideoSettings:
        """Settings from keyword values (numbers or their texts); None means the default.
        A wrong value is a PainterlyError of one sentence."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise PainterlyError(f"unknown video setting {unknown[0]!r}")
        given = {k: v for k, v in values.items() if v is not None}
        read: dict[str, Any] = {}
        if "start" in given:
            read["start"] = read_number(given["start"], "--start", 0.0)
        if "duration" in given:
            read["duration"] = read_number(given["duration"], "--duration", 0.0, strict=True)
        if "every" in given:
            read["every"] = read_integer(given["every"], "--every", 1, 10_000)
        if "per_frame" in given:
            read["per_frame"] = read_switch(given["per_frame"], "--per-frame")
        if "temporal_weight" in given:
            read["temporal_weight"] = read_number(
                given["temporal_weight"], "--temporal-weight", 0.0, maximum=MAX_TEMPORAL_WEIGHT
            )
        if "blend" in given:
            read["blend"] = read_number(given["blend"], "--blend", 0.0, maximum=0.95)
        if "frame_iterations" in given:
            read["frame_iterations"] = read_integer(
                given["frame_iterations"], "--frame-iterations", 1, 100_000
            )
        return cls(**read)

    def iterations_after_first(self, options: Options) -> int:
        if self.frame_iterations is not None:
            return self.frame_iterations
        return max(1, options.iterations // 2)

    def evaluations(self, options: Options, frames: int) -> int:
        """The evaluations a gatys clip of ``frames`` frames makes: the first frame's whole
        schedule, then :meth:`iterations_after_first` for each later one (per frame: the
        whole schedule for each)."""
        schedule = sum(iterations for _, iterations in options.stages)
        if self.per_frame:
            return schedule * frames
        return schedule + self.iterations_after_first(options) * max(0, frames - 1)


def setting_fields() -> list[dataclasses.Field]:
    """The VideoSettings fields in declaration order, for front ends that build flags or forms."""
    return list(dataclasses.fields(VideoSettings))


def check_clip_options(options: Options) -> None:
    """Refuse the options a clip cannot use (PainterlyError), before any work."""
    if options.masks:
        raise PainterlyError("--mask regions are still images; a clip cannot use them")
