"""ArtFlow's projection flow (An et al., "ArtFlow: Unbiased Image Style Transfer via
Reversible Neural Flows", CVPR 2021, §3.2–3.3): a Glow (Kingma & Dhariwal 2018) without
the multi-scale split, so the whole image becomes one latent and comes back from it exactly.

Two blocks; each squeezes 2 × 2 pixels into channels (C → 4C, half the side) and then runs
``steps`` flow steps of

    ActNorm → invertible 1 × 1 convolution (LU-decomposed) → additive coupling,

the coupling's network being conv3×3 (C/2 → W) → ReLU → conv1×1 (W → W) → ReLU →
zero-initialised conv3×3 (W → C/2). An RGB image of H × W pixels becomes a 48-channel
latent of H/4 × W/4; :meth:`ProjectionFlow.reverse` is the exact inverse of
:meth:`ProjectionFlow.forward` (up to rounding), with the same weights.

Every step's log-determinant is independent of the input (additive couplings have none;
ActNorm's and the 1 × 1 convolution's are their log-scales times the positions), so
:meth:`ProjectionFlow.log_det` needs only the size. ArtFlow trains without the likelihood
term; the log-determinant is here for the tests and for whoever adds one.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 4
"""Two 2 × 2 squeezes: the image's sides must be multiples of 4."""
BLOCKS = 2
STEPS = 8
"""Flow steps per block, as the paper's PGF."""
PAPER_WIDTH = 512
"""Hidden channels of each coupling network in the paper."""
IMAGE_CHANNELS = 3


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """N×C×H×W → N×4C×H/2×W/2: each 2 × 2 patch's pixels become four channels."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(n, c * 4, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`squeeze`."""
    n, c, h, w = x.shape
    x = x.reshape(n, c // 4, 2, 2, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(n, c // 4, h * 2, w * 2)


class ActNorm(nn.Module):
    """y = (x + b) · exp(s), per channel (Glow §3.1), with b and s set from the first batch
    it sees in training so that its output has zero mean and unit variance per channel."""

    initialised: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        # Saved with the weights, so a loaded model is not initialised again.
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def initialise(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation from the batch ``x``."""
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True, correction=0)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialised.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not bool(self.initialised):
            self.initialise(x)
        return (x + self.bias) * torch.exp(self.log_scale)

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias

    def log_det(self, positions: int) -> torch.Tensor:
        return positions * self.log_scale.sum()


class InvertibleConv1x1(nn.Module):
    """A 1 × 1 convolution with the weight W = P L (U + diag(sign · exp(log_s))) (Glow §3.2,
    the LU form): P a fixed permutation, L unit lower- and U strictly upper-triangular, so
    log |det W| = Σ log_s and W⁻¹ is cheap and well conditioned. Starts as a random rotation.
    """

    permutation: torch.Tensor
    sign: torch.Tensor
    lower_mask: torch.Tensor

    def __init__(self, channels: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        rotation, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator))
        permutation, lower, upper = torch.linalg.lu(rotation)
        diagonal = torch.diagonal(upper)
        self.register_buffer("permutation", permutation)
        self.register_buffer("sign", torch.sign(diagonal))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(diagonal.abs()))

    def weight(self) -> torch.Tensor:
        eye = torch.eye(self.lower.shape[0], device=self.lower.device, dtype=self.lower.dtype)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * torch.exp(self.log_s))
        return self.permutation @ lower @ upper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Never under autocast: W in bf16 here and W⁻¹ in bf16 in reverse would undo each
        # other only to about 1e-2, and the flow's point is its exact inverse.
        with torch.autocast(x.device.type, enabled=False):
            return F.conv2d(x, self.weight().to(x.dtype)[..., None, None])

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(y.device.type, enabled=False):
            # Inverted in float64: the flow's exactness is bounded by this inverse's rounding.
            inverse = torch.linalg.inv(self.weight().double()).to(y.dtype)
            return F.conv2d(y, inverse[..., None, None])

    def log_det(self, positions: int) -> torch.Tensor:
        return positions * self.log_s.sum()


class AdditiveCoupling(nn.Module):
    """y = (x_a, x_b + NN(x_a)) (NICE, Dinh et al. 2015; Glow §3.3 without the scale): the
    first half of the channels passes unchanged and shifts the second, so the inverse
    subtracts the same shift. NN ends in a zero-initialised convolution, so a new coupling
    is the identity."""

    def __init__(self, channels: int, width: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        half = channels // 2
        first = nn.Conv2d(half, width, 3, padding=1)
        hidden = nn.Conv2d(width, width, 1)
        last = nn.Conv2d(width, channels - half, 3, padding=1)
        self.net = nn.Sequential(first, nn.ReLU(inplace=True), hidden, nn.ReLU(inplace=True), last)
        for conv in (first, hidden):
            nn.init.normal_(conv.weight, std=0.05, generator=generator)
        nn.init.zeros_(last.weight)
        for conv in (first, hidden, last):
            assert conv.bias is not None, "made with a bias"
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.cat((a, b + self.net(a)), dim=1)

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        a, b = y.chunk(2, dim=1)
        return torch.cat((a, b - self.net(a)), dim=1)


class FlowStep(nn.Module):
    """ActNorm → invertible 1 × 1 convolution → additive coupling."""

    def __init__(self, channels: int, width: int, generator: torch.Generator | None) -> None:
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.invconv = InvertibleConv1x1(channels, generator)
        self.coupling = AdditiveCoupling(channels, width, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.coupling(self.invconv(self.actnorm(x)))

    def reverse(self, y: torch.Tensor) -> torch.Tensor:
        return self.actnorm.reverse(self.invconv.reverse(self.coupling.reverse(y)))

    def log_det(self, positions: int) -> torch.Tensor:
        return self.actnorm.log_det(positions) + self.invconv.log_det(positions)


class ProjectionFlow(nn.Module):
    """ArtFlow's PGF: image (N×3×H×W, H and W multiples of 4) ↔ latent (N×48×H/4×W/4).

    Args:
        width: hidden channels of the coupling networks (the paper: 512).
        blocks, steps: squeezes, and flow steps after each.
        seed: of the random starting weights (the 1 × 1 convolutions' rotations and the
            couplings' first two convolutions), so a seed always gives the same flow.
    """

    def __init__(
        self, width: int = PAPER_WIDTH, blocks: int = BLOCKS, steps: int = STEPS, seed: int = 0
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.width, self.blocks_count, self.steps_count = width, blocks, steps
        channels = IMAGE_CHANNELS
        self.blocks = nn.ModuleList()
        # The same steps, typed, for the passes (the ModuleList registers them).
        self._steps: list[list[FlowStep]] = []
        for _ in range(blocks):
            channels *= 4
            block = [FlowStep(channels, width, generator) for _ in range(steps)]
            self.blocks.append(nn.ModuleList(block))
            self._steps.append(block)
        self.latent_channels = channels
        self.stride = 2**blocks

    @property
    def reach(self) -> int:
        """How many pixels beyond its own a latent position depends on, to either side (and
        a pixel of :meth:`reverse` on latents): each coupling's two 3 × 3 convolutions read
        one more position to either side, at the block's stride."""
        return sum(2 * self.steps_count * 2 ** (b + 1) for b in range(self.blocks_count))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The latent of the images ``x``."""
        for block in self._steps:
            x = squeeze(x)
            for step in block:
                x = step(x)
        return x

    def reverse(self, z: torch.Tensor) -> torch.Tensor:
        """The images of the latents ``z``: the inverse of :meth:`forward`."""
        for block in reversed(self._steps):
            for step in reversed(block):
                z = step.reverse(z)
            z = unsqueeze(z)
        return z

    def log_det(self, height: int, width: int) -> torch.Tensor:
        """log |det ∂f/∂x| of :meth:`forward` for one image of ``height`` × ``width``."""
        total = torch.zeros(())
        positions = height * width
        for block in self._steps:
            positions //= 4
            for step in block:
                total = total + step.log_det(positions)
        return total
