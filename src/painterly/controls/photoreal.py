"""The image-space linear algebra of photorealistic style transfer: the matting Laplacian of
Levin, Lischinski & Weiss (2008), what it costs in memory, and the smoothing step of Li et al.
(2018), "A Closed-form Solution to Photorealistic Image Stylization" (FastPhotoStyle).

- :func:`matting_laplacian` (Levin et al. Eq. 12): the sparse N×N matrix whose quadratic form
  is small exactly for images that are locally an affine function of the content's colours.
  Luan et al. (2017) penalise it in the objective; Li et al. smooth a stylised image with it.
- :func:`smooth_exact` (Li et al. §3.2): the closed-form smoothing, a sparse linear solve.
- :func:`smooth_fast` (Li et al. §3.2, "fast approximation"): the guided filter of He, Sun &
  Tang with the content as the guide.
- :func:`match_chroma`: the style photograph's palette given to a result, luma kept.

Two field libraries do the heavy lifting, both optional (``pip install 'painterly[photo]'``)
and imported only when used: pymatting builds the Laplacian, OpenCV's ximgproc has the
guided filter. Images are 8-bit RGB PIL images, computed in float64 in [0, 1].
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from painterly.controls.colour import from_array, rgb_to_yiq, to_array, yiq_to_rgb
from painterly.errors import PainterlyError

if TYPE_CHECKING:
    import scipy.sparse  # type: ignore[import-untyped]

SMOOTHING = ("off", "fast", "exact")
"""The values of ``--photo-smooth``."""

MATTING_EPS = 1e-7
"""ε of Levin et al. Eq. 12, the value Luan et al. (``-eps``) and FastPhotoStyle use."""

_FPS_BETA = 0.9999
"""FastPhotoStyle's smoothing weight (photo_smooth.py, ``Propagator(beta=0.9999)``): the α of
Li et al.'s closed form (§3.2), α = 1 / (1 + λ_paper), so λ_paper ≈ 1e-4."""

EXACT_LAMBDA = 1e4
"""λ of :func:`smooth_exact`: nine times FastPhotoStyle's strength, 9999 / 9 ≈ 1111 in this
form (see there for the mapping). Measured on the four photo pairs of docs/photorealistic.md
after adain and wct at 320 px, theirs left the decoders' texture in (Sobel edge correlation
with the photograph 0.57–0.88); 1e4 raises it to 0.66–0.96 and moves the colours nearly as
far (the share of the a*b* distance moved drops by 0.12 at most, by 0.05 or less on 7 of 8)."""

FAST_RADIUS = 35
"""The guided filter's radius, FastPhotoStyle's ``GIFSmoothing(r=35, eps=0.001)`` (demo.py)."""

FAST_EPS = 1e-3
"""The guided filter's ε for colours in [0, 1] (a colour variation of about 8 levels):
FastPhotoStyle passes ε = 0.001 with 8-bit images, 0.001 / 255² ≈ 1.5e-8 here, which fits the
decoders' texture as if it were the photograph's (edge correlation 0.57–0.91 on the four pairs of
docs/photorealistic.md after adain and wct); 1e-3 gives 0.68–0.95 with the colours moved as
far (within 0.05)."""

# The solves need ~340 conjugate-gradient steps a channel at this tolerance. λ_min(I + λL) ≥ 1,
# so the error's norm is at most the residual's: the RMS error is ≤ 1e-3 of the image's RMS, a
# quarter of a level at most; measured against a direct solve (splu) at 256×192 it was 0.07
# levels at worst, and 0.7% of the 8-bit pixels differed, by one level.
_CG_RTOL = 1e-3


