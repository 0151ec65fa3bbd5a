"""VGG-19 feature extractor addressed by the paper's layer names.

``conv3_1`` names the *rectified* response of the first convolution of block 3, as in
Gatys et al. (2016) and their Caffe code; ``relu3_1`` is accepted as an alias. The
network is cut after the deepest layer a run asks for, so no time is spent on layers
whose output is never read.

Weights arrive as a *canonical state dict* (see :mod:`painterly.models.weights`):
``preprocess.weight`` (3×3×1×1) and ``preprocess.bias`` (3) map RGB in [0, 1] to what
the convolutions expect, then ``conv1_1.weight``/``conv1_1.bias`` … ``conv5_4.*``.
"""

from __future__ import annotations

from typing import Literal, cast

import torch
from torch import nn
from torch.nn import functional as F

# Convolutions per block in VGG-19 (Simonyan & Zisserman 2014, configuration E).
_BLOCKS = (2, 2, 4, 4, 4)
_CHANNELS = (64, 128, 256, 512, 512)

CONV_NAMES: tuple[str, ...] = tuple(
    f"conv{b + 1}_{i + 1}" for b, n in enumerate(_BLOCKS) for i in range(n)
)
LAYER_NAMES: tuple[str, ...] = tuple(
    name
    for b, n in enumerate(_BLOCKS)
    for name in [f"conv{b + 1}_{i + 1}" for i in range(n)] + [f"pool{b + 1}"]
)
PADDINGS = ("zeros", "replicate", "reflect", "replicate1")
"""How the 3×3 convolutions see beyond the border: ``zeros`` (Caffe, the paper), ``replicate``
or ``reflect`` in every convolution, ``replicate1`` in conv1_1 only and zeros after it (as
crowsonkb/style-transfer-pytorch does)."""

# (in_channels, out_channels) of every convolution, in order.
CONV_SHAPES: dict[str, tuple[int, int]] = {}
_prev = 3
for _b, _n in enumerate(_BLOCKS):
    for _i in range(_n):
        CONV_SHAPES[f"conv{_b + 1}_{_i + 1}"] = (_prev, _CHANNELS[_b])
        _prev = _CHANNELS[_b]


def canonical_layer(name: str) -> str:
    """Return the paper's name for ``name`` (``relu4_2`` → ``conv4_2``) or raise KeyError."""
    key = name.strip().lower()
    if key.startswith("relu"):
        key = "conv" + key[4:]
    if key not in LAYER_NAMES:
        raise KeyError(name)
    return key


def layer_channels(name: str) -> int:
    """Number of feature maps (N_l in the paper) of a layer."""
    name = canonical_layer(name)
    if name.startswith("pool"):
        return _CHANNELS[int(name[4]) - 1]
    return CONV_SHAPES[name][1]


def layer_stride(name: str) -> int:
    """Down-sampling factor of a layer's output relative to the input image."""
    name = canonical_layer(name)
    block = int(name[4]) - 1
    return 2 ** (block + 1) if name.startswith("pool") else 2**block


class VGG19(nn.Module):
    """Frozen VGG-19 that returns the requested layers' activations.

    Args:
        state: canonical state dict (``preprocess.*`` and ``convX_Y.*``); it may stop
            early, as long as it reaches ``last_layer``.
        last_layer: deepest layer the caller will ask for; later layers are not built.
        pooling: ``"avg"`` (the paper) or ``"max"`` (the original VGG).
        padding: one of :data:`PADDINGS`; ``"reflect"`` is the AdaIN encoder's.

    The zeros are added after the 1×1 ``preprocess``, in the space the convolutions were
    trained in (Caffe's mean-subtracted BGR: zero is the mean colour), as Caffe did. The
    other modes copy pixels, which commutes with a per-pixel affine map, so they pad the
    RGB image the same way whatever the weights' preprocessing.
    """

    def __init__(
        self,
        state: dict[str, torch.Tensor],
        last_layer: str = "pool5",
        pooling: str = "avg",
        padding: str = "zeros",
    ) -> None:
        super().__init__()
        if pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', not {pooling!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, not {padding!r}")
        self.pooling = pooling
        self.padding = padding
        self.last_layer = canonical_layer(last_layer)
        self.names = LAYER_NAMES[: LAYER_NAMES.index(self.last_layer) + 1]

        # Built on the meta device and filled from ``state``: no time spent on random init.
        self.preprocess = nn.Conv2d(3, 3, 1, device="meta")
        self.convs = nn.ModuleDict()
        for name in self.names:
            if name.startswith("conv"):
                cin, cout = CONV_SHAPES[name]
                self.convs[name] = nn.Conv2d(
                    cin, cout, 3, padding=1, padding_mode=_conv_padding(padding, name),
                    device="meta",
                )  # fmt: skip
        own = self.state_dict()
        missing = [k for k in own if _state_key(k) not in state]
        if missing:
            raise ValueError(f"weights lack {', '.join(_state_key(k) for k in missing)}")
        self.load_state_dict(
            {k: state[_state_key(k)].float().contiguous() for k in own}, assign=True
        )
        self.requires_grad_(False)
        self.eval()
        self.memory_format: torch.memory_format = torch.contiguous_format

    def use_channels_last(self, on: bool = True) -> VGG19:
        """Lay the convolutions' weights and activations out channels-last (NHWC), which
        oneDNN's and cuDNN's fastest kernels read without reordering; the results are the
        same numbers. Returns the network itself."""
        self.memory_format = torch.channels_last if on else torch.contiguous_format
        for conv in self.convs.values():
            weight = cast(nn.Conv2d, conv).weight
            weight.data = weight.data.contiguous(memory_format=self.memory_format)
        return self

    def forward(
        self, image: torch.Tensor, layers: tuple[str, ...] | list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Run ``image`` (N×3×H×W, RGB in [0, 1]) and return ``{layer: activation}``.

        Only runs as deep as the deepest requested layer (all built layers if None).
        """
        wanted = set(self.names if layers is None else (canonical_layer(n) for n in layers))
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image).contiguous(memory_format=self.memory_format)
        for name in self.names:
            if not wanted - out.keys():
                break
            if name.startswith("conv"):
                x = F.relu(self.convs[name](x), inplace=True)
            elif self.pooling == "avg":
                x = F.avg_pool2d(x, 2)
            else:
                x = F.max_pool2d(x, 2)
            if name in wanted:
                out[name] = x
        missing = wanted - out.keys()
        if missing:
            raise ValueError(f"layers {sorted(missing)} are deeper than {self.last_layer}")
        return out


_PaddingMode = Literal["zeros", "replicate", "reflect"]


def _conv_padding(padding: str, conv: str) -> _PaddingMode:
    """Conv2d's ``padding_mode`` for convolution ``conv`` under the network's ``padding``."""
    if padding == "replicate1":
        return "replicate" if conv == CONV_NAMES[0] else "zeros"
    return cast(_PaddingMode, padding)


def _state_key(module_key: str) -> str:
    """``convs.conv1_1.weight`` → ``conv1_1.weight``; ``preprocess.*`` is unchanged."""
    return module_key.removeprefix("convs.")
