"""Loss terms of Gatys, Ecker & Bethge (2016), as pure functions of feature maps.

Notation follows the paper: a layer l has N_l feature maps of M_l = height × width
positions; F^l is the N_l × M_l matrix of the generated image's responses, P^l the content
image's, and G^l, A^l the Gram matrices of the generated and the style image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F


def flat_channels(
    features: torch.Tensor, dtype: torch.dtype | None = torch.float32
) -> torch.Tensor:
    """B×N×H×W features as B×N×(H·W), in ``dtype`` (None: theirs): a view of channels-last
    features (a transposed one, which the matrix products read without a copy), a reshape
    otherwise.

    A window of channels-last features (a tile's interior: channels still innermost, rows
    no longer contiguous) is gathered position by position, each position's channels one
    contiguous run, and keeps that layout; reshaping it to N×(H·W) instead transposed every
    value (a sixth of a tiled evaluation went in those copies)."""
    b, n, h, w = features.shape
    if n > 1 and features.stride(1) == 1:
        flat = features.permute(0, 2, 3, 1).reshape(b, h * w, n).transpose(1, 2)
    else:
        flat = features.reshape(b, n, h * w)
    return flat if dtype is None else flat.to(dtype)


GRAM_CHUNK = 16384
"""Positions per float32 partial product of a low-precision Gram matrix: the cast of a chunk
stays in the cache instead of writing and reading back a float32 copy of the whole layer."""


class _Gram(torch.autograd.Function):
    """G = F Fᵀ of B×N×M ``flat`` features in float32, with the gradient (Ḡ + Ḡᵀ) F in one
    product, laid out as the features are (for channels-last ones, as Fᵀ (Ḡ + Ḡᵀ) transposed)
    and in their precision.

    Autograd's own backward of ``bmm(F, Fᵀ)`` forms the two halves F's gradient gets (through
    F and through Fᵀ) as two products and adds them, one of them transposed: on a CPU that
    strided addition cost more than the products (a fifth of a bf16 evaluation at 512 px).
    Features of lower precision (bf16) are summed in float32 chunk by chunk
    (:data:`GRAM_CHUNK`), so G is as exact as from float32 features, and the gradient, which
    goes back into the network at its precision, is computed at that precision."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        if flat.dtype == torch.float32:
            return torch.bmm(flat, flat.transpose(1, 2))
        b, n, m = flat.shape
        gram = torch.zeros(b, n, n, dtype=torch.float32, device=flat.device)
        for start in range(0, m, GRAM_CHUNK):
            chunk = flat[..., start : start + GRAM_CHUNK].float()
            gram.baddbmm_(chunk, chunk.transpose(1, 2))
        return gram

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        symmetric = (grad + grad.transpose(1, 2)).to(flat.dtype)
        rows = flat.transpose(1, 2)
        if rows.is_contiguous():  # channels-last features: give the gradient their layout
            return torch.bmm(rows, symmetric).transpose(1, 2)
        return torch.bmm(symmetric, flat)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G^l_ij = Σ_k F^l_ik F^l_jk (paper Eq. 3), unnormalised, in float32.

    ``features`` is B×N×H×W; the result is B×N×N. The product is accumulated in float32
    even when the features come out of a lower-precision forward pass.
    """
    return _Gram.apply(flat_channels(features, None))


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content = ½ Σ_ij (F^l_ij − P^l_ij)² (paper Eq. 1)."""
    return 0.5 * (features.float() - target.float()).pow(2).sum()


def style_layer_loss(
    gram: torch.Tensor, target_gram: torch.Tensor, n: int, m: float | torch.Tensor
) -> torch.Tensor:
    """E_l = Σ_ij (G^l_ij − A^l_ij)² / (4 N_l² M_l²) (paper Eq. 4).

    ``n`` is N_l (feature maps) and ``m`` is M_l (positions) of the *generated* image's
    layer, which the paper's derivation assumes equals the style image's.
    """
    return (gram - target_gram).pow(2).sum() / (4.0 * n * n * m * m)


def style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
    layer_loss: Callable[..., torch.Tensor] | None = None,
    image_pixels: int = 0,
) -> torch.Tensor:
    """L_style = Σ_l w_l E_l (paper Eq. 5) over the layers in ``layer_weights``.

    ``layer_loss(G, A, N, M, image_pixels)`` replaces Eq. 4 for another convention
    (see :data:`CONVENTIONS`); ``image_pixels`` is only read by the Keras one.
    """
    total = torch.zeros((), device=next(iter(target_grams.values())).device)
    for layer, weight in layer_weights.items():
        f = features[layer]
        _, n, h, w = f.shape
        term = layer_term(gram_matrix(f), target_grams[layer], n, h * w, layer_loss, image_pixels)
        total = total + weight * term
    return total


