"""The fixed side of image optimisation: the content features P^l, the style Gram matrices
A^l of each region (and, for ``--style-loss wasserstein`` or ``sliced``, the style's Gaussians
or sorted projections), the regions' guidance channels, and the features of the "all style"
images that ``--strength`` measures retention against. Computed once per output size, then
shared by every run at that size (:class:`~painterly.engine.session.Session` caches them: the
stages of one run, the strength pilots, the cells of ``painterly sweep``).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from painterly.controls.inputs import Inputs
from painterly.controls.masks import mask_array
from painterly.engine import losses, tiles
from painterly.engine.runtime import autocast
from painterly.io.images import to_tensor
from painterly.models.vgg import VGG19, layer_channels


@dataclass(frozen=True)
class StyleTarget:
    """One region's style: A^l per layer, scaled to the output's M_l and blended over the
    region's styles, and its guidance channels T^l (None: the whole image)."""

    grams: dict[str, torch.Tensor]
    guides: dict[str, torch.Tensor] | None = None
    distributions: dict[str, losses.Gaussian] | dict[str, losses.Slices] | None = None
    """Per layer, what ``--style-loss wasserstein`` (Gaussians) or ``sliced`` (sorted
    projections) compares with; None for gram."""


@dataclass(frozen=True)
class Targets:
    """Everything an objective compares against at one output size.

    ``content_image`` is the content as the network sees it at that size; ``coverage``
    (1×1×H×W, masks only) is how much of each pixel the regions paint, the rest keeping the
    content; ``references`` holds, with their weights, the features at the content layers
    of the images that stand for "all style" when ``--strength`` measures retention
    (:mod:`painterly.controls.strength`); ``first_style``
    is the first style image at its working size, for ``--init style``; ``style_loss`` is the
    ``--style-loss`` the styles' distributions were computed for.
    """

    content_image: torch.Tensor
    content: dict[str, torch.Tensor]
    styles: tuple[StyleTarget, ...]
    first_style: Image.Image
    coverage: torch.Tensor | None = None
    references: tuple[tuple[dict[str, torch.Tensor], float], ...] = ()
    style_loss: str = "gram"


