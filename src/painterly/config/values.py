"""Reading option values given as text or numbers: one sentence for each mistake.

Shared by :mod:`painterly.config.options` and :mod:`painterly.config.schedule`, so that a
stage's size and ``--size`` are refused in the same words. Each reader checks the type
before the value: a number is an int, a float or a text that reads as one, never a bool
(``True`` is an int to Python, not a strength to a user); a name is a text. Whatever else
arrives (None, a list, a 401-digit integer) is refused with the same one sentence as a bad
text, so no front end can turn it into a TypeError or an OverflowError.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import reprlib
from typing import Any, cast

from painterly.errors import PainterlyError


class _Shown(reprlib.Repr):
    """reprlib with short limits, for quoting a user's value inside a one-line message."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = 60
        self.maxlong = 40
        self.maxlevel = 2
        self.maxtuple = self.maxlist = self.maxdict = self.maxset = 4

    def repr_int(self, x: int, level: int) -> str:
        # Python refuses to print an int of more than 4300 digits (and reprlib before 3.12
        # does not catch that), and a message need not spell out a huge one anyway.
        if x.bit_length() > 4 * self.maxlong:
            digits = int(x.bit_length() * math.log10(2)) + 1
            return f"a {'negative ' if x < 0 else ''}number of about {digits:,} digits"
        return super().repr_int(x, level)


_SHOWN = _Shown()


def shown(value: Any) -> str:
    """``repr(value)`` cut short, so a message quoting it stays one readable line (repr
    escapes line breaks; long texts, deep lists and huge numbers are abbreviated)."""
    return _SHOWN.repr(value)


def read_number(
    value: Any,
    what: str,
    minimum: float = 0.0,
    strict: bool = False,
    maximum: float = math.inf,
) -> float:
    """A finite float with minimum ≤ value ≤ maximum (> minimum if strict), from an int, a
    float or a text such as ``"1e3"``; anything else, booleans included, raises
    PainterlyError."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise PainterlyError(f"{what} must be a number, not {shown(value)}")
    try:
        number = float(value)
    except ValueError:
        raise PainterlyError(f"{what} must be a number, not {shown(value)}") from None
    except OverflowError:  # only an int beyond float's range, so beyond any bound
        number = math.inf if cast(int, value) > 0 else -math.inf
    # An infinity read from digits ("1e400", 400 nines) is a number beyond every bound; NaN,
    # and an infinity given as such, are no numbers to compare at all.
    beyond = isinstance(value, numbers.Integral) or (
        isinstance(value, str) and "inf" not in value.lower()
    )
    if math.isnan(number) or (math.isinf(number) and not beyond):
        raise PainterlyError(f"{what} must be a finite number, not {shown(value)}")
    text = f"{number:g}" if math.isfinite(number) else shown(value)
    if number < minimum or (strict and number == minimum):
        bound = "greater than" if strict else "at least"
        raise PainterlyError(f"{what} must be {bound} {minimum:g}, not {text}")
    if number > maximum:
        raise PainterlyError(f"{what} must be at most {maximum:g}, not {text}")
    if math.isinf(number):  # a huge int where no maximum is set
        raise PainterlyError(f"{what} must be a finite number, not {text}")
    return number


_WHOLE_TEXT = re.compile(r"([+-]?)(\d+(?:_\d+)*)")
"""A whole number as text (``int()``'s syntax), however many digits it has."""


def read_integer(value: Any, what: str, minimum: int, maximum: int) -> int:
    """An int with minimum ≤ value ≤ maximum, from an int or a text of digits (``"30"`` from
    a flag), not ``1.5``, ``2.0`` or ``True``."""
    number: float
    if isinstance(value, str) and (match := _WHOLE_TEXT.fullmatch(value.strip())):
        sign, digits = match[1], match[2].replace("_", "").lstrip("0") or "0"
        # More digits than the maximum has is out of range, and int() would refuse to read
        # more than 4300 of them.
        if len(digits) > len(str(maximum)):
            number = -math.inf if sign == "-" else math.inf
        else:
            number = int(sign + digits)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)
    else:
        raise PainterlyError(f"{what} must be a whole number, not {shown(value)}")
    if number < minimum:
        raise PainterlyError(f"{what} must be a whole number ≥ {minimum}, not {shown(value)}")
    if number > maximum:
        raise PainterlyError(f"{what} must be a whole number ≤ {maximum}, not {shown(value)}")
    return int(number)


def read_choice(value: Any, what: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, matched regardless of case and surrounding spaces."""
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise PainterlyError(f"{what} must be one of {', '.join(choices)}, not {shown(value)}")
    return value.strip().lower()


def read_path(value: Any, what: str) -> str:
    """A name or a file path (a text or an ``os.PathLike``), as text: not empty, and without
    the NUL character that no file name can hold (``open`` would raise ValueError)."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str):
        raise PainterlyError(f"{what} must be a name or a file path, not {shown(value)}")
    if not text.strip():
        raise PainterlyError(f"{what} is empty; give a name or a file path")
    if "\0" in text:
        raise PainterlyError(f"{what} contains a NUL character, which no file name can hold")
    return text


_SWITCH = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def read_switch(value: Any, what: str) -> bool:
    """A bool, or a text such as ``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0``
    (a form or a saved options file may hold either); nothing else, not even a number."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _SWITCH:
        return _SWITCH[value.strip().lower()]
    raise PainterlyError(f"{what} is true or false, not {shown(value)}")
