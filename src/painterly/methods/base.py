"""What every method shares: its result type and the sizing of the input images."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from painterly.errors import PainterlyError
from painterly.images import resize_long_side
from painterly.options import Options


@dataclass
class Result:
    """A finished stylisation: the image, the final loss terms and what produced it."""

    image: Image.Image
    options: Options
    losses: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    seconds: float = 0.0


def working_sizes(
    content: Image.Image, style: Image.Image, options: Options, min_side: int
) -> tuple[Image.Image, Image.Image]:
    """Resize the content to ``options.size`` (long side) and the style to its scale.

    As in the paper, the style image is brought to the output's scale: its long side
    becomes ``size × style_scale``. Both must keep at least ``min_side`` pixels on each
    side, the down-sampling of the deepest layer used.
    """
    content = resize_long_side(content, options.size)
    style = resize_long_side(style, max(1, round(options.size * options.style_scale)))
    for role, image, flag in (("content", content, "--size"), ("style", style, "--style-scale")):
        if min(image.size) < min_side:
            w, h = image.size
            raise PainterlyError(
                f"at this size the {role} image is {w}×{h} pixels, but the network needs at "
                f"least {min_side} on each side; raise {flag} or use a less elongated image"
            )
    return content, style
