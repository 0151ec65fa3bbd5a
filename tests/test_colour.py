"""Colour control (Gatys et al. 2017 §5): YIQ, luminance-only transfer, colour matching."""

import numpy as np
import pytest
from PIL import Image

from painterly import Options, run
from painterly.controls.colour import (
    from_array,
    luminance,
    match_colour,
    match_luminance,
    rgb_to_yiq,
    to_array,
    with_colour_of,
    yiq_to_rgb,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _random_image(seed: int, low: float, high: float, mix: np.ndarray) -> Image.Image:
    """Correlated random colours in [low, high]: a non-trivial mean and covariance."""
    rng = np.random.default_rng(seed)
    base = rng.random((40, 50, 3)) @ mix.T
    base = (base - base.min()) / (base.max() - base.min())
    return from_array(low + (high - low) * base)


def _chroma(img: Image.Image) -> np.ndarray:
    """The I and Q channels, H×W×2."""
    return rgb_to_yiq(to_array(img))[..., 1:]


def test_yiq_round_trip_and_grey_has_no_chroma():
    rgb = np.random.default_rng(0).random((5, 7, 3))
    np.testing.assert_allclose(yiq_to_rgb(rgb_to_yiq(rgb)), rgb, atol=1e-12)
    grey = rgb_to_yiq(np.full((2, 2, 3), 0.4))
    np.testing.assert_allclose(grey[..., 0], 0.4)
    np.testing.assert_allclose(grey[..., 1:], 0.0, atol=1e-4)


def test_match_luminance_gives_the_style_the_contents_mean_and_spread():
    content = _random_image(1, 0.4, 0.9, np.eye(3))
    style = _random_image(2, 0.0, 0.3, np.eye(3))
    matched = match_luminance(style, content)
    y, yc = luminance(matched), luminance(content)
    assert abs(y.mean() - yc.mean()) < 2 / 255
    assert abs(y.std() - yc.std()) < 2 / 255
    # Grey: the network sees luminance only.
    assert np.abs(_chroma(matched)).max() < 2 / 255


def test_with_colour_of_keeps_the_images_luminance_and_the_contents_chroma():
    content = _random_image(3, 0.3, 0.7, np.array([[1, 0.2, 0], [0, 1, 0.5], [0.3, 0, 1]]))
    image = _random_image(4, 0.3, 0.7, np.eye(3))
    out = with_colour_of(image, content)
    assert np.abs(luminance(out) - luminance(image)).max() < 3 / 255
    assert np.abs(_chroma(out) - _chroma(content)).max() < 3 / 255


def test_match_colour_gives_the_style_the_contents_colour_mean_and_covariance():
    content = _random_image(5, 0.25, 0.75, np.array([[1, 0.5, 0], [0.2, 1, 0.1], [0, 0.6, 1]]))
    style = _random_image(6, 0.3, 0.6, np.array([[1, 0, 0.4], [0, 1, 0], [0.5, 0.1, 1]]))
    matched = match_colour(style, content)
    xm, xc = (to_array(img).reshape(-1, 3) for img in (matched, content))
    np.testing.assert_allclose(xm.mean(axis=0), xc.mean(axis=0), atol=2e-3)
    np.testing.assert_allclose(np.cov(xm, rowvar=False), np.cov(xc, rowvar=False), atol=2e-3)
    # The style's own spatial pattern survives: the transform is per pixel and affine.
    ys, ym = luminance(style).ravel(), luminance(matched).ravel()
    assert abs(np.corrcoef(ys, ym)[0, 1]) > 0.8


def _runs(content, style, mode):
    options = Options(size=48, iterations=2, init="style")
    plain = run(content, style, options).image
    kept = run(content, style, options.replace(preserve_color=mode)).image
    target = content.resize(kept.size, Image.Resampling.LANCZOS)
    return plain, kept, target


def test_luminance_transfer_output_has_the_contents_chroma(content_image, style_image):
    plain, kept, content = _runs(content_image, style_image, "luminance")
    kept_error = np.abs(_chroma(kept) - _chroma(content)).mean()
    plain_error = np.abs(_chroma(plain) - _chroma(content)).mean()
    assert kept_error < 0.01 < plain_error
    # The style still shapes the luminance: the result is not the content photo.
    assert np.abs(luminance(kept) - luminance(content)).mean() > 0.02


def test_histogram_matching_output_takes_the_contents_colour_statistics(content_image, style_image):
    plain, kept, content = _runs(content_image, style_image, "histogram")

    def colour_gap(img):
        x, c = to_array(img).reshape(-1, 3), to_array(content).reshape(-1, 3)
        return np.abs(x.mean(0) - c.mean(0)).sum() + np.abs(np.cov(x.T) - np.cov(c.T)).sum()

    assert colour_gap(kept) < 0.5 * colour_gap(plain)
