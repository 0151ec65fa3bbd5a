"""One-pass methods tile by tile: print-size AdaIN, WCT and ArtFlow results in bounded memory,
and without seams.

A one-pass method encodes the content, maps its features (or latent) f to t = A f + b, and
decodes t. For AdaIN (per channel: A diagonal) and WCT (A a C × C matrix) the map depends
only on two sets of moments, the whole content's and the style's: the mean and the scatter
(per channel, or the whole covariance). Blending styles (Σ_k w_k t_k) and ``--strength``
((1 − α) f + α t) keep it affine. So a tiled pass

1. encodes the content tile by tile, each tile read with the encoder's reach as margin, and
   adds up the moments of the tiles' interiors: the whole image's moments, exactly (means
   and scatters combine pairwise, Chan, Golub & LeVeque 1979, so no sum of squares loses
   precision); the style's likewise;
2. fits A and b once, from those moments;
3. encodes each tile again, with a margin that covers the encoder's reach *and* the
   decoder's, maps and decodes it, and keeps its interior. Every pixel of an interior then
   depends only on pixels the window holds, the same ones the untiled pass reads, so the
   result is the untiled pass's (to float rounding): there is no seam, and nothing to
   blend.

Memory is one window's activations and the image-sized tensors, whatever the image's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from painterly.engine.runtime import PROCESS_BYTES
from painterly.engine.tiles import grid

FitMap = Callable[["Moments", "Moments"], "Affine"]
"""(content moments, style moments) → the map of a transform."""


@dataclass(frozen=True)
class Moments:
    """The count, mean (C) and scatter Σ (x − m)(x − m)ᵀ (C × C, or its diagonal, C) of a
    feature map's positions, in float64."""

    count: int
    mean: torch.Tensor
    scatter: torch.Tensor

    @staticmethod
    def of(features: torch.Tensor, full: bool) -> Moments:
        """The moments of a 1 × C × h × w map: the whole scatter if ``full``, else its
        diagonal (what a per-channel transform needs)."""
        x = features.reshape(features.shape[1], -1).float()
        mean = x.mean(dim=1)
        centred = x - mean[:, None]
        scatter = centred @ centred.T if full else centred.square().sum(dim=1)
        return Moments(x.shape[1], mean.double(), scatter.double())

    def __add__(self, other: Moments) -> Moments:
        """The moments of both sets of positions together."""
        count = self.count + other.count
        delta = other.mean - self.mean
        cross = torch.outer(delta, delta) if self.scatter.dim() == 2 else delta.square()
        return Moments(
            count,
            self.mean + delta * (other.count / count),
            self.scatter + other.scatter + cross * (self.count * other.count / count),
        )

    def variance(self, correction: int) -> torch.Tensor:
        """The scatter over ``count − correction``: the (co)variance."""
        return self.scatter / max(self.count - correction, 1)


@dataclass(frozen=True)
class Affine:
    """t = A f + b on each position's C channels; ``weight`` is A (C × C) or its diagonal
    (C), ``bias`` b (C), float64."""

    weight: torch.Tensor
    bias: torch.Tensor

    @staticmethod
    def identity(like: Affine) -> Affine:
        eye = torch.ones_like(like.bias)
        return Affine(torch.diag(eye) if like.weight.dim() == 2 else eye, torch.zeros_like(eye))

    def __mul__(self, factor: float) -> Affine:
        return Affine(self.weight * factor, self.bias * factor)

    def __add__(self, other: Affine) -> Affine:
        a, b = self.weight, other.weight
        if a.dim() != b.dim():
            a, b = (torch.diag(w) if w.dim() == 1 else w for w in (a, b))
        return Affine(a + b, self.bias + other.bias)

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """The map applied to a 1 × C × h × w feature map, in its dtype."""
        x = features.reshape(features.shape[1], -1)
        weight, bias = self.weight.to(x.dtype), self.bias.to(x.dtype)[:, None]
        out = (
            torch.addmm(bias, weight, x)
            if weight.dim() == 2
            else torch.addcmul(bias, x, weight[:, None])
        )
        return out.reshape(features.shape)


@dataclass(frozen=True)
class Fit:
    """How a transform is fitted from moments: whether it needs the whole covariance."""

    full: bool
    affine: FitMap


