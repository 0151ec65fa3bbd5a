"""painterly: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016)."""

from painterly.api import run, stylize
from painterly.config.options import Options
from painterly.engine.optimize import Cancel, Progress
from painterly.errors import Interrupted, PainterlyError
from painterly.methods.base import Result

__version__ = "0.1.0"

__all__ = [
    "Cancel",
    "Interrupted",
    "Options",
    "PainterlyError",
    "Progress",
    "Result",
    "run",
    "stylize",
]
