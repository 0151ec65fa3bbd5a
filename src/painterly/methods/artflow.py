"""ArtFlow's transfer (An et al., CVPR 2021, §3.3): stylise in the latent of the projection
flow and come back through the same flow, reversed.

z_c = f(c) and z_s = f(s) are the 48-channel latents of :class:`ProjectionFlow`; the
transfer T — AdaIN (per-channel mean and standard deviation, ArtFlow-AdaIN) or the whitening
and colouring transform (the 48 × 48 covariance, ArtFlow-WCT) — gives z_c the style's
statistics, and the image is f⁻¹(T(z_c, z_s)). There is no decoder to learn an
approximate inverse: f⁻¹ is exact, so what the transfer keeps of the content, the image
keeps (the paper's answer to content leak, §3.1).

The transform is applied per image (the reference code's WCT pools the statistics of a whole
batch; here a batch of one image and its styles never mix with another's). Several styles
are blended in the latent, Σ_k w_k T(z_c, z_s_k), and ``--strength`` α interpolates there,
(1 − α) z_c + α T, as the AdaIN paper does in feature space.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image

from painterly.config.options import Options
from painterly.engine.optimize import Cancel, Progress
from painterly.engine.plan import Network
from painterly.methods import adain, wct
from painterly.methods.adain import adaptive_instance_norm
from painterly.methods.base import Result
from painterly.methods.feedforward import (
    StyleMemo,
    Stylise,
    Transform,
    blend_strength,
    mix_transfers,
    pad_to_stride,
    run_pass,
    tiled_pass,
)
from painterly.methods.tiled import Codec, Fit
from painterly.methods.wct import whiten_colour
from painterly.models.artflow import STRIDE, ProjectionFlow
from painterly.models.weights import trained_file

TRANSFORMS: dict[str, Transform] = {"adain": adaptive_instance_norm, "wct": whiten_colour}
"""The latent transfers, by the name ``--transform`` takes."""
MEMORY_BOUND = "conv4_1"
"""The plan's memory estimate is VGG-19's down to relu4_1 (about 420 floats a pixel with the
optimisation's margins), which bounds the flow's pass for widths up to 512: its widest
moment is a coupling's hidden activations, width/4 floats a pixel at half the side, two or
three alive at once."""
FITS: dict[str, Fit] = {"adain": adain.FIT, "wct": wct.FIT}
"""The latent transfers' tiled forms (:mod:`painterly.methods.tiled`)."""
SHIPPED = "artflow"
"""The registered name (:data:`painterly.models.weights.TRAINED`) of the flow that ships with
the package, what ``--artflow-model auto`` means."""


def crop_to_stride(image: torch.Tensor, stride: int) -> torch.Tensor:
    """``image`` cut at its right and bottom edges down to multiples of ``stride``: a style
    image only lends its statistics, and a few missing rows change them less than rows
    reflected in would."""
    h, w = image.shape[-2:]
    return image[..., : h - h % stride, : w - w % stride]


def transfer(
    flow: ProjectionFlow,
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    transform: Transform,
    alpha: float,
    clamp: bool = True,
    memo: StyleMemo | None = None,
) -> torch.Tensor:
    """Stylise ``content`` (1×3×H×W in [0, 1], H, W ≥ the flow's stride) with the weighted
    ``styles`` (1×3×h×w each), through the latent of ``flow`` (the styles' latents kept in
    ``memo``, when given, for the next call).

    The content is reflect-padded to multiples of the flow's stride and the result cropped
    back, so the output has the content's size; the styles are cropped to multiples of it.
    Returns 1×3×H×W, clamped to [0, 1] unless ``clamp`` is false (float rounds of
    ``painterly leak``, where a round trip must come back exactly).
    """
    h, w = content.shape[-2:]
    with torch.inference_mode():
        latent = flow(pad_to_stride(content, flow.stride))
        mixed = mix_transfers(
            latent, styles, lambda style: flow(crop_to_stride(style, flow.stride)), transform, memo
        )
        image = flow.reverse(blend_strength(latent, mixed, alpha))
        image = image[..., :h, :w].float()
        return image.clamp_(0.0, 1.0) if clamp else image


def load(options: Options, device: torch.device) -> ProjectionFlow:
    """The flow ``options.artflow_model`` names, on ``device``; kept for the next run while
    the file is unchanged (``painterly leak`` runs a pass a round)."""
    auto = options.artflow_model == "auto"
    path = trained_file(SHIPPED) if auto else Path(options.artflow_model)
    try:
        stat = path.stat()
        where = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:  # load_flow says in one sentence what is wrong with the path
        where = (str(path), 0, 0)
    return _load(str(path), where, str(device))


@functools.lru_cache(maxsize=2)
def _load(path: str, where: tuple[str, int, int], device: str) -> ProjectionFlow:
    """The flow in ``path`` on ``device``; ``where`` (the file's resolved path, modification
    time and size) only keys the cache, so a changed or another file is read afresh."""
    from painterly.train.store import load_flow

    return load_flow(path).to(torch.device(device))


def network() -> Network:
    """What the pass asks of its plan: sides of at least the flow's stride, no history, and
    tiles read with the shipped flow's reach both ways (the plan's estimate; a tiled pass
    reads the loaded flow's own)."""
    return Network(MEMORY_BOUND, STRIDE, 0, 2 * ProjectionFlow().reach)


def flow_tiles(options: Options, device: torch.device, tile: int) -> Stylise:
    """:func:`transfer` decoded in tiles of at most ``tile`` px, in float32."""
    flow = load(options, device)
    codec = Codec(
        flow, flow.reverse, flow.stride, flow.reach, flow.reach, FITS[options.transform],
        lambda style: crop_to_stride(style, flow.stride),
    )  # fmt: skip
    stylise = tiled_pass(codec, tile)

    def float32(
        content: torch.Tensor, styles: Sequence[tuple[torch.Tensor, float]], alpha: float
    ) -> torch.Tensor:
        with torch.autocast(device.type, enabled=False):
            return stylise(content, styles, alpha)

    return float32


def flow_pass(
    options: Options, device: torch.device, clamp: bool = True, remember: bool = False
) -> Stylise:
    """:func:`transfer` through the model of ``options``, in float32 whatever the plan's
    precision: in bf16 the flow and its inverse no longer cancel (about 2e-4 apart), and
    exactness is the point of ArtFlow. With ``remember``, each style tensor is encoded once
    for all the passes (a clip's frames)."""
    flow = load(options, device)
    transform = TRANSFORMS[options.transform]
    memo: StyleMemo | None = {} if remember else None

    def stylise(
        content: torch.Tensor, styles: Sequence[tuple[torch.Tensor, float]], alpha: float
    ) -> torch.Tensor:
        with torch.autocast(device.type, enabled=False):
            return transfer(flow, content, styles, transform, alpha, clamp, memo)

    return stylise


def run(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: Options,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> Result:
    """Stylise ``content`` with ``styles`` by ArtFlow (``options.transform`` in the latent of
    ``options.artflow_model``)."""
    return run_pass(
        content, styles, options, lambda device: flow_pass(options, device), network(),
        callback, cancel, lambda device, tile: flow_tiles(options, device, tile),
    )  # fmt: skip
