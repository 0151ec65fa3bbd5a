"""The Python API: ``stylize`` for one call, ``run`` for options and progress reports."""

from __future__ import annotations

import os
from collections.abc import Callable

from PIL import Image

from painterly.images import load_image, to_rgb
from painterly.methods import RUNNERS, Result
from painterly.optimize import Progress
from painterly.options import Options

ImageInput = str | os.PathLike | Image.Image


def _as_image(value: ImageInput, role: str) -> Image.Image:
    return to_rgb(value) if isinstance(value, Image.Image) else load_image(value, role)


def run(
    content: ImageInput,
    style: ImageInput,
    options: Options | None = None,
    callback: Callable[[Progress], None] | None = None,
) -> Result:
    """Stylise with full control: returns a :class:`Result` (image, losses, timings).

    ``callback`` receives a :class:`~painterly.optimize.Progress` after every loss
    evaluation; ``progress.image()`` renders the current iterate on request.
    """
    options = options or Options()
    return RUNNERS[options.method](
        _as_image(content, "content image"), _as_image(style, "style image"), options, callback
    )


def stylize(
    content: ImageInput,
    style: ImageInput,
    *,
    callback: Callable[[Progress], None] | None = None,
    **options: object,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` and return the image.

    Keyword options are the fields of :class:`~painterly.options.Options` (plus ``ratio``,
    α/β), e.g. ``stylize("photo.jpg", "starry.jpg", size=256, iterations=300)``.
    """
    return run(content, style, Options.build(**options), callback).image