def _extra(module: str, what: str) -> ModuleType:
    """``module`` of the photo extra (scipy comes with pymatting), imported on first use:
    pymatting compiles its loops with numba the first time (~30 s, then cached)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        # cv2 without the contrib modules has no ximgproc: the same remedy.
        raise PainterlyError(
            f"{what} needs the photo extra: pip install 'painterly[photo]'"
        ) from None


def matting_laplacian(
    image: np.ndarray, eps: float = MATTING_EPS, radius: int = 1
) -> scipy.sparse.csr_matrix:
    """The matting Laplacian of Levin, Lischinski & Weiss (2008), Eq. 12.

    L_ij = Σ_{k | i,j ∈ w_k} (δ_ij − (1 + (I_i − μ_k)ᵀ (Σ_k + ε/|w_k| I₃)⁻¹ (I_j − μ_k)) / |w_k|)

    over the (2r+1)×(2r+1) windows w_k that lie wholly inside the image. ``image`` is H×W×3
    in [0, 1]; the result is N×N (N = H·W, pixel index y·W + x), symmetric, positive
    semi-definite, with every row summing to 0, and each colour channel of ``image`` (any
    locally affine function of it) nearly in its null space. Built by pymatting's
    ``cf_laplacian``, a compiled (numba) loop over the windows, without explicit zeros.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 image, not an array of shape {image.shape}")
    pymatting = _extra("pymatting", "the matting Laplacian")
    laplacian = pymatting.cf_laplacian(
        np.asarray(image, dtype=np.float64), epsilon=eps, radius=radius
    )
    # Near the border pymatting's rows keep slots for neighbours outside the image, as zeros
    # pointing at column 0; dropping them in place makes the matrix canonical at no extra peak.
    laplacian.eliminate_zeros()
    return laplacian


def image_laplacian(img: Image.Image, eps: float = MATTING_EPS) -> scipy.sparse.csr_matrix:
    """:func:`matting_laplacian` of an RGB PIL image."""
    return matting_laplacian(to_array(img), eps)


def laplacian_bytes(width: int, height: int, radius: int = 1) -> int:
    """An upper bound of the peak memory of :func:`matting_laplacian` (and of
    :func:`smooth_exact`) on a width × height image, in bytes.

    pymatting 1.1.16 writes straight into CSR arrays, (4r+1)² slots a pixel (every neighbour
    that can share a window): float64 values and int64 column indices; scipy then copies the
    indices to int32 while the int64 ones are still alive. With the row pointers in both
    widths, the float64 image and the 8-bit images around it, that is 20·(4r+1)² + 50 bytes a
    pixel, and a tenth more for the allocator: 605 for r = 1. The CSR result keeps
    12·(4r+1)² + 4 of them.

    Measured with tracemalloc, the image already in memory (513 bytes a pixel at all three):
    128×96: 6.31 MB peak, 3.74 MB kept; 256×192: 25.2 / 14.9 MB; 512×384: 100.9 / 59.8 MB;
    VmHWM rose by 500–509 bytes a pixel. :func:`smooth_exact`, from its PIL images on, peaked
    at 537 bytes a pixel (tracemalloc; VmHWM 539–541) at 128×96 and 512×384: the Laplacian's
    build, since the solve works on the matrix in place and the conjugate gradients need only
    a few vectors.
    """
    slots = (4 * radius + 1) ** 2
    return width * height * (20 * slots + 50) * 11 // 10


def largest_fitting(width: int, height: int, free: int, radius: int = 1) -> float:
    """The factor s ≤ 1 by which both sides must shrink for :func:`laplacian_bytes` to fit in
    ``free`` bytes; 1.0 if it fits already, 0.0 if nothing does."""
    need = laplacian_bytes(width, height, radius)
    if need <= free:
        return 1.0
    # The need is proportional to the pixel count, so the sides shrink with its square root.
    return math.sqrt(max(free, 0) / need)


def _size_text(count: float) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def check_laplacian_fits(width: int, height: int, what: str, free: int | None) -> None:
    """Raise PainterlyError if the matting Laplacian of a width × height output would not fit
    in ``free`` bytes (None: free memory unknown, so never refuse).

    ``what`` names the option that needs it (``--matting-weight``, ``--photo-smooth exact``).
    """
    need = laplacian_bytes(width, height)
    if free is None or need <= free:
        return
    scale = largest_fitting(width, height, free)
    fits_w, fits_h = math.floor(width * scale), math.floor(height * scale)
    raise PainterlyError(
        f"{what} needs about {_size_text(need)} for the matting Laplacian of a {width}×{height} "
        f"px output but only {_size_text(free)} is free; the largest output that fits is about "
        f"{fits_w}×{fits_h} px."
    )


