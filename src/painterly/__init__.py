"""painterly: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from painterly.errors import Interrupted, PainterlyError

if TYPE_CHECKING:
    from painterly.api import estimate, run, stylize
    from painterly.config.options import Options
    from painterly.engine.cost import Cost
    from painterly.engine.optimize import Cancel, Progress
    from painterly.methods.base import Result

__version__ = "0.1.0"

__all__ = [
    "Cancel",
    "Cost",
    "Interrupted",
    "Options",
    "PainterlyError",
    "Progress",
    "Result",
    "estimate",
    "run",
    "stylize",
]

# The names that need torch are imported on first use (PEP 562), so that ``import painterly``,
# which every start of the command line runs before its own code, loads nothing heavy: a
# Ctrl-C while torch loads then reaches the command line's handler instead of a traceback.
_LAZY = {
    "run": "painterly.api",
    "estimate": "painterly.api",
    "Cost": "painterly.engine.cost",
    "stylize": "painterly.api",
    "Options": "painterly.config.options",
    "Cancel": "painterly.engine.optimize",
    "Progress": "painterly.engine.optimize",
    "Result": "painterly.methods.base",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'painterly' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
