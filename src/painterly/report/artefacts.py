"""How clean a picture is: speckle (isolated dots) and grid (a texture locked to the pooling).

Two artefacts of image optimisation through VGG-19 that a painter would never make:

- **speckle**: single pixels, or pairs, that stand out from everything around them, such as
  the bright dots left in a painted sky. Measured as the share of pixels that differ from the
  median of their 3 × 3 neighbourhood by more than :data:`SPECKLE_THRESHOLD` in some channel,
  counted where the *content* is flat (a sky, a wall), because a painting's own brushwork
  makes such pixels at edges and in busy texture too.
- **grid**: a pattern repeating every 2, 4, 8 or 16 pixels, the strides of VGG's pooling,
  seen as peaks of the image's power spectrum at those periods. Measured as the spectral
  energy at each period's fundamental frequencies divided by the energy of the surrounding
  frequencies; a natural image or a painting scores about 1.

A third figure, **texture**, is the mean fine detail (finer than about 5 px) where the content
is flat: it sees the mesh of small cells the optimisation paints over a sky, which is
neither isolated enough for speckle nor periodic enough for grid (:func:`flat_texture`).

None of the numbers means much alone: each is reported beside the same figure for the style
image itself (:func:`measure` on the painting), so "as clean as the painting" has a number.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from painterly.controls.colour import luminance

SPECKLE_THRESHOLD = 0.1
"""How far (in the [0, 1] range of a channel) a pixel must stand out from its 3 × 3 median to
count as a speckle: about 25 of 255 levels, more than JPEG noise or film grain, less than the
dots seen in the default output's sky."""
FLAT_WINDOW = 9
FLAT_STD = 0.02
"""A pixel lies in a flat region when the standard deviation of the luminance in the
``FLAT_WINDOW`` × ``FLAT_WINDOW`` square around it is below ``FLAT_STD`` (5 of 255 levels)."""
MIN_FLAT_SHARE = 0.01
"""With less than this share of flat pixels, speckle is counted over the whole image instead
(and the result says so), since a handful of pixels gives no share worth quoting."""
POOLING_PERIODS = (2, 4, 8, 16)
"""The strides of VGG-19's pooling layers up to conv5_1, in output pixels."""
GRID_PEAK = 3.0
"""A period's ratio above which it counts as a grid. A pattern of period P has harmonics at
P/2, P/4, …, so the grid's period is the largest one above this."""
TEXTURE_SIGMA = 2.0
"""Blur of :func:`flat_texture`, in pixels: detail finer than about 5 px is what it measures."""
_PEAK = 1  # half-width of the square of bins taken as a peak (leakage of the Hann window)
_RING = 4  # half-width of the square whose outer part is the peak's neighbourhood