def _fitted_content(stylised: Image.Image, content: Image.Image) -> Image.Image:
    if content.size != stylised.size:
        content = content.resize(stylised.size, Image.Resampling.LANCZOS)
    return content


def smooth_exact(
    stylised: Image.Image, content: Image.Image, lam: float = EXACT_LAMBDA
) -> Image.Image:
    """The photorealistic smoothing of Li et al. (2018), §3.2, in closed form.

    R = argmin ‖R − S‖² + λ Σ_{i<j} w_ij ‖R_i − R_j‖² = (I + λL)⁻¹ S,

    with w the content's matting affinity and L = D − W its matting Laplacian
    (:func:`matting_laplacian`); the content is resized to the stylised image first.

    Li et al. use the normalised Laplacian, ‖R_i/√d_i − R_j/√d_j‖², with d_i = Σ_j w_ij; in
    their code (photo_smooth.py) R = (1 − β)(I − βD^-½ W D^-½)⁻¹ S with β = 0.9999, which is
    (I + β/(1 − β) D^-½ L D^-½)⁻¹ S. For this affinity d_i is the number of windows that
    hold pixel i, 9 (for r = 1) everywhere but the outer two rows and columns (which their
    code pads away), so their strength is ours with λ = 9999 / 9 ≈ 1111 (:data:`EXACT_LAMBDA`;
    measured at 256×192, the mean difference from their solve was 0.4 levels away from the
    border; λ = 500 or 2000 doubled it, λ = 9999 made it six times larger). The unnormalised
    form gives any constant image back exactly, and the content's own colours up to the ε
    ridge, which λ makes felt in the faintest texture: the content at 256×192 came back
    0.47 levels off on average, 6 at worst; through their form 0.92 and 22, and a flat 127.5
    between 124 and 143, because near the border D^½·1, not 1, is in their null space.

    Each channel is solved by conjugate gradients (:func:`_conjugate_gradients`) on I + λL,
    built in place from the Laplacian, without a preconditioner. Measured at 512×384
    on 2 cores, for the three channels to a relative residual of 1e-4: scipy's cg 6.8 s; with a
    Jacobi preconditioner more steps than without; with pymatting's incomplete Cholesky 4.3 s
    at its best discard threshold (0.1), but the factor's memory comes on top and smaller
    thresholds were slower (17 s at its default); a sparse LU (splu, factorised once for all
    channels) 29 s with 126 million entries of fill-in. scipy's cg itself is not used: its dot
    products go to numpy's OpenBLAS, whose threads, on a 2-core machine with another job
    running, made it erratically up to 30× slower (23.7 s instead of 0.76 s with one BLAS
    thread at 256×192, to 1e-3); the same iteration with einsum's dot products took 0.72 s
    there and 4.0 s at 512×384 with the load average at 2.6 (at λ ≈ 1111; the default λ = 1e4
    needs about three times the steps: 23 s at 512×384 on a quiet machine).
    (Running the three channels as one block, to read the matrix once a step, was slower.)
    """
    content = _fitted_content(stylised, content)
    width, height = stylised.size
    system = image_laplacian(content)
    system.data *= lam
    # Every diagonal entry is present (the Laplacian's diagonal is positive), so this adds I in
    # place instead of allocating I + λL beside the Laplacian. (An image with no 3×3 window has
    # an empty Laplacian; then the entries are inserted, and the solve gives S back.)
    system.setdiag(system.diagonal() + 1.0)
    channels = to_array(stylised).reshape(-1, 3)
    # κ(I + λL) ≤ 1 + 9λ, as no pixel is in more than 9 windows and each window's part of L has
    # norm ≤ 1; twice the steps CG's bound asks for at that condition number is a safe cap.
    root = math.sqrt(1.0 + 9.0 * lam)
    steps = math.ceil(root * math.log(2.0 * root / _CG_RTOL))
    result = np.stack(
        [_conjugate_gradients(system, channel, _CG_RTOL, steps) for channel in channels.T],
        axis=1,
    )
    return from_array(result.reshape(height, width, 3))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum's own loop, not BLAS: see smooth_exact for what OpenBLAS's threads cost.
    return float(np.einsum("i,i", a, b))


