"""Region masks for spatial control (Gatys et al. 2017, §4): reading, fitting, checking.

A mask is an image whose grey level says how much of its region each pixel belongs to:
white is inside, black outside, grey a soft edge. Where several masks meet, their levels
must add up to at most 1; whatever the masks leave uncovered keeps the content. No model
code lives here; the guided Gram matrices that use the masks are in
:mod:`painterly.engine.losses`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from painterly.errors import Note, PainterlyError, printable
from painterly.io.images import load_image

OVERLAP_TOLERANCE = 0.02
"""How far the masks' sum may exceed 1: two anti-aliased 8-bit edges that should add up to 1
can round to a few levels more."""


def load_masks(paths: Sequence[str], size: tuple[int, int]) -> list[Image.Image]:
    """Read each mask as 8-bit greyscale at ``size`` (the content image's width × height).

    A mask of another size is resized to fit, with a :class:`~painterly.errors.Note`.
    Colour masks count by their luma; transparency counts as white, as for any input.

    Raises:
        PainterlyError: if a mask cannot be read as an image, is black everywhere, or the
            masks overlap by more than :data:`OVERLAP_TOLERANCE`.
    """
    masks = []
    for path in paths:
        mask = load_image(path, "mask").convert("L")
        if mask.size != size:
            (w, h), (cw, ch) = mask.size, size
            stretched = abs(w * ch - h * cw) > 0.01 * w * ch
            warnings.warn(
                f"the mask '{printable(path)}' is {w}×{h} pixels and the content image {cw}×{ch}; "
                f"the mask was resized to fit{' (stretched)' if stretched else ''}",
                Note,
                stacklevel=2,
            )
            mask = mask.resize(size, Image.Resampling.BILINEAR)
        masks.append(mask)
    check_masks(masks, paths)
    return masks


def mask_array(mask: Image.Image) -> np.ndarray:
    """The mask's levels as float32 in [0, 1]."""
    return np.asarray(mask, dtype=np.float32) / 255.0


def check_masks(masks: Sequence[Image.Image], names: Sequence[str]) -> None:
    """Refuse an empty mask, and masks whose levels add up to more than 1 anywhere."""
    total = np.zeros(masks[0].size[::-1], dtype=np.float32)
    for mask, name in zip(masks, names, strict=True):
        levels = mask_array(mask)
        if levels.max() == 0:
            raise PainterlyError(
                f"the mask '{printable(Path(name).name)}' is black everywhere, so its style would"
                " go nowhere"
            )
        total += levels
    excess = total > 1.0 + OVERLAP_TOLERANCE
    if excess.any():
        y, x = np.unravel_index(int(np.argmax(total)), total.shape)
        raise PainterlyError(
            f"the masks overlap: at {int(excess.sum())} pixels their grey levels add up to more "
            f"than 1 (up to {total.max():.2f}, e.g. at x={x}, y={y} of the content image); "
            "where masks meet, their levels must add up to at most 1"
        )
