"""What every method returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from painterly.config.options import Options


@dataclass
class Result:
    """A finished stylisation: the image, the final loss terms and what produced it.

    With ``options.bit_depth`` 16 the image is a :class:`~painterly.io.deep.DeepImage`
    holding the result's 16-bit samples; ``exif`` is the content photograph's EXIF.
    """

    image: Image.Image
    options: Options
    losses: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    seconds: float = 0.0
    exif: bytes | None = None

    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the image atomically at ``options.bit_depth`` and ``options.dpi``, with the
        sRGB profile and the content's EXIF (:func:`~painterly.io.images.save_image`)."""
        from painterly.io.images import save_image

        o = self.options
        return save_image(
            self.image, path, overwrite, bit_depth=o.bit_depth, dpi=o.dpi, exif=self.exif
        )