def _conjugate_gradients(
    system: scipy.sparse.csr_matrix, rhs: np.ndarray, rtol: float, steps: int
) -> np.ndarray:
    """x with system · x = rhs for a symmetric positive definite ``system``, by the conjugate
    gradients of Hestenes & Stiefel (1952), from x = 0 until the residual's norm is within
    ``rtol`` of the right-hand side's (at once for rhs = 0)."""
    solution = np.zeros_like(rhs)
    residual = rhs.copy()
    direction = residual.copy()
    power = _dot(residual, residual)
    target = rtol**2 * power
    for _ in range(steps):
        if power <= target:
            return solution
        image = system @ direction
        step = power / _dot(direction, image)
        solution += step * direction
        residual -= step * image
        new_power = _dot(residual, residual)
        direction *= new_power / power
        direction += residual
        power = new_power
    raise RuntimeError(f"conjugate gradients did not converge in {steps} steps")


def smooth_fast(
    stylised: Image.Image, content: Image.Image, radius: int = FAST_RADIUS, eps: float = FAST_EPS
) -> Image.Image:
    """The fast approximation of the smoothing (Li et al. 2018, §3.2): the stylised image
    filtered by the guided filter of He, Sun & Tang ("Guided Image Filtering", ECCV 2010,
    Eq. 5–8; TPAMI 2013, Eq. 19–21 for the colour guide) with the content as the guide.

    Each output pixel is the average over the windows of radius ``radius`` around it of
    an affine function of the content's colour fitted to the stylised image in that window,
    with ridge ε (``eps``, for colours in [0, 1]); OpenCV's ximgproc does it in O(N).
    """
    ximgproc = _extra("cv2.ximgproc", "--photo-smooth fast")
    content = _fitted_content(stylised, content)
    # OpenCV's colour guided filter goes wrong on guides in [0, 1]: with ε in each scale's
    # units, noise of σ = 20 levels was left at 15.3 levels (mean absolute) on a [0, 1] guide
    # and at 1.8 on a 0–255 one (and on 0–10 or 0–50; grey guides agree at any scale). So it is
    # given the 0–255 scale FastPhotoStyle gave it, with ε to match.
    guide = np.asarray(content.convert("RGB"), dtype=np.float32)
    source = np.asarray(stylised.convert("RGB"), dtype=np.float32)
    filtered = ximgproc.guidedFilter(guide=guide, src=source, radius=radius, eps=eps * 255.0**2)
    return from_array(filtered.astype(np.float64) / 255.0)


def smooth(stylised: Image.Image, content: Image.Image, mode: str) -> Image.Image:
    """The stylised image smoothed along the content's edges as ``mode`` (:data:`SMOOTHING`)
    says: ``off`` returns ``stylised`` itself."""
    if mode == "off":
        return stylised
    if mode == "fast":
        return smooth_fast(stylised, content)
    if mode == "exact":
        return smooth_exact(stylised, content)
    raise ValueError(f"unknown smoothing {mode!r}")


COLOUR_MATCHES = ("off", "chroma")
"""The values of ``--match-color``."""


MATCH_ROUNDS = 8
"""Rotations of the chroma plane in :func:`match_chroma`. On the day → dusk pair of
docs/photorealistic.md (adain, then the fast smoothing, 320 px) the share of the a*b* distance
moved was 0.14 after one round (the I and Q axes alone), 0.87 after 2 or 4, 0.87 after 8 and
0.84 after 32; summer → autumn 0.87, 0.97, 0.97, 0.96, 0.95."""

_MATCH_SAMPLE = 1 << 18
"""At most this many values of an image or a style build a channel's map (every k-th one);
the map is then applied to all of the image's values."""


