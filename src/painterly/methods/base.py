"""What every method returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from painterly.config.options import Options


@dataclass
class Result:
    """A finished stylisation: the image, the final loss terms and what produced it."""

    image: Image.Image
    options: Options
    losses: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    seconds: float = 0.0