def _mask_tensor(mask: Image.Image, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    resized = mask.resize(size, Image.Resampling.BILINEAR)
    return torch.from_numpy(mask_array(resized))[None, None].to(device)


def compute_targets(
    encoder: VGG19,
    inputs: Inputs,
    content_size: tuple[int, int],
    style_sizes: Sequence[tuple[int, int]],
    content_layers: Sequence[str],
    style_layers: Sequence[str],
    device: torch.device,
    dtype: torch.dtype,
    references: bool = False,
    *,
    style_loss: str,
    seed: int,
    tile: int | None = None,
) -> Targets:
    """Targets for an output of ``content_size`` (width, height).

    ``style_sizes`` gives each of ``inputs.styles`` its working size. As in the single-style
    case, A^l is rescaled by M_l(output) / M_l(style) so that a style image of another size
    is compared per position; a region's blend is Σ_s w_s A^l_s. ``references`` also encodes
    the "all style" images: each style stretched to the output, or with masks the content
    with every region filled by its style. ``dtype`` is the convolutions' precision
    (:func:`painterly.engine.runtime.autocast`); Grams are accumulated in float32 either way.

    ``style_loss`` wasserstein also keeps each region's Gaussians (the blend of the styles'
    means and second raw moments), sliced its sorted projections (the blend of the styles'
    quantile functions, their 1-D Wasserstein barycentre) on directions drawn from ``seed``
    (see :func:`slice_directions`). The sorted projections are as large as the output's
    features at the style layers: at 2048 × 1536, 0.8 GB for conv1_1.

    With ``tile`` (a tiled stage, :mod:`painterly.engine.tiling`) the content's features
    and the Grams of a style image larger than the tile are computed tile by tile, so no
    image's activations are in memory whole.
    """
    layers = list(dict.fromkeys([*content_layers, *style_layers]))
    content = to_tensor(inputs.content.resize(content_size, Image.Resampling.LANCZOS)).to(device)
    # Only the content layers' features are kept for the run; of the style layers the
    # output's shapes are all that is needed. (Keeping conv1_1 at the output's size would
    # cost as much memory as a layer of backpropagation: 0.8 GB at 2048 × 1536.)
    rows, columns = content.shape[2:]
    shapes = {name: tiles.layer_shape(rows, columns, name) for name in style_layers}
    if tile is not None:
        targets = tiles.tiled_content(encoder, content, list(content_layers), tile, dtype)
    else:
        with torch.inference_mode(), autocast(device, dtype):
            features = encoder(content, layers)
        targets = {name: features[name].clone() for name in content_layers}
        del features
    sized = iter(style_sizes)
    styles_at = [
        [(style.resize(next(sized), Image.Resampling.LANCZOS), w) for style, w in region.styles]
        for region in inputs.regions
    ]
    masks = [
        None if region.mask is None else _mask_tensor(region.mask, content_size, device)
        for region in inputs.regions
    ]
    directions = (
        slice_directions(style_layers, seed, content_size, device) if style_loss == "sliced" else {}
    )
    styles = []
    for region, mask in zip(styles_at, masks, strict=True):
        grams: dict[str, torch.Tensor] = {}
        means: dict[str, torch.Tensor] = {}
        quantiles: dict[str, torch.Tensor] = {}
        # One style image's features at a time: each is reduced to its Grams before the next.
        for image, weight in region:
            pixels = to_tensor(image).to(device)
            if tile is not None and max(image.size) > tile:
                _add_tiled(grams, encoder, pixels, style_layers, tile, dtype, shapes, weight)
                continue
            with torch.inference_mode(), autocast(device, dtype):
                f = encoder(pixels, list(style_layers))
            for name in style_layers:
                height, width = shapes[name]
                scale = weight * height * width / (f[name].shape[2] * f[name].shape[3])
                _add(grams, name, losses.gram_matrix(f[name]) * scale)
                if style_loss == "wasserstein":
                    _add(means, name, weight * losses.feature_moments(f[name])[0])
                elif style_loss == "sliced":
                    projected = losses.sorted_projections(f[name], directions[name])
                    _add(
                        quantiles,
                        name,
                        weight * losses.resample_quantiles(projected, height * width),
                    )
            del f
        guides = (
            None
            if mask is None
            else {name: losses.layer_guide(mask, shapes[name]) for name in style_layers}
        )
        styles.append(
            StyleTarget(
                grams,
                guides,
                _distributions(style_loss, grams, means, quantiles, directions, shapes),
            )
        )
    painted = [mask for mask in masks if mask is not None]
    coverage = torch.clamp(functools.reduce(operator.add, painted), 0.0, 1.0) if painted else None
    return Targets(
        content_image=content,
        content=targets,
        styles=tuple(styles),
        first_style=styles_at[0][0][0],
        coverage=coverage,
        references=_references(encoder, inputs, content, masks, content_layers)
        if references
        else (),
        style_loss=style_loss,
    )


def _add(total: dict[str, torch.Tensor], name: str, value: torch.Tensor) -> None:
    total[name] = value if name not in total else total[name] + value


def _add_tiled(
    grams: dict[str, torch.Tensor],
    encoder: VGG19,
    style: torch.Tensor,
    style_layers: Sequence[str],
    tile: int,
    dtype: torch.dtype,
    shapes: dict[str, tuple[int, int]],
    weight: float,
) -> None:
    """Add a large style image's Grams, summed from its tiles and scaled as above."""
    h, w = style.shape[2:]
    for name, gram in tiles.tiled_gram(encoder, style, style_layers, tile, dtype).items():
        height, width = shapes[name]
        style_h, style_w = tiles.layer_shape(h, w, name)
        _add(grams, name, gram * (weight * height * width / (style_h * style_w)))


def slice_directions(
    style_layers: Sequence[str], seed: int, size: tuple[int, int], device: torch.device
) -> dict[str, torch.Tensor]:
    """The sliced loss's random unit directions, N_l per style layer, for an output of
    ``size``.

    Heitz et al. (2021) draw new directions at every step of their optimiser, but L-BFGS
    needs the same objective at every evaluation of its line search, so a stage keeps one
    set: drawn on the CPU (the same on every device) from the run's seed plus the stage's
    pixel count, so each stage of a schedule sees other directions and a run repeated with
    the same seed sees the same ones.
    """
    generator = torch.Generator().manual_seed((seed + size[0] * size[1]) % 2**64)
    return {
        name: losses.random_directions(layer_channels(name), generator).to(device)
        for name in style_layers
    }


def _distributions(
    style_loss: str,
    grams: dict[str, torch.Tensor],
    means: dict[str, torch.Tensor],
    quantiles: dict[str, torch.Tensor],
    directions: dict[str, torch.Tensor],
    shapes: Mapping[str, tuple[int, ...]],
) -> dict[str, losses.Gaussian] | dict[str, losses.Slices] | None:
    """A region's blended statistics for ``style_loss``; A^l / M_l is the blend of the
    styles' second raw moments, as A^l is of their Grams scaled to the output."""
    if style_loss == "wasserstein":
        return {
            name: losses.Gaussian.from_moments(
                means[name], gram / (shapes[name][0] * shapes[name][1])
            )
            for name, gram in grams.items()
        }
    if style_loss == "sliced":
        return {name: losses.Slices(directions[name], quantiles[name]) for name in quantiles}
    return None


def _references(
    encoder: VGG19,
    inputs: Inputs,
    content: torch.Tensor,
    masks: Sequence[torch.Tensor | None],
    content_layers: Sequence[str],
) -> tuple[tuple[dict[str, torch.Tensor], float], ...]:
    """Content-layer features of the "all style" images, with their weights (see above)."""
    size = (content.shape[3], content.shape[2])

    def stretched(style: Image.Image) -> torch.Tensor:
        return to_tensor(style.resize(size, Image.Resampling.LANCZOS)).to(content.device)

    painted = [mask for mask in masks if mask is not None]
    if not painted:
        images = [(stretched(style), w) for style, w in inputs.regions[0].styles]
    else:
        filled = content.clone()
        for region, mask in zip(inputs.regions, painted, strict=True):
            filled = filled + mask * (stretched(region.styles[0][0]) - content)
        images = [(filled, 1.0)]
    with torch.inference_mode():
        features = [(encoder(img, list(content_layers)), w) for img, w in images]
    return tuple(({k: v.clone() for k, v in f.items()}, w) for f, w in features)
