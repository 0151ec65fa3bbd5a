"""The AdaIN decoder (Huang & Belongie 2017, §6 and their released ``decoder.pth``).

It maps relu4_1 features of the normalised VGG-19 (512 channels, 1/8 of the image's side)
back to an RGB image in [0, 1]: mostly the encoder mirrored, with nearest-neighbour
up-sampling in place of pooling and reflection padding in every convolution (the authors
found that this avoids border artefacts). Nine 3×3 convolutions, a ReLU after each but the
last:

    512→256 ↑2  256→256 ×3  256→128 ↑2  128→128  128→64 ↑2  64→64  64→3

The released file is the authors' ``nn.Sequential`` state dict, whose keys are the module
indices (``1.weight``, ``5.weight`` … ``28.weight``); :data:`SEQUENTIAL_INDEX` names them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 8
"""Down-sampling of relu4_1: the decoder's output has 8× its input's side, so an image
passes through encoder and decoder unchanged in size only if its sides are multiples of 8."""

# (name, in channels, out channels, up-sample ×2 after it) of each convolution, in order.
LAYERS: tuple[tuple[str, int, int, bool], ...] = (
    ("conv4_1", 512, 256, True),
    ("conv3_4", 256, 256, False),
    ("conv3_3", 256, 256, False),
    ("conv3_2", 256, 256, False),
    ("conv3_1", 256, 128, True),
    ("conv2_2", 128, 128, False),
    ("conv2_1", 128, 64, True),
    ("conv1_2", 64, 64, False),
    ("conv1_1", 64, 3, False),
)
SEQUENTIAL_INDEX: dict[int, str] = dict(
    zip((1, 5, 8, 11, 14, 18, 21, 25, 28), (name for name, *_ in LAYERS), strict=True)
)
"""Index in the authors' Sequential (pads, ReLUs and up-samplings counted) → our name, which
is the encoder layer each convolution mirrors."""


def _reach() -> int:
    # Each 3×3 convolution reads one more position to either side: its input's stride in
    # output pixels (8 before the first up-sampling, then 4, 2, 1).
    reach, stride = 0, STRIDE
    for _, _, _, up in LAYERS:
        reach += stride
        if up:
            stride //= 2
    return reach


REACH = _reach()
"""How many output pixels beyond its own a decoded pixel depends on, to either side, in the
image's scale (30): what a tile must be decoded with to match the whole image's decode."""


class AdaINDecoder(nn.Module):
    """Frozen decoder g of AdaIN: relu4_1 features (N×512×h×w) → RGB (N×3×8h×8w), unclamped.

    Args:
        state: the authors' Sequential state dict (``1.weight`` …) or one with our names
            (``conv4_1.weight`` …).
    """

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.convs = nn.ModuleDict(
            {
                name: nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect", device="meta")
                for name, cin, cout, _ in LAYERS
            }
        )
        self.upsample = {name: up for name, _, _, up in LAYERS}
        named = decoder_state(state)
        wanted = {key: key.removeprefix("convs.") for key in self.state_dict()}
        missing = sorted(name for name in wanted.values() if name not in named)
        if missing:
            raise ValueError(f"decoder weights lack {', '.join(missing)}")
        for key, value in self.state_dict().items():
            got = named[wanted[key]]
            if got.shape != value.shape:
                raise ValueError(
                    f"decoder weight {wanted[key]} has shape {tuple(got.shape)}, "
                    f"not {tuple(value.shape)}"
                )
        self.load_state_dict(
            {key: named[name].float().contiguous() for key, name in wanted.items()}, assign=True
        )
        self.requires_grad_(False)
        self.eval()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features
        last = LAYERS[-1][0]
        for name, conv in self.convs.items():
            x = conv(x)
            if name != last:
                x = F.relu(x)
            if self.upsample[name]:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x


def decoder_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The decoder's weights under our names, from either key layout."""
    named: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        index, _, param = key.partition(".")
        if index.isdigit() and int(index) in SEQUENTIAL_INDEX:
            named[f"{SEQUENTIAL_INDEX[int(index)]}.{param}"] = value
        else:
            named[key] = value
    return named
