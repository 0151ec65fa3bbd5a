"""``--strength``: one number from 0 to 1 that means the same balance for every image pair.

Why a fixed α/β does not: how far a result moves from the photograph towards the painting
depends on the pair as much as on α/β (the paper itself used α/β from 5e-4 to 5e-3 for its
five paintings), so the α/β that paints one photograph well leaves another almost
untouched or buries it.

What strength fixes instead is the result's *retention* of the photograph's structure,

    ρ = (cos(F, P) − cos(S, P)) / (1 − cos(S, P)),

the cosine similarity of the result's features F with the photograph's P at the content
layers (conv4_2), rescaled so that 1 is the photograph itself and 0 is as dissimilar as the
style image S (stretched to the output) is. Strength s asks for ρ = 1 − s: 0 keeps the
photograph, 0.3 is about the paper's look at its usual α/β = 1e-3, 1 paints a pure texture.

Retention is measured, not predicted: before the run, a few *pilot* runs of the same pair
with the same options, shortened to at most :data:`PILOT_SIZE` px and
:data:`PILOT_ITERATIONS` evaluations, try α/β values, and :func:`next_ratio` interpolates
log(α/β) against ρ towards the target (a secant search). The calibrated loss convention
makes an α/β found at the pilots' size hold at the output's. The functions here are the
pure arithmetic; :func:`painterly.methods.gatys.calibrate_strength` runs the pilots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PILOT_SIZE = 128
"""Longest side of the pilot runs, in pixels: conv4_2 sees 16 × 16 positions of structure,
and three pilots cost about 4 % of a 500-evaluation run at 512 px."""
PILOT_ITERATIONS = 100
"""Most L-BFGS evaluations of a pilot run; fewer if the run itself has fewer. Retention
keeps rising as the optimisation reconstructs the content, so shorter pilots (we tried 40
at 64 px) aim at a state the run has long left and miss by a different amount per pair."""
PILOTS = 3
"""Pilot runs per calibration: a first guess, a step of a decade, one secant step."""
FIRST_RATIO = 1e-3
"""α/β of the first pilot: the paper's usual value."""
RATIO_RANGE = (1e-7, 1e3)
"""α/β are kept within these bounds, far outside anything useful."""
MAX_STEP = 2.0
"""Largest change of log10(α/β) a secant step may make from the nearest pilot."""


def target_retention(strength: float) -> float:
    """ρ asked for by ``strength``: 1 − s."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return 1.0 - strength


def retention(similarity: float, style_similarity: float) -> float:
    """ρ from the result's cosine similarity to the content and the style image's."""
    return (similarity - style_similarity) / max(1.0 - style_similarity, 1e-6)


def next_ratio(samples: Sequence[tuple[float, float]], target: float) -> float:
    """The α/β to try next, given pilots ``samples`` = [(α/β, ρ), …] and the target ρ.

    Retention grows with α/β. One sample: a decade towards the target. Several: linear
    interpolation of log10(α/β) against ρ between the two samples that bracket the target
    (or the two nearest to it), a step of at most :data:`MAX_STEP` decades from the
    nearest sample, clamped to :data:`RATIO_RANGE`.
    """
    logs = sorted((math.log10(r), rho) for r, rho in samples)
    nearest = min(logs, key=lambda s: abs(s[1] - target))
    if len(logs) == 1:
        step = 1.0 if nearest[1] < target else -1.0
        return _clamp(10 ** (nearest[0] + step))
    below = [s for s in logs if s[1] <= target]
    above = [s for s in logs if s[1] > target]
    if below and above:
        a, b = max(below, key=lambda s: s[1]), min(above, key=lambda s: s[1])
    else:
        a, b = sorted(logs, key=lambda s: abs(s[1] - target))[:2]
    if abs(b[1] - a[1]) < 1e-6:  # flat: keep moving the way the target lies
        guess = nearest[0] + (1.0 if nearest[1] < target else -1.0)
    else:
        guess = a[0] + (target - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
    guess = min(max(guess, nearest[0] - MAX_STEP), nearest[0] + MAX_STEP)
    return _clamp(10**guess)


def _clamp(ratio: float) -> float:
    return min(max(ratio, RATIO_RANGE[0]), RATIO_RANGE[1])
