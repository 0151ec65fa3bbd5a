"""Stylising the frames of a clip so that they do not flicker.

Stylised one by one, the frames of a clip land in different optima (an optimisation) or
answer every change of noise and light anew (a one-pass network): the result flickers. Two
remedies, both from the flow between consecutive input frames (:mod:`painterly.video.flow`):

- **gatys**: Ruder, Dosovitskiy & Brox (2016). The first frame is an ordinary run of the
  options; each later frame starts from the previous result warped into it and adds the
  temporal loss where the warp is trusted (:mod:`painterly.video.temporal`), with
  ``frame_iterations`` evaluations (half the first frame's by default, as their 2000 / 1000)
  and the α/β the first frame used (a ``--strength`` is calibrated once, on it).
- **adain, wct, artflow**: each frame is one pass with the style codes computed once for the
  clip, then blended with the previous output warped into it, ``blend`` of it where the warp
  is trusted: out = S + blend · c · (warp(previous) − S).

``per_frame`` turns both off (independent frames, what the metrics compare against).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from painterly.config.options import Options
from painterly.controls.colour import rgb_to_yiq
from painterly.controls.inputs import prepare_inputs
from painterly.engine.optimize import Cancel, Progress
from painterly.engine.plan import resolve
from painterly.engine.runtime import autocast, configure
from painterly.io.images import to_image
from painterly.video import flow
from painterly.video.settings import VideoSettings
from painterly.video.temporal import FrameSession, as_tensor


@dataclass
class Previous:
    """What the next frame needs of the one before: its input and its output (RGB arrays,
    float32 in [0, 1], at the clip's size)."""

    content: np.ndarray
    output: np.ndarray


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255.0)


def links(content: np.ndarray, previous: Previous) -> tuple[np.ndarray, np.ndarray]:
    """The previous output warped into this frame and the weights c of where that warp is
    trusted, from the flows between the two input frames."""
    backward = flow.optical_flow(content, previous.content)
    forward = flow.optical_flow(previous.content, content)
    # Bicubic: a clip's output is warped again every frame, and bilinear sampling's blur
    # would build up in it.
    warped = np.clip(flow.warp(previous.output, backward, cubic=True), 0.0, 1.0)
    return warped, flow.consistency(backward, forward)


FrameStyliser = Callable[[Image.Image, Previous | None], Image.Image]
"""(this frame at the clip's size, what the previous frame left or None) → its output."""


def one_pass_frames(
    styles: Sequence[Image.Image], options: Options, settings: VideoSettings
) -> FrameStyliser:
    """The :data:`FrameStyliser` of a one-pass method: the plan and the prepared styles of
    the first frame kept for the clip, each style encoded once."""
    from painterly.methods import ONE_PASS
    from painterly.methods.feedforward import DEFAULT_STRENGTH, stage_content, stage_tensors

    make, network = ONE_PASS[options.method]
    kept: dict[str, Any] = {}
    alpha = DEFAULT_STRENGTH if options.strength is None else options.strength

    def stylise(frame: Image.Image, previous: Previous | None) -> Image.Image:
        inputs = prepare_inputs(frame, styles, options)
        if not kept:
            plan = resolve(options, inputs, network())
            configure(plan.device)
            (stage,) = plan.stages
            _, weighted = stage_tensors(inputs, plan, stage)
            kept.update(plan=plan, stage=stage, styles=weighted,
                        stylise=make(options, plan.device, True, remember=True))  # fmt: skip
        plan, stage = kept["plan"], kept["stage"]
        content = stage_content(inputs, plan, stage)
        with autocast(plan.device, plan.dtype):
            out = kept["stylise"](content, kept["styles"], alpha)
        image = inputs.final(to_image(out))
        if previous is None or settings.per_frame or not settings.blend:
            return image
        stylised = as_array(image)
        warped, trust = links(as_array(frame), previous)
        blended = stylised + settings.blend * trust[..., None] * (warped - stylised)
        return Image.fromarray(np.clip(blended * 255.0 + 0.5, 0, 255).astype(np.uint8))

    return stylise


class OptimisedFrames:
    """The :data:`FrameStyliser` of gatys (see the module's docstring): the first frame a
    run of ``options``, each later one a run of ``frame_iterations`` at the final size from
    the previous result warped, with the temporal loss; ``callback`` gets each evaluation's
    progress, ``cancel`` stops inside a frame.

    ``balance`` is the (α, β) of the later frames: the first frame's, which a
    ``--strength`` calibrates; a resumed run that kept the first frame sets it from the
    record of the run that made it.
    """

    def __init__(
        self,
        styles: Sequence[Image.Image],
        options: Options,
        settings: VideoSettings,
        callback: Callable[[Progress], None] | None = None,
        cancel: Cancel | None = None,
    ) -> None:
        self.styles, self.options, self.settings = styles, options, settings
        self.callback, self.cancel = callback, cancel
        self.balance: tuple[float, float] | None = None

    def __call__(self, frame: Image.Image, previous: Previous | None) -> Image.Image:
        from painterly.methods import gatys

        inputs = prepare_inputs(frame, self.styles, self.options)
        if previous is None or self.settings.per_frame:
            plan = resolve(self.options, inputs, gatys.network(self.options))
            session = gatys.session(plan, inputs, callback=self.callback, cancel=self.cancel)
            result = gatys.run_session(session, plan.options, self.callback, self.cancel)
            if self.balance is None:
                self.balance = (result.options.content_weight, result.options.style_weight)
            return result.image
        assert self.balance is not None, "the first frame, or its record, sets the balance"
        alpha, beta = self.balance
        # One stage at the final size, from the warped previous result (the start below).
        later = self.options.replace(
            strength=None, content_weight=alpha, style_weight=beta, scales="none",
            iterations=self.settings.iterations_after_first(self.options), init="content",
        )  # fmt: skip
        plan = resolve(later, inputs, gatys.network(later))
        warped, trust = links(as_array(frame), previous)
        if self.options.preserve_color == "luminance":
            # Frames are optimised as luminance (Gatys et al. 2017 §5.1) and coloured after:
            # the start and the temporal target are the previous result's luminance.
            y = np.clip(rgb_to_yiq(warped)[..., :1], 0.0, 1.0).astype(np.float32)
            warped = np.repeat(y, 3, axis=2)
        session = FrameSession(
            plan, inputs, warped=as_tensor(warped, plan.device),
            trust=as_tensor(trust, plan.device), weight=self.settings.temporal_weight,
        )  # fmt: skip
        return gatys.run_session(session, later, self.callback, self.cancel).image


def frame_styliser(
    styles: Sequence[Image.Image],
    options: Options,
    settings: VideoSettings,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> FrameStyliser:
    """The :data:`FrameStyliser` of ``options.method``."""
    if options.method == "gatys":
        return OptimisedFrames(styles, options, settings, callback, cancel)
    return one_pass_frames(styles, options, settings)
