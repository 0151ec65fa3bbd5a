"""How much of one image's structure another keeps: SSIM of luminance and edge agreement.

Both compare luminance only (BT.601 Y, :func:`painterly.controls.colour.luminance`), so a stylised
image is not penalised for taking the painting's colours, only for moving or losing the
photograph's shapes. Both are 1 for identical images and fall as structure is lost.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from painterly.controls.colour import luminance

SSIM_SIGMA = 1.5
SSIM_WINDOW = 11
SSIM_K1, SSIM_K2 = 0.01, 0.03
"""Wang et al. (2004), §III-C: an 11 × 11 Gaussian window of σ = 1.5, K1 = 0.01, K2 = 0.03."""


def _luma(image: Image.Image | np.ndarray) -> torch.Tensor:
    y = luminance(image) if isinstance(image, Image.Image) else np.asarray(image, np.float64)
    return torch.from_numpy(np.ascontiguousarray(y))[None, None]


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """Mean SSIM of the luminance of ``a`` and ``b`` (same size; images or H×W arrays in [0, 1]).

    Wang, Bovik, Sheikh & Simoncelli (2004), Eq. 13, with dynamic range L = 1:
    SSIM = (2 μ_a μ_b + C1)(2 σ_ab + C2) / ((μ_a² + μ_b² + C1)(σ_a² + σ_b² + C2)),
    C1 = (K1 L)², C2 = (K2 L)², local statistics under a Gaussian window, averaged over the
    positions where the window fits (smaller images use a window of their size).
    """
    x, y = _luma(a), _luma(b)
    if x.shape != y.shape:
        raise ValueError(f"images differ in size: {tuple(x.shape)} and {tuple(y.shape)}")
    size = min(SSIM_WINDOW, *x.shape[-2:])
    window = _gaussian_window(size, SSIM_SIGMA * size / SSIM_WINDOW)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x = F.conv2d(x * x, window) - mu_x**2
    var_y = F.conv2d(y * y, window) - mu_y**2
    cov = F.conv2d(x * y, window) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(index.mean())


def sobel_magnitude(image: Image.Image | np.ndarray) -> np.ndarray:
    """Gradient magnitude of the luminance by the 3 × 3 Sobel operator (edges replicated)."""
    y = F.pad(_luma(image), (1, 1, 1, 1), mode="replicate")
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=y.dtype)
    gx = F.conv2d(y, kx[None, None])
    gy = F.conv2d(y, kx.T.contiguous()[None, None])
    return torch.sqrt(gx**2 + gy**2)[0, 0].numpy()


def edge_agreement(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """Pearson correlation of the Sobel edge maps of ``a`` and ``b``: 1 when the edges are
    where they were with the same relative strength, about 0 when unrelated. A flat image
    has no edges to agree with: its agreement is 0 (1 if both are flat)."""
    ea, eb = sobel_magnitude(a).ravel(), sobel_magnitude(b).ravel()
    if ea.shape != eb.shape:
        raise ValueError(f"images differ in size: {ea.shape} and {eb.shape}")
    da, db = ea - ea.mean(), eb - eb.mean()
    norm = float(np.sqrt((da**2).sum() * (db**2).sum()))
    if norm < 1e-12:
        return 1.0 if np.abs(da).max() < 1e-12 and np.abs(db).max() < 1e-12 else 0.0
    return float((da * db).sum() / norm)
