"""Loss terms of Gatys, Ecker & Bethge (2016), as pure functions of feature maps.

Notation follows the paper: a layer l has N_l feature maps of M_l = height × width
positions; F^l is the N_l × M_l matrix of the generated image's responses, P^l the content
image's, and G^l, A^l the Gram matrices of the generated and the style image.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G^l_ij = Σ_k F^l_ik F^l_jk (paper Eq. 3), unnormalised, in float32.

    ``features`` is B×N×H×W; the result is B×N×N. The product is accumulated in float32
    even when the features come out of a lower-precision forward pass.
    """
    b, n, h, w = features.shape
    flat = features.reshape(b, n, h * w).float()
    return torch.bmm(flat, flat.transpose(1, 2))


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content = ½ Σ_ij (F^l_ij − P^l_ij)² (paper Eq. 1)."""
    return 0.5 * (features.float() - target.float()).pow(2).sum()


def style_layer_loss(gram: torch.Tensor, target_gram: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """E_l = Σ_ij (G^l_ij − A^l_ij)² / (4 N_l² M_l²) (paper Eq. 4).

    ``n`` is N_l (feature maps) and ``m`` is M_l (positions) of the *generated* image's
    layer, which the paper's derivation assumes equals the style image's.
    """
    return (gram - target_gram).pow(2).sum() / (4.0 * n * n * m * m)


def style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """L_style = Σ_l w_l E_l (paper Eq. 5) over the layers in ``layer_weights``."""
    total = torch.zeros((), device=next(iter(target_grams.values())).device)
    for layer, weight in layer_weights.items():
        f = features[layer]
        _, n, h, w = f.shape
        total = total + weight * style_layer_loss(gram_matrix(f), target_grams[layer], n, h * w)
    return total


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
