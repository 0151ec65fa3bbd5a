"""Ways of stylising an image; each is one module with a ``run(content, style, options,
callback)`` entry point returning a :class:`~painterly.methods.base.Result`."""

from __future__ import annotations

from collections.abc import Callable

from painterly.methods import adain, artflow, gatys, wct
from painterly.methods.base import Result

RUNNERS: dict[str, Callable[..., Result]] = {
    "gatys": gatys.run,
    "adain": adain.run,
    "wct": wct.run,
    "artflow": artflow.run,
}

__all__ = ["RUNNERS", "Result"]
