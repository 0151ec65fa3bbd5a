"""Analytic floating-point operations of one loss evaluation of image optimisation.

One evaluation is a forward pass of the image through VGG-19 up to the deepest layer the
loss reads, the loss, and the backward pass to the image. The weights are frozen, so the
backward pass computes input gradients only (no weight gradients). What is counted:

* each 3×3 convolution (padding 1, so the output has the input's H × W):
  2·C_in·C_out·9·H·W forward (one multiply and one add per weight per output position), and
  the same again backward for its input gradient, a convolution with the transposed kernel
  over the same positions. ``conv1_1`` is included backward too: the image needs its gradient.
* the 1×1 preprocessing convolution (3 → 3 channels), forward and backward, by the same rule.
* each Gram matrix G = F Fᵀ of an N × M feature matrix: 2·N²·M forward, and 2·N²·M
  backward (dE/dF = 2·(dE/dG)·F, one product, G being symmetric).

Not counted, as they are under 1 % of the total at any size: ReLU, pooling, the loss's
element-wise differences and sums, and the optimiser's vector updates. The count is the
work the algorithm needs; an engine that does more (say, both Gram-product gradients, or
layers past the deepest one read) shows a lower efficiency for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from painterly.models.vgg import CONV_SHAPES, LAYER_NAMES, canonical_layer


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one evaluation, split by where they are spent."""

    conv_forward: int
    conv_backward: int
    gram: int

    @property
    def total(self) -> int:
        """All counted FLOPs of one evaluation."""
        return self.conv_forward + self.conv_backward + self.gram


def conv_flops(
    in_channels: int, out_channels: int, height: int, width: int, kernel: int = 3
) -> int:
    """FLOPs of one forward convolution with a ``kernel`` × ``kernel`` filter, same padding."""
    return 2 * in_channels * out_channels * kernel * kernel * height * width


def gram_flops(channels: int, positions: int) -> int:
    """FLOPs of G = F Fᵀ for an N × M matrix F (N = channels, M = positions)."""
    return 2 * channels * channels * positions


def evaluation_flops(
    height: int, width: int, layers: Iterable[str], style_layers: Iterable[str] = ()
) -> FlopCount:
    """FLOPs of one forward + input-gradient backward pass of an H × W image.

    ``layers`` are every layer the loss reads (the network runs to the deepest of them);
    ``style_layers`` are those whose Gram matrix is formed. Pooling halves each side,
    rounding down as ``avg_pool2d``/``max_pool2d`` with a 2 × 2 window do.
    """
    wanted = [canonical_layer(name) for name in layers]
    grams = {canonical_layer(name) for name in style_layers}
    deepest = max(wanted, key=LAYER_NAMES.index)
    pre = conv_flops(3, 3, height, width, kernel=1)
    forward, backward, gram = pre, pre, 0
    h, w = height, width
    for name in LAYER_NAMES[: LAYER_NAMES.index(deepest) + 1]:
        if name.startswith("pool"):
            h, w = h // 2, w // 2
            continue
        cin, cout = CONV_SHAPES[name]
        flops = conv_flops(cin, cout, h, w)
        forward += flops
        backward += flops
        if name in grams:
            gram += 2 * gram_flops(cout, h * w)
    return FlopCount(conv_forward=forward, conv_backward=backward, gram=gram)