@dataclass(frozen=True)
class Codec:
    """A one-pass method's two networks, as the tiled pass needs them.

    ``encode`` maps an image (1 × 3 × H × W, sides multiples of ``stride`` for the content)
    to features of 1/``stride`` its side, ``decode`` back; ``encode_reach`` and
    ``decode_reach`` are how many pixels beyond its own an output of each depends on, to
    either side. ``style`` prepares a style image for ``encode``.
    """

    encode: Callable[[torch.Tensor], torch.Tensor]
    decode: Callable[[torch.Tensor], torch.Tensor]
    stride: int
    encode_reach: int
    decode_reach: int
    fit: Fit
    style: Callable[[torch.Tensor], torch.Tensor] = lambda image: image

    @property
    def margin(self) -> int:
        """The margin a decoded tile is read with: both reaches, in whole strides."""
        return _whole(self.encode_reach + self.decode_reach, self.stride)


def _whole(pixels: int, stride: int) -> int:
    return -(-pixels // stride) * stride


def moments(codec: Codec, image: torch.Tensor, tile: int) -> Moments:
    """The moments of ``codec.encode(image)``'s positions, from tiles of at most ``tile`` px
    read with the encoder's reach: those of the whole image's features."""
    h, w = image.shape[-2:]
    total: Moments | None = None
    for window in grid(h, w, tile, codec.stride, _whole(codec.encode_reach, codec.stride)):
        features = codec.encode(image[..., window.rows, window.columns])
        part = Moments.of(features[(..., *window.interior(codec.stride))], codec.fit.full)
        total = part if total is None else total + part
    assert total is not None, "an image has a tile"
    return total


def fitted_map(
    codec: Codec,
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    alpha: float,
    tile: int,
) -> Affine:
    """The map of the whole pass: Σ_k w_k (A_k f + b_k) for the weighted ``styles``, then
    (1 − α) f + α t, each A_k, b_k fitted to the whole content's and style's moments."""
    content_moments = moments(codec, content, tile)
    mixed: Affine | None = None
    for style, weight in styles:
        part = codec.fit.affine(content_moments, moments(codec, codec.style(style), tile))
        mixed = part * weight if mixed is None else mixed + part * weight
    assert mixed is not None, "at least one style"
    if alpha == 1.0:
        return mixed
    return Affine.identity(mixed) * (1.0 - alpha) + mixed * alpha


def tiled_transfer(
    codec: Codec,
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    alpha: float,
    tile: int,
) -> torch.Tensor:
    """The one-pass result for ``content`` (1 × 3 × H × W, sides multiples of the codec's
    stride), decoded in tiles of at most ``tile`` px: 1 × 3 × H × W float32, unclamped."""
    h, w = content.shape[-2:]
    mapping = fitted_map(codec, content, styles, alpha, tile)
    out = torch.empty((1, 3, h, w), dtype=torch.float32, device=content.device)
    for window in grid(h, w, tile, codec.stride, codec.margin):
        rows, columns = window.rows, window.columns
        decoded = codec.decode(mapping(codec.encode(content[..., rows, columns])))
        top, left = window.top - rows.start, window.left - columns.start
        out[..., window.top : window.bottom, window.left : window.right] = decoded[
            ..., top : top + window.bottom - window.top, left : left + window.right - window.left
        ]
    return out


def pass_bytes(
    output: tuple[int, int], styles: Sequence[tuple[int, int]], tile: int, edge: int
) -> int:
    """Peak memory of a tiled one-pass run at ``output`` (width, height), in bytes (an
    estimate): one window's activations, the content and the result (float32 and 8-bit),
    the largest style's, and what the networks and PyTorch hold."""
    w, h = output
    window = min(h, tile + 2 * edge) * min(w, tile + 2 * edge)
    style = max((sw * sh for sw, sh in styles), default=0)
    return WINDOW_BYTES * window + IMAGE_BYTES * (w * h + style) + PROCESS_BYTES


WINDOW_BYTES = 1024
"""Bytes a window pixel costs in a pass without gradients: the widest moments are the
encoder's and decoder's full-resolution 64-channel layers, two or three of them alive."""
IMAGE_BYTES = 30
"""Bytes an image pixel costs: the float32 content and result (12 bytes each) and their
8-bit images."""
