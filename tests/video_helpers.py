"""Shared by the video tests: tiny synthetic clips (a pan across a smooth random texture)
that a flow can follow, written as H.264 files."""

from __future__ import annotations

import fractions

import numpy as np
from PIL import Image

from painterly.io.video import VideoWriter


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture in [0, 1] (float32): something a flow can follow."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 4 + 2, w // 4 + 2, 3)).astype(np.float32)
    image = Image.fromarray((coarse * 255).astype(np.uint8)).resize(
        (w + 8, h + 8), Image.Resampling.BICUBIC
    )
    return np.asarray(image, dtype=np.float32)[4 : 4 + h, 4 : 4 + w] / 255.0


def write_clip(path, frames: int = 6, size=(64, 48), fps=8, step=2, seed=3) -> None:
    """A pan across a texture, as an H.264 file."""
    w, h = size
    scene = texture(h, w + step * frames + 8, seed)
    with VideoWriter(path, fractions.Fraction(fps), size) as writer:
        for i in range(frames):
            window = scene[:, i * step : i * step + w]
            writer.write(Image.fromarray((window * 255 + 0.5).astype(np.uint8)))
