"""Temporal consistency of an optimised frame (Ruder, Dosovitskiy & Brox 2016, §3): the
frame starts from the previous frame's stylisation warped into it, and its objective gains
the short-term temporal loss γ·(1/D) Σ c (x − ω)² on the pixels where that warp is trusted."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from painterly.config.options import Options
from painterly.engine import losses
from painterly.engine.objective import Objective
from painterly.engine.plan import StagePlan
from painterly.engine.session import Session


class TemporalObjective:
    """``inner``'s terms plus ``weight``·L_temporal (:func:`losses.temporal_loss`) against
    ``warped`` (ω) where ``trust`` (c) says so; otherwise it is ``inner``."""

    def __init__(
        self, inner: Objective, warped: torch.Tensor, trust: torch.Tensor, weight: float
    ) -> None:
        self.inner = inner
        self.warped = warped
        self.trust = trust
        self.weight = weight

    def compose(self, image: torch.Tensor) -> torch.Tensor:
        return self.inner.compose(image)

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = self.inner(image)
        temporal = self.weight * losses.temporal_loss(self.compose(image), self.warped, self.trust)
        terms["temporal"] = temporal
        terms["total"] = terms["total"] + temporal
        return terms


def as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """An H×W×C (or H×W) float array in [0, 1] as a 1×C×H×W tensor on ``device``."""
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None].to(device)


def _at(tensor: torch.Tensor, stage: StagePlan) -> torch.Tensor:
    w, h = stage.output
    if tensor.shape[-2:] == (h, w):
        return tensor
    return F.interpolate(tensor, size=(h, w), mode="bilinear", align_corners=False)


class FrameSession(Session):
    """A :class:`Session` for a frame after the first: it starts from ``warped`` (the
    previous result warped into this frame, Ruder et al.'s "prevWarped" start) where the
    warp is trusted and from the frame elsewhere, and, with ``weight`` > 0, its objective
    has the temporal term against it."""

    def __init__(
        self, *args: object, warped: torch.Tensor, trust: torch.Tensor, weight: float,
        **kwargs: object,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.warped = warped.to(self.plan.device)
        self.trust = trust.to(self.plan.device)
        self.weight = weight

    def objective(self, stage: StagePlan, options: Options) -> Objective:
        inner = super().objective(stage, options)
        if not self.weight:
            return inner
        temporal = TemporalObjective(
            inner, _at(self.warped, stage), _at(self.trust, stage), self.weight
        )
        return temporal  # type: ignore[return-value]  # it has what the loop uses of one

    def start(
        self, stage: StagePlan, options: Options, previous: torch.Tensor | None = None
    ) -> torch.Tensor:
        if previous is not None:
            return super().start(stage, options, previous)
        # Where the warp is not trusted (what the camera newly sees, disocclusions) the warp
        # holds whatever lay nearby, which a few evaluations would not paint over and later
        # frames would carry on: start there from the frame itself, as the first frame does.
        trust = _at(self.trust, stage)
        content = self.targets(stage).content_image
        return torch.lerp(content, _at(self.warped, stage), trust)