def _array(image: Image.Image | np.ndarray) -> np.ndarray:
    """H×W×3 float64 in [0, 1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), np.float64) / 255.0
    return np.asarray(image, np.float64)


def median3(image: Image.Image | np.ndarray) -> np.ndarray:
    """The 3 × 3 median of each channel (edges replicated), H×W×C.

    Written as one unfold and a median in torch rather than taken from scipy.ndimage, which
    painterly does not otherwise need.
    """
    x = torch.from_numpy(np.ascontiguousarray(_array(image))).permute(2, 0, 1)[None]
    h, w = x.shape[-2:]
    patches = F.unfold(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3)  # 1×(C·9)×(H·W)
    median = patches.reshape(x.shape[1], 9, h * w).median(dim=1).values
    return median.reshape(x.shape[1], h, w).permute(1, 2, 0).numpy()


def flat_regions(image: Image.Image | np.ndarray) -> np.ndarray:
    """Boolean H×W: where the local standard deviation of the luminance of the 3 × 3 median of
    ``image`` is below FLAT_STD.

    The median first removes isolated pixels, so that a smooth sky strewn with dots still
    counts as flat: that is what lets the same measure be taken on a painting (flat where
    the painting is smooth) as on an output (flat where its content photograph is).
    """
    y = torch.from_numpy(np.ascontiguousarray(luminance(_to_image(median3(image)))))[None, None]
    pad = FLAT_WINDOW // 2
    padded = F.pad(y, (pad, pad, pad, pad), mode="replicate")
    mean = F.avg_pool2d(padded, FLAT_WINDOW, stride=1)
    square = F.avg_pool2d(padded * padded, FLAT_WINDOW, stride=1)
    std = (square - mean * mean).clamp_min(0).sqrt()
    return (std < FLAT_STD)[0, 0].numpy()


def _to_image(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    return Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))


def speckle(
    image: Image.Image | np.ndarray, flat_from: Image.Image | np.ndarray | None = None
) -> dict[str, float]:
    """Share of speckle pixels of ``image`` in the flat regions of ``flat_from``.

    ``flat_from`` is the content photograph for a stylised image (resized to the image's size),
    or ``None`` for the image's own flat regions (see :func:`flat_regions`), as for the style
    image. Returns
    ``{"speckle": share, "flat_share": share of pixels counted as flat}``; ``flat_share`` is 1
    when there were too few flat pixels and the whole image was counted.
    """
    x = _array(image)
    return _speckle(x, counted_regions(x, flat_from))


def counted_regions(x: np.ndarray, flat_from: Image.Image | np.ndarray | None) -> np.ndarray:
    """Where speckle and texture are counted in the H×W×3 array ``x``: the flat regions of
    ``flat_from`` at ``x``'s size (of ``x`` itself when None), or everywhere when fewer than
    MIN_FLAT_SHARE of the pixels are flat."""
    reference = _to_image(x) if flat_from is None else _resized(flat_from, x.shape[1::-1])
    flat = flat_regions(reference)
    return np.ones_like(flat) if flat.mean() < MIN_FLAT_SHARE else flat


def _speckle(x: np.ndarray, counted: np.ndarray) -> dict[str, float]:
    outliers = np.abs(x - median3(x)).max(axis=2) > SPECKLE_THRESHOLD
    return {"speckle": float(outliers[counted].mean()), "flat_share": float(counted.mean())}


def flat_texture(
    image: Image.Image | np.ndarray, flat_from: Image.Image | np.ndarray | None = None
) -> float:
    """Mean fine detail of ``image`` where ``flat_from`` (see :func:`speckle`) is flat: the
    largest channel's absolute difference from a Gaussian blur of σ = TEXTURE_SIGMA px.

    This is the mesh of small cells, 5 to 10 px across, that image optimisation paints over
    a flat sky: too faint per pixel to count as speckle, and not locked to the pooling
    grid, so :func:`grid_spectrum` does not see it either. A painting's own smooth passages
    score what its brush leaves there.
    """
    x = _array(image)
    return _texture(x, counted_regions(x, flat_from))


def _texture(x: np.ndarray, counted: np.ndarray) -> float:
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[:, None]
    radius = int(3 * TEXTURE_SIGMA)
    offsets = torch.arange(-radius, radius + 1, dtype=t.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * TEXTURE_SIGMA**2))
    kernel = kernel / kernel.sum()
    blurred = F.pad(t, (radius, radius, radius, radius), mode="replicate")
    blurred = F.conv2d(blurred, kernel.reshape(1, 1, 1, -1))
    blurred = F.conv2d(blurred, kernel.reshape(1, 1, -1, 1))
    detail = (t - blurred).abs()[:, 0].amax(dim=0).numpy()
    return float(detail[counted].mean())


def _resized(image: Image.Image | np.ndarray, size: tuple[int, int]) -> Image.Image:
    picture = _to_image(image)
    return picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS)


def _hann(n: int) -> np.ndarray:
    return np.hanning(n) if n > 1 else np.ones(1)


def grid_spectrum(image: Image.Image | np.ndarray) -> dict[int, float]:
    """Per pooling period P: the spectral energy at the fundamentals of a P-pixel grid
    (frequencies 1/P along x, along y and along both diagonals) over their neighbourhood's.

    The luminance, less its mean, under a separable Hann window, goes through a 2-D FFT; for
    each fundamental, the mean power in the 3 × 3 bins around it (the window spreads a line
    over its neighbours) is divided by the median power in the ring of bins 3 to 4 away. The
    ratio is about 1 where the spectrum is smooth and grows with a repeating pattern.
    Periods whose frequency does not fit the image (P larger than a third of a side) are
    left out.
    """
    y = luminance(_to_image(image))
    h, w = y.shape
    windowed = (y - y.mean()) * np.outer(_hann(h), _hann(w))
    power = np.abs(np.fft.fft2(windowed)) ** 2
    ratios = {}
    for period in POOLING_PERIODS:
        if 3 * period > min(h, w):
            continue
        fy, fx = round(h / period), round(w / period)
        bins = [(0, fx), (fy, 0), (fy, fx), (fy, -fx)]
        ratios[period] = float(np.exp(np.mean([np.log(_peak_ratio(power, b)) for b in bins])))
    return ratios


def alternation(image: Image.Image | np.ndarray) -> float:
    """The amplitude, in grey levels of 255, of the strongest pattern that alternates at
    every pixel (along the rows, the columns or both): the 2-px grid as an absolute size.

    :func:`grid_spectrum` gives the 2-px grid as a ratio over the neighbouring frequencies,
    which grows when those are emptied (a smoothed image) even if the pattern itself does
    not; this says how large the pattern is. The luminance times +1/−1 in a checkerboard,
    row or column order, averaged: ``a`` for a pattern of ±a grey levels. Below about one
    grey level it cannot be seen.
    """
    y = luminance(_to_image(image)) * 255.0
    h, w = y.shape
    rows = np.where(np.arange(h) % 2, -1.0, 1.0)[:, None]
    cols = np.where(np.arange(w) % 2, -1.0, 1.0)[None, :]
    return float(max(abs((y * rows).mean()), abs((y * cols).mean()), abs((y * rows * cols).mean())))


def _peak_ratio(power: np.ndarray, centre: tuple[int, int]) -> float:
    """Mean power of the (2·_PEAK+1)² bins at ``centre`` over the median power of the ring out
    to _RING (indices wrapped). The median, not the mean, because near the low frequencies a
    photograph's spectrum falls steeply and a few ring bins next to DC would outweigh the rest."""
    h, w = power.shape
    offsets = np.arange(-_RING, _RING + 1)
    rows = (centre[0] + offsets) % h
    cols = (centre[1] + offsets) % w
    block = power[np.ix_(rows, cols)]
    inner = np.zeros_like(block, dtype=bool)
    inner[_RING - _PEAK - 1 : _RING + _PEAK + 2, _RING - _PEAK - 1 : _RING + _PEAK + 2] = True
    peak = block[_RING - _PEAK : _RING + _PEAK + 1, _RING - _PEAK : _RING + _PEAK + 1].mean()
    ring = np.median(block[~inner])
    return float(max(peak, 1e-30) / max(ring, 1e-30))


def measure(
    image: Image.Image | np.ndarray, content: Image.Image | np.ndarray | None = None
) -> dict[str, object]:
    """Speckle, grid and flat-area texture of ``image``: ``{"speckle", "flat_share", "grid",
    "grid_period", "grid_by_period", "alternation", "texture"}`` (``texture``:
    :func:`flat_texture`; ``alternation``: :func:`alternation`, the 2-px grid's size).
    ``grid`` is the largest ratio over the pooling periods and ``grid_period`` the largest
    period whose ratio exceeds :data:`GRID_PEAK` (None when none does). ``content`` gives
    the flat regions (see :func:`speckle`); leave it out for a style image."""
    x = _array(image)
    counted = counted_regions(x, content)  # once for speckle and texture alike
    by_period = grid_spectrum(x)
    peaks = [p for p, ratio in by_period.items() if ratio > GRID_PEAK]
    return {
        **_speckle(x, counted),
        "grid": max(by_period.values(), default=1.0),
        "grid_period": max(peaks, default=None),
        "grid_by_period": by_period,
        "alternation": alternation(x),
        "texture": _texture(x, counted),
    }


def summary(
    image: Image.Image | np.ndarray, content: Image.Image | np.ndarray | None = None
) -> dict[str, object]:
    """``speckle``, ``grid``, ``grid_period`` and ``texture`` of :func:`measure`: what a
    report keeps."""
    found = measure(image, content)
    return {k: found[k] for k in ("speckle", "grid", "grid_period", "texture")}
