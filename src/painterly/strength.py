"""``--strength``: one number from 0 to 1 that means the same balance for every image pair.

Why fixed α/β do not: the style loss of an image depends on how far apart the Gram
matrices of *these* two images are, which varies by orders of magnitude between pairs, so
the α/β that paints one photograph well leaves another nearly untouched. Strength measures
that scale on the pair before the optimisation starts:

- C₀, the content loss of the style image(s) stretched to the output: what the content
  term costs when the image is all style;
- S₀, the style loss of the content image: what the style term costs when the image is
  all content;

and sets

    α = 1 − s,    β = s · C₀ / S₀,

so that at those two ends the weighted terms stand in the ratio (1 − s) : s. If both losses
were quadratic, L_c = a‖x − c‖² and L_s = b‖x − t‖² with the pure style t, the optimum would
lie the fraction s of the way from c to t for every pair, and its weighted terms would be
in the ratio α L_c : β L_s = s : (1 − s); real images follow this only roughly, and
docs/controls.md measures how closely.
"""

from __future__ import annotations

DEFAULT_STRENGTH = 0.5
"""Suggested starting point (docs); the option itself is off unless given."""


def strength_weights(
    strength: float, content_reference: float, style_reference: float
) -> tuple[float, float]:
    """(α, β) for ``strength`` s given C₀ (``content_reference``) and S₀ (``style_reference``).

    α = 1 − s and β = s · C₀ / S₀ (module docstring). When the content image already has
    the style (S₀ = 0) or the style image the content (C₀ = 0) the ratio is undefined and
    β = s, so the run still does something sensible.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    if content_reference > 0 and style_reference > 0:
        return 1.0 - strength, strength * content_reference / style_reference
    return 1.0 - strength, strength
