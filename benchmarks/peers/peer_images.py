"""Image loading shared by the peer scripts, which run in the peers' own environments
(without painterly installed), so they import this file as a sibling module."""

from __future__ import annotations

import torch
from PIL import Image


def load_rgb255(path: str, size: int) -> torch.Tensor:
    """The image with long side ``size`` as a 3×H×W float RGB tensor in 0–255."""
    image = Image.open(path).convert("RGB")
    scale = size / max(image.size)
    image = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
        Image.Resampling.LANCZOS,
    )
    rgb = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return rgb.reshape(image.height, image.width, 3).permute(2, 0, 1).float()
