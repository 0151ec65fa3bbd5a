"""What a method works on once the controls are applied: the images to transfer between,
the regions and their styles, and the last step that restores the content's colours.

Shared by every method and by ``painterly sweep``, so each control means the same
everywhere: several styles blended by weight (``style_blend``), regions painted by masks
(``masks``, Gatys et al. 2017 §4), colour preservation (``preserve_color``, §5) and the
photorealistic smoothing of the result (``photo_smooth``, Li et al. 2018 §3.2) and the
style's palette given to it last (``match_color``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from painterly.config.options import Options
from painterly.controls.colour import prepare_colour
from painterly.controls.masks import load_masks
from painterly.controls.photoreal import match_chroma, smooth
from painterly.errors import PainterlyError
from painterly.io.images import load_image


@dataclass(frozen=True)
class Region:
    """Part of the output and its style: the style images with their blend weights (which
    sum to 1) and the mask (8-bit greyscale at the content's size; None: everywhere)."""

    styles: tuple[tuple[Image.Image, float], ...]
    mask: Image.Image | None = None


@dataclass(frozen=True)
class Inputs:
    """The images a method transfers between and how to finish its result.

    ``content`` and the region styles are what the network sees (luminance only under
    ``preserve_color=luminance``); ``finish`` turns an output or progress image into the
    final one's colours, ``final`` a result into the final image: ``finish``, then
    ``--photo-smooth`` and ``--match-color`` (too slow to run on every progress image).
    ``exif`` is the photograph's EXIF (upright), which the output file carries.
    """

    content: Image.Image
    regions: tuple[Region, ...]
    finish: Callable[[Image.Image], Image.Image]
    final: Callable[[Image.Image], Image.Image]
    exif: bytes | None = None

    @property
    def styles(self) -> list[Image.Image]:
        """Every style image, region by region."""
        return [style for region in self.regions for style, _ in region.styles]


def blend_weights(count: int, blend: Sequence[float]) -> list[float]:
    """The weights of ``count`` styles, summing to 1: ``blend`` normalised, or equal."""
    if not blend:
        return [1.0 / count] * count
    if len(blend) != count:
        raise PainterlyError(
            f"--style-blend has {len(blend)} weight{'s' * (len(blend) != 1)} but "
            f"{count} style image{'s were' if count != 1 else ' was'} given; give one per style"
        )
    total = sum(blend)
    return [w / total for w in blend]


def match_palette(image: Image.Image, regions: Sequence[Region]) -> Image.Image:
    """``image`` with each region's chroma matched to its styles' (``--match-color chroma``).

    A pixel belongs to the region whose mask is whitest there, if that mask is at least half
    white; what no mask covers keeps its colours, as it keeps the content's.
    """
    if regions[0].mask is None:
        return match_chroma(image, regions[0].styles)
    levels = np.stack(
        [
            np.asarray(region.mask.resize(image.size, Image.Resampling.BILINEAR))
            for region in regions
            if region.mask is not None
        ]
    )
    owner, covered = levels.argmax(axis=0), levels.max(axis=0) >= 128
    for i, region in enumerate(regions):
        image = match_chroma(image, region.styles, covered & (owner == i))
    return image


def prepare_inputs(content: Image.Image, styles: Sequence[Image.Image], options: Options) -> Inputs:
    """Apply the colour, blend and region options to the loaded content and style images.

    With ``options.masks`` the styles come from the masks (each mask's own style file) and
    ``styles`` must be empty; otherwise ``styles`` are blended by ``options.style_blend``.

    Raises:
        PainterlyError: no style at all, styles given twice, a blend that does not match
            the styles, or a mask or mask style that cannot be used.
    """
    if options.masks:
        if styles:
            raise PainterlyError(
                "with --mask each region names its own style; give no STYLE images as well"
            )
        masks = load_masks([mask for mask, _ in options.masks], content.size)
        styles = [load_image(style, "style image") for _, style in options.masks]
    elif not styles:
        raise PainterlyError("give at least one style image, or regions with --mask")
    else:
        weights = blend_weights(len(styles), options.style_blend)
    photograph = content
    content, styles, finish = prepare_colour(options.preserve_color, content, styles)
    if options.masks:
        regions = tuple(
            Region(((style, 1.0),), mask) for style, mask in zip(styles, masks, strict=True)
        )
    else:
        regions = (Region(tuple(zip(styles, weights, strict=True))),)

    def final(image: Image.Image) -> Image.Image:
        smoothed = smooth(finish(image), photograph, options.photo_smooth)
        return match_palette(smoothed, regions) if options.match_color == "chroma" else smoothed

    return Inputs(content, regions, finish, final, photograph.info.get("exif"))
