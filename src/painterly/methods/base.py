"""What every method shares: its result type and the sizing of the input images."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from painterly.config.options import Options
from painterly.errors import PainterlyError
from painterly.io.images import long_side_size


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
) -> tuple[tuple[int, int], tuple[int, int]]:
    """(width, height) of the content at ``options.size`` and of the style at its scale.

    As in the paper, the style image is brought to the output's scale: its long side
    becomes the output's long side × ``style_scale``. Both must keep at least
    ``min_side`` pixels on each side, the down-sampling of the deepest layer used.
    Nothing is resized here, so a run can be checked against the memory it needs first.
    """
    content_wh = long_side_size(content.size, options.size, options.size_side)
    style_wh = long_side_size(style.size, max(1, round(max(content_wh) * options.style_scale)))
    for role, (w, h), flag in (
        ("content", content_wh, "--size"),
        ("style", style_wh, "--style-scale"),
    ):
        if min(w, h) < min_side:
            raise PainterlyError(
                f"at this size the {role} image is {w}×{h} pixels, but the network needs at "
                f"least {min_side} on each side; raise {flag} or use a less elongated image"
            )
    return content_wh, style_wh