def layer_term(
    gram: torch.Tensor,
    target: torch.Tensor,
    n: int,
    m: float | torch.Tensor,
    layer_loss: Callable[..., torch.Tensor] | None,
    image_pixels: int,
) -> torch.Tensor:
    """E_l of one layer from its Gram matrix (Eq. 4, or ``layer_loss``'s convention)."""
    if layer_loss is None:
        return style_layer_loss(gram, target, n, m)
    return layer_loss(gram, target, n, m, image_pixels)


def guided_gram_matrix(features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """G^l_r = (T^l_r ∘ F^l)(T^l_r ∘ F^l)ᵀ: the Gram matrix of one region r (Gatys et al.
    2017, §4.1), each position weighted by the guidance channel T^l_r (B×1×H×W, in [0, 1])."""
    return gram_matrix(features * guide)


def layer_guide(mask: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """T^l_r: a pixel mask (B×1×H×W) brought to a layer's H_l × W_l by area averaging.

    Gatys et al. (2017, §4.1) down-sample the guidance channels to each layer; averaging
    keeps a soft edge where a layer position straddles two regions, so neither region's
    Gram matrix claims the boundary alone.
    """
    return F.adaptive_avg_pool2d(mask, shape)


def guided_style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    guides: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
    layer_loss: Callable[..., torch.Tensor] | None = None,
    image_pixels: int = 0,
) -> torch.Tensor:
    """Σ_l w_l (m_r / M_l) E^l_r: the style loss of one region r (Gatys et al. 2017, §4.1).

    E^l_r compares the guided Gram G^l_r with the target A^l (given, as for
    :func:`style_loss`, for the whole output's M_l positions) scaled to the region's mass
    m_r = Σ_k (T^l_rk)², and takes the region's m_r in place of M_l in Eq. 4, so a region
    is held to its style as firmly as a whole image would be. The factor m_r / M_l (the
    region's share of the layer) keeps the pull on each pixel independent of the region's
    size; a guide of ones gives exactly Eq. 5.
    """
    total = torch.zeros((), device=next(iter(target_grams.values())).device)
    for layer, weight in layer_weights.items():
        f, guide = features[layer], guides[layer]
        _, n, h, w = f.shape
        gram = guided_gram_matrix(f, guide)
        term = guided_layer_term(
            gram, target_grams[layer], guide.pow(2).sum(), n, h * w, layer_loss, image_pixels
        )
        total = total + weight * term
    return total


def guided_layer_term(
    gram: torch.Tensor,
    target: torch.Tensor,
    mass: torch.Tensor,
    n: int,
    m: int,
    layer_loss: Callable[..., torch.Tensor] | None,
    image_pixels: int,
) -> torch.Tensor:
    """(m_r / M_l) E^l_r of one layer from the region's guided Gram matrix ``gram``, its
    mass m_r = Σ_k (T^l_rk)² and the layer's M_l = ``m`` positions (see
    :func:`guided_style_loss`)."""
    share = mass / m
    return share * layer_term(gram, target * share, n, mass, layer_loss, image_pixels)


# Style losses beside the Gram loss. Each compares a statistic of the output's features at a
# style layer with the style's, precomputed by :mod:`painterly.engine.targets`.

COVARIANCE_EPS = 1e-4
"""Added to the diagonal of both covariances of the Wasserstein-2 loss (as crowsonkb's
StyleLossW2 does): a channel that never fires in the style makes Σ_s singular, and the ridge
keeps Σ_s^½ and the square root's gradient finite without moving the optimum."""
ROOT_FLOOR = 1e-3
"""Smallest square root, relative to the largest, that :func:`trace_sqrtm`'s gradient divides
by: float32 eigenvalues are only accurate to about 1e-7 of the largest, so the roots of the
smaller ones are noise and 1/√λ of that noise would swamp the gradient."""


@dataclass(frozen=True)
class Gaussian:
    """One style layer as a Gaussian: mean μ_s (B×N), covariance Σ_s (B×N×N, with the
    :data:`COVARIANCE_EPS` ridge) and its square root Σ_s^½, computed once per target."""

    mean: torch.Tensor
    cov: torch.Tensor
    cov_sqrt: torch.Tensor

    @classmethod
    def from_moments(cls, mean: torch.Tensor, second_moment: torch.Tensor) -> Gaussian:
        """The Gaussian of a mean and a second raw moment E[f fᵀ]: these two (unlike the
        covariance) blend linearly over several styles, so targets are kept as moments."""
        cov = second_moment - mean[..., :, None] * mean[..., None, :]
        cov = _ridge(cov)
        return cls(mean, cov, sqrtm_psd(cov))


@dataclass(frozen=True)
class Slices:
    """One style layer for the sliced loss: the unit directions (N×K) and the style's sorted
    projections on them (B×K×M, resampled to the output's M positions)."""

    directions: torch.Tensor
    sorted: torch.Tensor


def _ridge(cov: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(cov.shape[-1], device=cov.device, dtype=cov.dtype)
    return cov + COVARIANCE_EPS * eye


def feature_moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean (B×N) and second raw moment E[f fᵀ] = G / M (B×N×N) of B×N×H×W features,
    in float32: the Gram matrix of Eq. 3 per position."""
    flat = flat_channels(features)
    return flat.mean(-1), torch.bmm(flat, flat.transpose(1, 2)) / flat.shape[-1]


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """A^½ of a symmetric positive semi-definite matrix (batched) by eigendecomposition;
    for the fixed targets only, so without a gradient."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()[..., None, :]) @ vectors.transpose(-2, -1)


class _TraceSqrtm(torch.autograd.Function):
    """tr(A^½) = Σ_i √λ_i, whose gradient is ½ A^-½ (the derivative of a spectral sum has no
    1/(λ_i − λ_j) terms, so repeated eigenvalues are harmless, unlike eigh's own backward)."""

    @staticmethod
    def forward(ctx, matrix: torch.Tensor) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(matrix)
        roots = values.clamp_min(0).sqrt()
        ctx.save_for_backward(roots, vectors)
        return roots.sum(-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        roots, vectors = ctx.saved_tensors
        floor = ROOT_FLOOR * roots.amax(-1, keepdim=True).clamp_min(torch.finfo(roots.dtype).tiny)
        half_inverse = 0.5 / roots.clamp_min(floor)
        scaled = vectors * (grad[..., None] * half_inverse)[..., None, :]
        return scaled @ vectors.transpose(-2, -1)


def trace_sqrtm(matrix: torch.Tensor) -> torch.Tensor:
    """tr(A^½) of symmetric positive semi-definite matrices (batched), differentiable, with
    the gradient's 1/√λ bounded by :data:`ROOT_FLOOR`."""
    return _TraceSqrtm.apply(matrix)


def wasserstein_layer_loss(features: torch.Tensor, target: Gaussian) -> torch.Tensor:
    """W_2² between Gaussians fitted to the output's and the style's features, per channel:

        (‖μ − μ_s‖² + tr(Σ + Σ_s − 2 (Σ_s^½ Σ Σ_s^½)^½)) / N_l

    (the closed form of Dowson & Landau 1982, used as a style loss by Kolkin et al., "Style
    Transfer by Relaxed Optimal Transport and Self-Similarity", CVPR 2019, and by crowsonkb's
    style-transfer-pytorch). Dividing by N_l makes layers of different widths comparable.
    """
    n = features.shape[1]
    flat = flat_channels(features)
    mean = flat.mean(-1)
    centred = flat - mean[..., None]
    cov = _ridge(torch.bmm(centred, centred.transpose(1, 2)) / flat.shape[-1])
    root = target.cov_sqrt
    cross = root @ cov @ root
    cross = 0.5 * (cross + cross.transpose(-2, -1))
    trace = torch.diagonal(cov + target.cov, dim1=-2, dim2=-1).sum(-1) - 2 * trace_sqrtm(cross)
    return ((mean - target.mean).pow(2).sum(-1) + trace).sum() / n


def random_directions(channels: int, generator: torch.Generator) -> torch.Tensor:
    """N_l random unit directions (the columns of an N_l × N_l matrix), uniform on the
    sphere: normalised Gaussian draws, as many as the layer has channels, as Heitz et al.
    (2021) draw them."""
    directions = torch.randn(channels, channels, generator=generator)
    return directions / directions.norm(dim=0, keepdim=True)


def sorted_projections(features: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """The features (B×N×H×W) projected on each direction (N×K) and sorted over the
    positions (B×K×M), in float32: the empirical quantile functions of the projections."""
    flat = flat_channels(features)
    return (directions.transpose(0, 1) @ flat).sort(dim=-1).values


def resample_quantiles(quantiles: torch.Tensor, positions: int) -> torch.Tensor:
    """Sorted values (B×K×M_s) resampled to ``positions`` by linear interpolation of the
    quantile function at the mid-points (k + ½)/M, so a style image of another size is
    compared quantile by quantile (Heitz et al. 2021 repeat the style's positions instead,
    which needs a whole multiple)."""
    if quantiles.shape[-1] == positions:
        return quantiles
    return F.interpolate(quantiles, size=positions, mode="linear", align_corners=False)


def sliced_layer_loss(features: torch.Tensor, target: Slices) -> torch.Tensor:
    """The sliced Wasserstein loss of one layer (Heitz, Vanhoey, Chambon & Belcour, "A
    Sliced Wasserstein Loss for Neural Texture Synthesis", CVPR 2021): the mean
    squared difference of the output's and the style's sorted projections, i.e. the
    squared 1-D Wasserstein-2 distance averaged over the directions. It ignores where
    features are, only how they are distributed."""
    return (sorted_projections(features, target.directions) - target.sorted).pow(2).mean()


def distribution_style_loss(
    features: Mapping[str, torch.Tensor],
    targets: Mapping[str, Gaussian] | Mapping[str, Slices],
    layer_weights: Mapping[str, float],
    layer_loss: Callable[[torch.Tensor, Any], torch.Tensor],
) -> torch.Tensor:
    """Σ_l w_l E_l as Eq. 5, with E_l a distribution loss (Wasserstein or sliced)."""
    total = torch.zeros((), device=next(iter(features.values())).device)
    for layer, weight in layer_weights.items():
        total = total + weight * layer_loss(features[layer], targets[layer])
    return total


# The Gram loss's style term over each raw loss, measured on Tübingen × The Starry Night at
# 128 px from the white-noise start (the paper's five style layers, seeds 0 and 1): 0.389 and
# 0.390 for Wasserstein, 0.407 and 0.403 for sliced. With these scales the default β = 1e3
# weighs each against the content about as it weighs the Gram loss, so switching
# --style-loss needs no new --ratio. (Both raw losses are quadratic in the features where
# the Gram loss is quartic: they put more of the style term in the deeper layers.)
WASSERSTEIN_SCALE = 0.4
SLICED_SCALE = 0.4


@dataclass(frozen=True)
class StyleLoss:
    """One choice of ``--style-loss`` other than gram: its per-layer loss and its scale."""

    layer_loss: Callable[[torch.Tensor, Any], torch.Tensor]
    scale: float


DISTRIBUTION_LOSSES: dict[str, StyleLoss] = {
    "wasserstein": StyleLoss(wasserstein_layer_loss, WASSERSTEIN_SCALE),
    "sliced": StyleLoss(sliced_layer_loss, SLICED_SCALE),
}
STYLE_LOSSES = ("gram", *DISTRIBUTION_LOSSES)
"""The values of ``--style-loss``; gram (Eq. 4) is the paper's."""


def total_variation(image: torch.Tensor, exponent: float = 2.0) -> torch.Tensor:
    """Σ_ij ((x_i+1,j − x_ij)² + (x_i,j+1 − x_ij)²)^(exponent/2), summed over channels.

    With the default exponent 2 this is the plain squared-difference smoothness prior
    (Mahendran & Vedaldi 2015). Differences are taken on the common (H−1)×(W−1) grid so
    both directions pair up at every position.
    """
    dy = image[..., 1:, :-1] - image[..., :-1, :-1]
    dx = image[..., :-1, 1:] - image[..., :-1, :-1]
    squared = dx.pow(2) + dy.pow(2)
    if exponent == 2.0:
        return squared.sum()
    return squared.pow(exponent / 2.0).sum()


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(1/D) Σ_k c_k (x_k − ω_k)², D = H·W·C: Ruder, Dosovitskiy & Brox (2016), Eq. 2, the
    short-term temporal loss. ``warped`` (ω) is the previous frame's stylisation warped into
    this frame, ``weights`` (c, 1×1×H×W, in [0, 1]) where that warp is trusted; pixels in
    [0, 1], so the term is on the scale of the pixels' squared change."""
    return (weights * (image - warped).pow(2)).sum() / image[0].numel()


# Calibration of the "calibrated" convention: with the content term taken per element (so
# that it no longer grows with the image), the paper's printed α/β gave the paper's look
# once the content term is multiplied by this constant. See docs/reproduction.md.
CALIBRATION = 20.0


@dataclass(frozen=True)
class Convention:
    """How the three terms are normalised; ``name`` is the value of ``--loss-convention``.

    ``content(F, P)`` and ``style_layer(G, A, N, M, image_pixels)`` return one layer's
    term; ``tv(image)`` takes the [0, 1] RGB image.
    """

    name: str
    content: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    style_layer: Callable[[torch.Tensor, torch.Tensor, int, int, int], torch.Tensor]
    tv: Callable[[torch.Tensor], torch.Tensor]
    summary: str
    content_mean: bool = False
    """Whether the content term is a mean over the layer's elements (rather than a sum): a
    tile's share of it is then weighted by the tile's share of the elements."""


def _calibrated_content(f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return CALIBRATION * content_loss(f, p) / f[0].numel()


def _mse(f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return (f.float() - p.float()).pow(2).mean()


def _keras_style_layer(g, a, n: int, m: int, image_pixels: int) -> torch.Tensor:
    # The Keras example divides by 4·channels²·size² with channels = 3 and size = the
    # image's rows × columns, whatever the layer's own N_l and M_l are.
    return (g - a).pow(2).sum() / (4.0 * 9 * float(image_pixels) ** 2)


def _neural_style_layer(g, a, n: int, m: int, image_pixels: int) -> torch.Tensor:
    # jcjohnson/neural-style divides the Gram by the layer's N·M elements and takes the mean
    # squared error over its N² entries: Σ(G − A)² / (N⁴ M²), which is 4·E_l / N².
    return 4.0 * style_layer_loss(g, a, n, m) / (n * n)


def _neural_style_tv(image: torch.Tensor) -> torch.Tensor:
    # neural-style's TV gradient is strength × the differences in 0–255 units: the gradient
    # of half the squared differences.
    return 0.5 * total_variation(image * 255.0)


def matting_loss(image: torch.Tensor, laplacian: torch.Tensor) -> torch.Tensor:
    """L_m = Σ_c V_c[O]ᵀ 𝓛 V_c[O] (Luan et al. 2017, "Deep Photo Style Transfer", Eq. 2).

    ``image`` is the 1×3×H×W output O in [0, 1]; V_c[O] its channel c as a vector of the
    H·W pixels in row-major order; ``laplacian`` the N×N matting Laplacian 𝓛 of the
    content (Levin et al. 2008) as a sparse CSR tensor in float64. It is small where O is,
    in every 3 × 3 window, an affine function of the content's colours, so penalising it
    keeps the output's edges where the photograph's are. Computed in float64: 𝓛's rows sum
    to zero only to rounding, and its entries are large (ε = 10⁻⁷ in flat windows).
    """
    v = image.reshape(image.shape[1], -1).t().double()  # N × 3
    return _SymmetricForm.apply(v, laplacian).float()


class _SymmetricForm(torch.autograd.Function):
    """Σ vᵀ A v for a symmetric sparse A, whose gradient 2 A v is the product the forward
    pass already made: autograd through the sparse product would multiply by Aᵀ, which torch
    builds by transposing the CSR matrix on every backward pass (50 times the product's
    time at 512 px)."""

    @staticmethod
    def forward(ctx: Any, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        product = a @ v
        ctx.save_for_backward(product)
        return (v * product).sum()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (product,) = ctx.saved_tensors
        return 2.0 * grad * product, None


def _keras_tv(image: torch.Tensor) -> torch.Tensor:
    # In 0–255 pixel units like the example's preprocessed image.
    return total_variation(image * 255.0, exponent=2.5)


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "calibrated",
            _calibrated_content,
            lambda g, a, n, m, _: style_layer_loss(g, a, n, m),
            lambda x: total_variation(x) / x[0, 0].numel(),
            "content ½Σ(F−P)² per element × 20, style Eq. 4, TV per pixel: the same α/β "
            "gives the same balance at any size",
            content_mean=True,
        ),
        Convention(
            "paper",
            content_loss,
            lambda g, a, n, m, _: style_layer_loss(g, a, n, m),
            total_variation,
            "Eqs. 1, 4, 5 as printed: the content term grows with the image size",
        ),
        Convention(
            "notebook",
            _mse,
            lambda g, a, n, m, _: 4.0 * style_layer_loss(g, a, n, m),
            lambda x: total_variation(x) / x[0, 0].numel(),
            "the authors' PyTorch notebook: mean squared error of features and of Grams / M",
            content_mean=True,
        ),
        Convention(
            "keras",
            lambda f, p: 2.0 * content_loss(f, p),
            _keras_style_layer,
            _keras_tv,
            "the Keras example: Σ(F−P)², Σ(G−A)²/(36·(rows·cols)²), TV^1.25 in 0–255 units",
        ),
        Convention(
            "neural-style",
            _mse,
            _neural_style_layer,
            _neural_style_tv,
            "jcjohnson/neural-style, which Deep Photo Style Transfer builds on: mean squared "
            "error of features and of Grams / (N·M), TV in 0–255 units",
            content_mean=True,
        ),
    )
}
