"""Adaptive instance normalisation (Huang & Belongie 2017): stylise in one network pass.

The content's relu4_1 features are normalised per channel and given the style's per-channel
mean and standard deviation (Eq. 8), then decoded (:mod:`painterly.methods.feedforward`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image

from painterly.config.options import Options
from painterly.engine.optimize import Cancel, Progress
from painterly.methods.base import Result
from painterly.methods.feedforward import run_transform
from painterly.methods.tiled import Affine, Fit, Moments

EPSILON = 1e-5
"""Added to the variance before the square root (Eq. 6), so a flat channel has σ > 0."""


def mean_std(features: torch.Tensor, eps: float = EPSILON) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean μ and standard deviation σ over the positions.

    Eqs. 5 and 6: μ_nc = 1/(HW) Σ_hw x_nchw, σ_nc = sqrt(1/(HW) Σ_hw (x_nchw − μ_nc)² + ε).
    ``features`` is N×C×H×W; both results are N×C×1×1, computed in float32 at least.
    """
    x = features.flatten(2).to(torch.promote_types(features.dtype, torch.float32))
    var, mean = torch.var_mean(x, dim=2, correction=0)
    return mean[..., None, None], torch.sqrt(var + eps)[..., None, None]


def adaptive_instance_norm(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """AdaIN(x, y) = σ(y) (x − μ(x)) / σ(x) + μ(y) (Eq. 8), per channel.

    ``content`` (x) and ``style`` (y) are N×C×H×W feature maps; their sizes may differ.
    """
    content_mean, content_std = mean_std(content)
    style_mean, style_std = mean_std(style)
    normalised = (content - content_mean) / content_std
    return normalised * style_std + style_mean


def fit_adain(content: Moments, style: Moments) -> Affine:
    """Eq. 8 as a map of the content's features, from the whole images' moments:
    σ(y)/σ(x) per channel, and μ(y) − μ(x) σ(y)/σ(x) added (σ with :data:`EPSILON`)."""
    scale = torch.sqrt(style.variance(0) + EPSILON) / torch.sqrt(content.variance(0) + EPSILON)
    return Affine(scale, style.mean - scale * content.mean)


FIT = Fit(full=False, affine=fit_adain)
"""AdaIN's tiled form (:mod:`painterly.methods.tiled`): per channel."""


def run(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: Options,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> Result:
    """Stylise ``content`` with ``styles`` by AdaIN at relu4_1 and the pretrained decoder."""
    return run_transform(content, styles, options, adaptive_instance_norm, FIT, callback, cancel)
