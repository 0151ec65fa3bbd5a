"""Colour control of Gatys et al. (2017), "Controlling Perceptual Factors in Neural Style
Transfer", §5: keep the content's colours while transferring the style.

Pure image operations on 8-bit RGB PIL images (computed in floating point), no model
code: the method calls :func:`prepare_colour` on its inputs and the returned ``finish``
on its output.

- ``luminance`` (§5.1): the style is transferred between luminance images only, after the
  style's luminance is given the content's mean and spread; the result's luminance is then
  combined with the content's chrominance. YIQ separates the two linearly.
- ``histogram`` (§5.2): the style image's colours are mapped by an affine transform so
  that their mean and covariance equal the content's, then the transfer runs as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

PRESERVE_COLOR = ("none", "luminance", "histogram")

# NTSC 1953 RGB → YIQ. Y is the ITU-R BT.601 luma, so a grey pixel's Y is its grey level.
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.5959, -0.2746, -0.3213],
        [0.2115, -0.5227, 0.3112],
    ]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)

# Keeps the square root of a flat image's covariance (a single colour) invertible.
_COVARIANCE_FLOOR = 1e-5


def to_array(img: Image.Image) -> np.ndarray:
    """H×W×3 float64 in [0, 1]."""
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def from_array(rgb: np.ndarray) -> Image.Image:
    """8-bit RGB image from H×W×3 values in [0, 1] (clipped, rounded)."""
    return Image.fromarray(np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8))


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] (…×3) to YIQ: Y in [0, 1], I and Q signed chrominance."""
    return rgb @ RGB_TO_YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rgb_to_yiq` (values may leave [0, 1]; not clipped)."""
    return yiq @ YIQ_TO_RGB.T


def luminance(img: Image.Image) -> np.ndarray:
    """The Y channel, H×W in [0, 1]."""
    return rgb_to_yiq(to_array(img))[..., 0]


def grey_image(y: np.ndarray) -> Image.Image:
    """A luminance channel as an RGB image with R = G = B = Y, which is what VGG is shown."""
    return from_array(np.repeat(y[..., None], 3, axis=2))


def match_luminance(style: Image.Image, content: Image.Image) -> Image.Image:
    """The style's luminance, shifted and scaled to the content's mean and standard deviation.

    Gatys et al. (2017) §5.1: L_S' = σ_C / σ_S (L_S − μ_S) + μ_C, so that the luminance
    ranges of the two images agree before the transfer. Returned as a grey RGB image.
    """
    ys, yc = luminance(style), luminance(content)
    spread = yc.std() / max(ys.std(), 1e-6)
    return grey_image((ys - ys.mean()) * spread + yc.mean())


def with_colour_of(image: Image.Image, content: Image.Image) -> Image.Image:
    """``image``'s luminance with ``content``'s chrominance (I, Q), at ``image``'s size.

    The last step of luminance-only transfer (§5.1). The content is resized to the
    image first, since the output may be smaller than the content file.
    """
    if content.size != image.size:
        content = content.resize(image.size, Image.Resampling.LANCZOS)
    yiq = rgb_to_yiq(to_array(content))
    yiq[..., 0] = luminance(image)
    return from_array(yiq_to_rgb(yiq))


def _sqrt_and_inverse(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric square root of a covariance matrix and of its inverse."""
    values, vectors = np.linalg.eigh(cov + _COVARIANCE_FLOOR * np.eye(len(cov)))
    values = np.maximum(values, _COVARIANCE_FLOOR)
    root = (vectors * np.sqrt(values)) @ vectors.T
    inverse_root = (vectors / np.sqrt(values)) @ vectors.T
    return root, inverse_root


def match_colour(style: Image.Image, content: Image.Image) -> Image.Image:
    """The style image with its colours' mean and covariance made equal to the content's.

    Gatys et al. (2017) §5.2: x_S' = A x_S + b with A = Σ_C^½ Σ_S^−½ and b = μ_C − A μ_S,
    using symmetric (eigenvalue) square roots, which turn the colours as little as
    possible. Values pushed out of [0, 1] are clipped.
    """
    xs = to_array(style).reshape(-1, 3)
    xc = to_array(content).reshape(-1, 3)
    mean_s, mean_c = xs.mean(axis=0), xc.mean(axis=0)
    _, inverse_root_s = _sqrt_and_inverse(np.cov(xs, rowvar=False))
    root_c, _ = _sqrt_and_inverse(np.cov(xc, rowvar=False))
    transform = root_c @ inverse_root_s
    matched = (xs - mean_s) @ transform.T + mean_c
    return from_array(matched.reshape(style.height, style.width, 3))


def prepare_colour(
    mode: str, content: Image.Image, styles: Sequence[Image.Image]
) -> tuple[Image.Image, list[Image.Image], Callable[[Image.Image], Image.Image]]:
    """The content and styles to transfer between under ``mode``, and the last step.

    Returns ``(content, styles, finish)``; ``finish`` turns a result (or a progress image)
    into the final colours: for ``luminance`` it puts the content's chrominance back, for
    the other modes it returns the image unchanged.
    """
    if mode == "luminance":
        original = content
        grey_styles = [match_luminance(style, content) for style in styles]
        return grey_image(luminance(content)), grey_styles, lambda x: with_colour_of(x, original)
    if mode == "histogram":
        return content, [match_colour(style, content) for style in styles], lambda x: x
    if mode == "none":
        return content, list(styles), lambda x: x
    raise ValueError(f"unknown colour mode {mode!r}")
