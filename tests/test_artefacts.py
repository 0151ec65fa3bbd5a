"""The artefact measures: speckle counts isolated dots where the content is flat, grid finds a
pattern at the pooling periods and nothing in a smooth image."""

from __future__ import annotations

import numpy as np
import pytest

from painterly.report import artefacts


def _smooth(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A photograph-like colour image: a few low-frequency waves and a little grain (σ = 1
    level in 255), with no repeating pixel pattern."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    image = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(3):
            fy, fx, phase = rng.uniform(0.3, 1.7, 3)
            image[..., c] += 0.1 * np.sin(2 * np.pi * (fy * yy + fx * xx) + 6 * phase)
    return np.clip(0.5 + image + rng.normal(0, 1 / 255, (h, w, 1)), 0, 1)


def test_median3_removes_an_isolated_dot_and_keeps_a_flat_image():
    flat = np.full((16, 16, 3), 0.4)
    dotted = flat.copy()
    dotted[8, 8] = 1.0
    assert np.allclose(artefacts.median3(dotted), flat)
    assert np.allclose(artefacts.median3(flat), flat)


def test_speckle_is_the_share_of_isolated_dots_in_a_flat_image():
    image = np.full((40, 40, 3), 0.5)
    dots = [(5, 5), (10, 30), (20, 20), (33, 8)]
    for y, x in dots:
        image[y, x] = (1.0, 1.0, 0.2)  # a bright yellow dot
    result = artefacts.speckle(image)
    assert result["flat_share"] == 1.0
    assert result["speckle"] == pytest.approx(len(dots) / 1600)


def test_speckle_ignores_dots_below_the_threshold():
    image = np.full((40, 40, 3), 0.5)
    image[20, 20] = 0.5 + artefacts.SPECKLE_THRESHOLD / 2
    assert artefacts.speckle(image)["speckle"] == 0.0


def test_speckle_counts_only_where_the_content_is_flat():
    # The content is flat on the left half and a checkerboard on the right; one dot on each
    # side of the output: only the left one lies where the content is flat.
    content = np.full((40, 40, 3), 0.5)
    content[:, 20:] = (np.indices((40, 20)).sum(0) % 2)[..., None]
    output = np.full((40, 40, 3), 0.5)
    output[20, 5] = 1.0
    output[20, 35] = 1.0
    result = artefacts.speckle(output, content)
    assert 0.3 < result["flat_share"] < 0.7
    assert result["speckle"] == pytest.approx(1 / (result["flat_share"] * 1600))


def test_flat_regions_see_through_isolated_dots():
    image = np.full((32, 32, 3), 0.5)
    image[::6, ::6] = 1.0  # a sky strewn with dots is still a flat sky
    assert artefacts.flat_regions(image).all()
    checker = (np.indices((32, 32)).sum(0) % 2)[..., None].repeat(3, 2).astype(float)
    assert not artefacts.flat_regions(checker).any()


def test_grid_of_a_smooth_image_is_about_one():
    by_period = artefacts.grid_spectrum(_smooth())
    assert set(by_period) == set(artefacts.POOLING_PERIODS)
    assert all(0.2 < ratio < 2.0 for ratio in by_period.values()), by_period


@pytest.mark.parametrize("period", [2, 4, 8, 16])
def test_grid_finds_a_faint_pattern_at_its_period(period):
    image = _smooth()
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    # A wave of 2 grey levels in 255 repeating every `period` pixels along both axes.
    pattern = (np.cos(2 * np.pi * yy / period) + np.cos(2 * np.pi * xx / period)) / 255
    result = artefacts.measure(np.clip(image + pattern[..., None], 0, 1))
    assert result["grid_period"] == period
    assert result["grid"] > 5 * artefacts.measure(image)["grid"]
    assert artefacts.measure(image)["grid_period"] is None


def test_grid_period_is_the_fundamental_not_a_harmonic():
    # Thin lines every 8 pixels have as much energy at periods 4 and 2 as at 8.
    image = _smooth()
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    lines = ((yy % 8 == 0) | (xx % 8 == 0)) * (4 / 255)
    result = artefacts.measure(np.clip(image + lines[..., None], 0, 1))
    assert result["grid_by_period"][2] > artefacts.GRID_PEAK
    assert result["grid_period"] == 8


def test_grid_leaves_out_periods_that_do_not_fit():
    by_period = artefacts.grid_spectrum(_smooth(30, 40))
    assert set(by_period) == {2, 4, 8}


def test_flat_texture_sees_a_faint_mesh_that_speckle_does_not():
    flat = np.full((48, 48, 3), 0.5)
    yy, xx = np.mgrid[0:48, 0:48]
    # Cells 6 px across, 4 levels in 255 deep: too faint for speckle, plain to the eye.
    mesh = flat + (np.sin(2 * np.pi * yy / 6) * np.sin(2 * np.pi * xx / 6))[..., None] * 4 / 255
    assert artefacts.flat_texture(flat) == 0.0
    assert artefacts.speckle(mesh)["speckle"] == 0.0
    assert artefacts.flat_texture(mesh, flat) > 5e-3
    # Twice as deep, twice the figure: it measures the mesh, not its mere presence.
    deeper = flat + (mesh - flat) * 2
    assert artefacts.flat_texture(deeper, flat) == pytest.approx(
        2 * artefacts.flat_texture(mesh, flat), rel=1e-6
    )


def test_flat_texture_counts_only_where_the_content_is_flat():
    content = np.full((40, 40, 3), 0.5)
    content[:, 20:] = (np.indices((40, 20)).sum(0) % 2)[..., None]
    output = np.full((40, 40, 3), 0.5)
    output[:, 28:] = (np.indices((40, 12)).sum(0) % 2)[..., None]  # texture where busy only
    assert artefacts.flat_texture(output, content) < 1e-3
    # Over a content that is flat everywhere, the same texture counts.
    assert artefacts.flat_texture(output, np.full((40, 40, 3), 0.5)) > 0.05


@pytest.mark.parametrize("pattern", ["rows", "columns", "checkerboard"])
def test_alternation_is_the_size_of_a_pixel_alternation_in_grey_levels(pattern):
    base = _smooth()
    h, w = base.shape[:2]
    i, j = np.mgrid[0:h, 0:w]
    sign = {"rows": (-1.0) ** i, "columns": (-1.0) ** j, "checkerboard": (-1.0) ** (i + j)}
    patterned = np.clip(base + (3 / 255) * sign[pattern][..., None], 0, 1)
    assert artefacts.alternation(base) < 0.3
    assert artefacts.alternation(patterned) == pytest.approx(3.0, abs=0.4)
    assert artefacts.measure(patterned)["alternation"] == artefacts.alternation(patterned)


def test_alternation_does_not_grow_when_the_image_around_a_grid_is_smoothed():
    # The 2-px grid's ratio rises when the neighbouring frequencies empty; its size does not.
    h, w = 96, 128
    i, j = np.mgrid[0:h, 0:w]
    grain = np.random.default_rng(4).normal(0, 6 / 255, (h, w, 1))
    grid = (2 / 255) * ((-1.0) ** (i + j))[..., None]
    busy = np.clip(_smooth() + grain + grid, 0, 1)
    calm = np.clip(_smooth() + grid, 0, 1)
    assert artefacts.grid_spectrum(calm)[2] > artefacts.grid_spectrum(busy)[2]
    assert artefacts.alternation(calm) == pytest.approx(artefacts.alternation(busy), abs=0.3)
