"""Reading option values given as text or numbers: one sentence for each mistake.

Shared by :mod:`painterly.config.options` and :mod:`painterly.config.schedule`, so that a
stage's size and ``--size`` are refused in the same words.
"""

from __future__ import annotations

import math
from typing import Any

from painterly.errors import PainterlyError


def read_number(value: Any, what: str, minimum: float = 0.0, strict: bool = False) -> float:
    """Convert to a finite float ≥ minimum (> minimum if strict) or raise PainterlyError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PainterlyError(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise PainterlyError(f"{what} must be a finite number, not {value!r}")
    if number < minimum or (strict and number == minimum):
        bound = "greater than" if strict else "at least"
        raise PainterlyError(f"{what} must be {bound} {minimum:g}, not {value}")
    return number


def read_integer(value: Any, what: str, minimum: int) -> int:
    """Convert to an int ≥ minimum (``"30"`` from a flag, not ``1.5`` or ``True``)."""
    try:
        number = int(str(value)) if not isinstance(value, int) else value
    except ValueError:
        raise PainterlyError(f"{what} must be a whole number, not {value!r}") from None
    if isinstance(value, bool) or number < minimum:
        raise PainterlyError(f"{what} must be a whole number ≥ {minimum}, not {value!r}")
    return number


def read_choice(value: Any, what: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, matched regardless of case and surrounding spaces."""
    text = str(value).strip().lower()
    if text not in choices:
        raise PainterlyError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return text
