"""The Python API: ``stylize`` for one call, ``run`` for options and progress reports."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from PIL import Image

from painterly.config.options import Options
from painterly.engine.cost import Cost
from painterly.engine.optimize import Cancel, Progress
from painterly.io.images import load_image, to_rgb
from painterly.methods import RUNNERS, Result, cost_of, plan_of

ImageInput = str | os.PathLike | Image.Image
StyleInput = ImageInput | Sequence[ImageInput] | None


def _as_image(value: ImageInput, role: str) -> Image.Image:
    return to_rgb(value) if isinstance(value, Image.Image) else load_image(value, role)


def _as_images(style: StyleInput) -> list[Image.Image]:
    if style is None:
        return []
    if isinstance(style, (str, os.PathLike, Image.Image)):
        style = [style]
    return [_as_image(value, "style image") for value in style]


def run(
    content: ImageInput,
    style: StyleInput,
    options: Options | None = None,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> Result:
    """Stylise with full control: returns a :class:`Result` (image, losses, timings).

    ``style`` is one style image or a list of them (blended by ``options.style_blend``),
    or None when ``options.masks`` name a style for each region. ``callback`` receives a
    :class:`~painterly.engine.optimize.Progress` after every loss evaluation;
    ``progress.image()`` renders the current iterate on request. ``result.options`` holds
    the α and β used, which ``options.strength`` chooses for this pair. Setting
    ``cancel`` (a :class:`~painterly.engine.optimize.Cancel`, from any thread) stops the run
    as Ctrl-C does: :class:`~painterly.errors.Interrupted` is raised with the best image so
    far as ``best`` (None if there is none yet, e.g. during the strength pilots).
    """
    options = options or Options()
    return RUNNERS[options.method](
        _as_image(content, "content image"), _as_images(style), options, callback, cancel
    )


def stylize(
    content: ImageInput,
    style: StyleInput,
    *,
    callback: Callable[[Progress], None] | None = None,
    **options: object,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` and return the image.

    Keyword options are the fields of :class:`~painterly.config.options.Options` (plus ``ratio``,
    α/β), e.g. ``stylize("photo.jpg", "starry.jpg", size=256, iterations=300)`` or
    ``stylize("photo.jpg", ["starry.jpg", "scream.jpg"], style_blend=(0.7, 0.3),
    strength=0.5, preserve_color="luminance")``.
    """
    return run(content, style, Options.build(**options), callback).image


def estimate(content: ImageInput, style: StyleInput, **options: object) -> Cost:
    """What :func:`stylize` with these arguments would cost, before running it: a
    :class:`~painterly.engine.cost.Cost` with each stage's peak memory and time, scaled
    from one evaluation timed at a small size on this machine (a second or two). Raises
    :class:`~painterly.errors.PainterlyError`, as the run would, if it would not fit."""
    built = Options.build(**options)
    return cost_of(plan_of(_as_image(content, "content image"), _as_images(style), built))