def _every(values: np.ndarray, most: int) -> np.ndarray:
    return values[:: -(-values.size // most)] if values.size > most else values


def _quantile_map(values: np.ndarray, reference: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``values`` sent through the monotone map that gives them ``reference``'s distribution
    (each reference value counting with its weight): a value goes to the reference quantile
    at its own rank. Equal values share one rank (the middle of their run), so a flat area
    stays flat; between the ranks and the reference's quantiles the map is linear."""
    distinct, counts = np.unique(_every(values, _MATCH_SAMPLE), return_counts=True)
    ranks = (np.cumsum(counts) - 0.5 * counts) / counts.sum()
    order = np.argsort(reference, kind="stable")
    sorted_weights = weights[order]
    levels = (np.cumsum(sorted_weights) - 0.5 * sorted_weights) / sorted_weights.sum()
    return np.interp(np.interp(values, distinct, ranks), levels, reference[order])


def match_chroma(
    image: Image.Image,
    styles: Sequence[tuple[Image.Image, float]],
    where: np.ndarray | None = None,
) -> Image.Image:
    """``image`` with the chroma (the I and Q of YIQ) of its pixels in ``where`` (a boolean
    H×W mask; None: every pixel) given the joint distribution of the styles' chroma, the
    styles mixed by their weights; the luma Y is kept, so every edge stays as it was.

    The transfer is Pitié, Kokaram & Dahyot's ("N-dimensional probability density function
    transfer", ICCV 2005) in the two dimensions of chroma: the plane is turned by
    :data:`MATCH_ROUNDS` angles in turn and, at each, both axes are histogram-matched to the
    style's values seen along them. One round, I and Q each matched alone, leaves their joint
    shape as it was (a sunset's purple–orange pairs can have the right I and Q each and the
    wrong colours); the rounds match the whole plane (Reinhard et al., 2001, match only each
    channel's mean and spread). A colour cast, a dusk or a film look is the style
    photograph's palette, which a one-pass decoder or the smoothing moves only part of the
    way (docs/photorealistic.md measures how far). YIQ is the split ``--preserve-color
    luminance`` uses the other way round; matched in CIE L*a*b* with L* kept instead, the
    luma still moved with the chroma (on the warm → cool pair the gatys result's Sobel edge
    correlation with the photograph fell from 0.86 to 0.83). Colours the match pushes out of
    the RGB cube keep their luma and lose chroma (:func:`_within_gamut`).
    """
    yiq = rgb_to_yiq(to_array(image))
    chosen = np.ones(yiq.shape[:2], bool) if where is None else where
    if not chosen.any():
        return image
    charts = [
        _every(rgb_to_yiq(to_array(style)).reshape(-1, 3), _MATCH_SAMPLE) for style, _ in styles
    ]
    weights = np.concatenate(
        [
            np.full(len(chart), weight / len(chart))
            for chart, (_, weight) in zip(charts, styles, strict=True)
        ]
    )
    reference = np.concatenate(charts)[:, 1:]
    chroma = yiq[chosen][:, 1:]
    for k in range(MATCH_ROUNDS):
        angle = k * (math.pi / 2) / MATCH_ROUNDS  # each turn gives two axes: a quarter turn
        turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        turned, seen = chroma @ turn, reference @ turn
        for axis in (0, 1):
            turned[:, axis] = _quantile_map(turned[:, axis], seen[:, axis], weights)
        chroma = turned @ turn.T
    yiq[chosen, 1:] = chroma
    return from_array(_within_gamut(yiq))


def _within_gamut(yiq: np.ndarray) -> np.ndarray:
    """RGB of ``yiq`` with every colour outside [0, 1]³ brought in by lowering its chroma
    (towards the grey of its own luma) just as far as it must. Clipping each channel instead
    changes the luma, and with it the edges: on the warm → cool pair it took the gatys
    result's edge correlation with the photograph from 0.863 to 0.856; this keeps 0.863."""
    luma = yiq[..., :1]
    chroma = yiq_to_rgb(yiq) - luma  # YIQ's grey is R = G = B = Y
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(
            chroma > 0, (1.0 - luma) / chroma, np.where(chroma < 0, -luma / chroma, np.inf)
        )
    scale = np.clip(room.min(axis=-1, keepdims=True), 0.0, 1.0)
    return luma + scale * chroma
