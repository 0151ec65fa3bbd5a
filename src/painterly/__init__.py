"""painterly: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016)."""

from painterly.api import run, stylize
from painterly.errors import Interrupted, PainterlyError
from painterly.methods.base import Result
from painterly.optimize import Progress
from painterly.options import Options

__version__ = "0.1.0"

__all__ = ["Interrupted", "Options", "PainterlyError", "Progress", "Result", "run", "stylize"]
