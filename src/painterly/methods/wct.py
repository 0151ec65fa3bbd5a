"""Whitening and colouring transform (Li et al. 2017, "Universal Style Transfer via
Feature Transforms", §3.1), at one level (relu4_1) with the AdaIN decoder.

The content features are whitened (their covariance made the identity), then coloured with
the style's covariance and mean, so they match the style's second-order statistics across
channels, not only per channel as AdaIN's do.
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

RELATIVE_FLOOR = 1e-5
"""Eigenvalues below this fraction of the largest (or below :data:`ABSOLUTE_FLOOR`) count
as zero: their directions carry no signal, and dividing by their square roots would blow
rounding noise up (the authors' code drops eigenvalues under 1e-5 for the same reason)."""
ABSOLUTE_FLOOR = 1e-8


def covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean m (C×1) and covariance (f − m)(f − m)ᵀ / (HW − 1) (C×C) of a C×H×W feature map.

    Summed in float32 (at least): the product is the costly step, and float64 would take
    several times as long on a CPU for no visible difference.
    """
    x = features.reshape(features.shape[0], -1)
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    mean = x.mean(dim=1, keepdim=True)
    centred = x - mean
    return mean, centred @ centred.T / max(x.shape[1] - 1, 1)


def _root(cov: torch.Tensor, power: float) -> torch.Tensor:
    """cov^power for a symmetric positive semi-definite matrix: E D^power Eᵀ, with the
    eigenvalues under the floor treated as zero (their power as 0, even for negative powers)."""
    values, vectors = torch.linalg.eigh(cov.double())
    floor = max(ABSOLUTE_FLOOR, RELATIVE_FLOOR * values.max().clamp(min=0).item())
    keep = values > floor
    scaled = torch.where(keep, values.clamp(min=floor).pow(power), torch.zeros_like(values))
    return (vectors * scaled) @ vectors.T


def whiten_colour(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The WCT of N×C×H×W content features to the style's statistics, sample by sample.

    Whitening (Eq. 2): f̂_c = E_c D_c^−½ E_cᵀ (f_c − m_c); colouring (Eq. 3):
    f̂_cs = E_s D_s^½ E_sᵀ f̂_c + m_s. The eigen-decompositions run in float64 with
    near-zero eigenvalues dropped, so a flat image (zero covariance) gives the style's
    mean instead of NaN. Statistics and the product are float32 (at least), the
    eigen-decompositions float64.
    """
    out = torch.empty_like(content)
    for n in range(content.shape[0]):
        c, s = content[n], style[n]
        content_mean, content_cov = covariance(c)
        style_mean, style_cov = covariance(s)
        transform = (_root(style_cov, 0.5) @ _root(content_cov, -0.5)).to(content_cov.dtype)
        flat = c.reshape(c.shape[0], -1).to(content_cov.dtype) - content_mean
        coloured = torch.addmm(style_mean.to(content_cov.dtype), transform, flat)
        out[n] = coloured.reshape(c.shape).to(content.dtype)
    return out


def fit_wct(content: Moments, style: Moments) -> Affine:
    """Eqs. 2 and 3 as one map of the content's features, from the whole images' moments:
    A = E_s D_s^½ E_sᵀ E_c D_c^−½ E_cᵀ and b = m_s − A m_c (float64)."""
    transform = _root(style.variance(1), 0.5) @ _root(content.variance(1), -0.5)
    return Affine(transform, style.mean - transform @ content.mean)


FIT = Fit(full=True, affine=fit_wct)
"""WCT's tiled form (:mod:`painterly.methods.tiled`): the whole covariance."""


def run(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: Options,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> Result:
    """Stylise ``content`` with ``styles`` by WCT at relu4_1 and the AdaIN decoder."""
    return run_transform(content, styles, options, whiten_colour, FIT, callback, cancel)
