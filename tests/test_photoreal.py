"""The matting Laplacian, its memory budget and the photorealistic smoothing (issue 17)."""

import math
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly.controls import photoreal
from painterly.controls.colour import from_array, rgb_to_yiq, to_array, yiq_to_rgb
from painterly.errors import PainterlyError

pytest.importorskip("pymatting")
pytest.importorskip("cv2.ximgproc")
sparse = pytest.importorskip("scipy.sparse")
linalg = pytest.importorskip("scipy.sparse.linalg")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def levin_laplacian(image: np.ndarray, eps: float) -> np.ndarray:
    """Levin et al. (2008) Eq. 12 written out, window by window (3×3 windows)."""
    h, w, _ = image.shape
    dense = np.zeros((h * w, h * w))
    for cy in range(1, h - 1):
        for cx in range(1, w - 1):
            index = [y * w + x for y in range(cy - 1, cy + 2) for x in range(cx - 1, cx + 2)]
            colours = image[cy - 1 : cy + 2, cx - 1 : cx + 2].reshape(9, 3)
            centred = colours - colours.mean(axis=0)
            covariance = centred.T @ centred / 9
            inverse = np.linalg.inv(covariance + eps / 9 * np.eye(3))
            affinity = (1 + centred @ inverse @ centred.T) / 9
            dense[np.ix_(index, index)] += np.eye(9) - affinity
    return dense


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    image = Image.open(EXAMPLES / "tubingen.jpg").convert("RGB")
    image.thumbnail((64, 64), Image.Resampling.LANCZOS)
    return image


@pytest.fixture(scope="module")
def random_image() -> np.ndarray:
    return np.random.default_rng(1).random((12, 16, 3))


@pytest.fixture(scope="module")
def random_laplacian(random_image) -> np.ndarray:
    return photoreal.matting_laplacian(random_image).toarray()


@pytest.mark.parametrize("shape", [(3, 3), (4, 5)])
def test_laplacian_is_levins_equation_12_entry_by_entry(shape):
    # A large ε, so that where ε/|w| enters shows; 4×5 checks the summing over windows and
    # the row-major pixel order on a non-square image.
    image = np.random.default_rng(0).random((*shape, 3))
    ours = photoreal.matting_laplacian(image, eps=0.01)
    assert ours.shape == (image.shape[0] * image.shape[1],) * 2
    np.testing.assert_allclose(ours.toarray(), levin_laplacian(image, 0.01), rtol=0, atol=1e-10)


def test_laplacian_is_symmetric_with_rows_summing_to_zero(random_laplacian):
    scale = np.abs(random_laplacian).max()
    assert np.abs(random_laplacian - random_laplacian.T).max() <= 1e-9 * scale
    assert np.abs(random_laplacian.sum(axis=1)).max() <= 1e-9 * scale


def test_laplacian_is_positive_semidefinite(random_laplacian):
    values = np.linalg.eigvalsh(random_laplacian)
    assert values[0] >= -1e-8 * values[-1]
    # the constant and the three channels: four near-zero eigenvalues, then a gap
    assert values[3] <= 1e-5 * values[-1] < values[4]


def test_constants_and_the_images_own_channels_are_in_the_null_space(
    random_image, random_laplacian
):
    assert np.abs(random_laplacian @ np.ones(len(random_laplacian))).max() <= 1e-12
    noise = np.random.default_rng(2).random(len(random_laplacian))
    moved = np.linalg.norm(random_laplacian @ noise) / np.linalg.norm(noise)
    for c in range(3):
        channel = random_image[..., c].ravel()
        assert np.linalg.norm(random_laplacian @ channel) / np.linalg.norm(channel) < 1e-5 * moved


def test_laplacian_has_no_explicit_zeros(random_image):
    laplacian = photoreal.matting_laplacian(random_image)
    assert np.all(laplacian.data != 0)
    # pixels share a 3×3 window when at most 2 apart along each axis: 25 neighbours inside
    assert laplacian.nnz == sum(min(y + 2, 11) - max(y - 2, 0) + 1 for y in range(12)) * sum(
        min(x + 2, 15) - max(x - 2, 0) + 1 for x in range(16)
    )


FAITHFUL = {"lam": 9999 / 9}, {"eps": 1e-3 / 255**2}
"""FastPhotoStyle's strengths in our units (see EXACT_LAMBDA and FAST_EPS)."""


@pytest.mark.parametrize(
    ("smoothing", "strength", "mean", "worst"),
    [
        (photoreal.smooth_exact, FAITHFUL[0], 0.6, 3),
        (photoreal.smooth_fast, FAITHFUL[1], 0.6, 3),
        # The defaults smooth harder, so they flatten the faintest texture of a 64-px photo
        # more: still about a level on average.
        (photoreal.smooth_exact, {}, 2.0, 8),
        (photoreal.smooth_fast, {}, 2.0, 8),
    ],
)
def test_an_image_in_the_contents_colours_comes_back(photo, smoothing, strength, mean, worst):
    recoloured = from_array(to_array(photo)[..., [2, 0, 1]] * 0.7 + 0.15)
    for stylised in (photo, recoloured):
        back = smoothing(stylised, photo, **strength)
        change = np.abs(np.asarray(back, float) - np.asarray(stylised))
        # The ε ridge (times λ for the exact solve) flattens the faintest texture a little.
        assert change.mean() < mean
        assert np.percentile(change, 99) <= worst


def edge_and_noise() -> tuple[Image.Image, Image.Image]:
    """A content image with a vertical edge between columns 23 and 24 (on a vertical
    gradient), and the same colours with noise of σ = 15 levels."""
    content = np.zeros((32, 48, 3))
    content[:, :24] = (0.2, 0.3, 0.6)
    content[:, 24:] = (0.8, 0.6, 0.2)
    content += np.linspace(0, 0.1, 32)[:, None, None]
    noise = np.random.default_rng(3).normal(0, 0.06, content.shape)
    return from_array(content), from_array(content + noise)


@pytest.mark.parametrize("smoothing", [photoreal.smooth_exact, photoreal.smooth_fast])
def test_smoothing_removes_noise_and_keeps_the_contents_edge(smoothing):
    content, noisy = edge_and_noise()
    clean, before = to_array(content), to_array(noisy)
    after = to_array(smoothing(noisy, content))
    assert ((after - clean) ** 2).mean() < ((before - clean) ** 2).mean() / 20
    step = np.abs(np.diff(after.mean(axis=(0, 2))))
    assert abs(int(step.argmax()) - 23) <= 1
    contrast = after[:, 30:].mean(axis=(0, 1)) - after[:, :18].mean(axis=(0, 1))
    np.testing.assert_allclose(contrast, (0.6, 0.3, -0.4), atol=0.02)


def test_a_flat_colour_with_black_channels_comes_back_exactly(photo):
    red = Image.new("RGB", photo.size, (255, 0, 0))
    for smoothing in (photoreal.smooth_exact, photoreal.smooth_fast):
        assert smoothing(red, photo).tobytes() == red.tobytes()


def test_smooth_exact_solves_the_closed_form_to_within_a_level(photo):
    stylised = edge_and_noise()[1].resize(photo.size)
    laplacian = photoreal.matting_laplacian(to_array(photo))
    system = sparse.identity(laplacian.shape[0]) + photoreal.EXACT_LAMBDA * laplacian
    direct = linalg.spsolve(system.tocsc(), to_array(stylised).reshape(-1, 3))
    solved = to_array(photoreal.smooth_exact(stylised, photo)).reshape(-1, 3)
    assert np.abs(solved - np.clip(direct, 0, 1)).max() <= 1 / 255


def test_the_content_is_resized_to_the_stylised_image():
    content, noisy = edge_and_noise()
    big = content.resize((96, 64), Image.Resampling.BICUBIC)
    fitted = big.resize(noisy.size, Image.Resampling.LANCZOS)
    for smoothing in (photoreal.smooth_exact, photoreal.smooth_fast):
        result = smoothing(noisy, big)
        assert result.size == noisy.size
        assert result.tobytes() == smoothing(noisy, fitted).tobytes()


def test_smooth_off_returns_the_very_same_image_and_other_modes_dispatch(photo):
    stylised = from_array(to_array(photo) * 0.8)
    assert photoreal.smooth(stylised, photo, "off") is stylised
    for mode, smoothing in (("fast", photoreal.smooth_fast), ("exact", photoreal.smooth_exact)):
        expected = smoothing(stylised, photo).tobytes()
        assert photoreal.smooth(stylised, photo, mode).tobytes() == expected
    assert photoreal.SMOOTHING == ("off", "fast", "exact")
    with pytest.raises(ValueError):
        photoreal.smooth(stylised, photo, "slow")


def test_an_image_too_thin_for_a_window_is_left_as_it_is():
    stylised = from_array(np.random.default_rng(4).random((2, 9, 3)))
    content = from_array(np.random.default_rng(5).random((2, 9, 3)))
    assert photoreal.smooth_exact(stylised, content).tobytes() == stylised.tobytes()


def traced_peak(function, *args) -> int:
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_laplacian_bytes_bounds_the_measured_peak_within_one_and_a_half(photo):
    width, height = photo.size
    image = to_array(photo)
    photoreal.matting_laplacian(image[:8, :8].copy())  # numba's first call allocates too
    bound = photoreal.laplacian_bytes(width, height)
    # the float64 image is part of the estimate; here it was made before measuring
    build = traced_peak(photoreal.matting_laplacian, image) + image.nbytes
    assert build <= bound < 1.5 * build
    smoothing = traced_peak(photoreal.smooth_exact, from_array(image * 0.9), photo)
    assert smoothing <= bound
    assert photoreal.laplacian_bytes(2 * width, height) > bound
    assert photoreal.laplacian_bytes(width, height, radius=2) > bound


def test_largest_fitting_is_the_largest_scale_that_fits():
    need = photoreal.laplacian_bytes(640, 480)
    assert photoreal.largest_fitting(640, 480, need) == 1.0
    scale = photoreal.largest_fitting(640, 480, need // 4)
    assert scale == pytest.approx(0.5, rel=1e-3)
    free = need // 3
    scale = photoreal.largest_fitting(640, 480, free)
    fits = photoreal.laplacian_bytes(math.floor(640 * scale), math.floor(480 * scale))
    too_big = photoreal.laplacian_bytes(math.ceil(640 * scale) + 1, math.ceil(480 * scale) + 1)
    assert fits <= free < too_big
    assert photoreal.largest_fitting(640, 480, 0) == 0.0


def test_check_laplacian_fits_refuses_naming_what_and_sizes():
    need = photoreal.laplacian_bytes(4000, 3000)
    with pytest.raises(PainterlyError) as refused:
        photoreal.check_laplacian_fits(4000, 3000, "--photo-smooth exact", need // 4)
    message = str(refused.value)
    assert message.startswith("--photo-smooth exact needs about 7.3 GB ")
    assert "only 1.8 GB is free" in message
    assert message.endswith("the largest output that fits is about 2000×1500 px.")
    assert message.count(".") == 3  # the decimal points and the one full stop
    with pytest.raises(PainterlyError, match=r"--matting-weight needs about \d+\.\d MB"):
        photoreal.check_laplacian_fits(512, 384, "--matting-weight", 10**6)


def test_check_laplacian_fits_accepts_when_free_is_unknown_or_enough():
    photoreal.check_laplacian_fits(4000, 3000, "--matting-weight", None)
    photoreal.check_laplacian_fits(512, 384, "--matting-weight", 10**9)
    need = photoreal.laplacian_bytes(512, 384)
    photoreal.check_laplacian_fits(512, 384, "--matting-weight", need)


@pytest.mark.parametrize(
    ("modules", "call"),
    [
        (["pymatting"], lambda: photoreal.matting_laplacian(np.zeros((3, 3, 3)))),
        (["cv2", "cv2.ximgproc"], lambda: photoreal.smooth_fast(*edge_and_noise())),
    ],
)
def test_a_missing_extra_is_one_sentence_with_the_remedy(monkeypatch, modules, call):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    remedy = r"needs the photo extra: pip install 'painterly\[photo\]'$"
    with pytest.raises(PainterlyError, match=remedy):
        call()


def test_importing_the_module_loads_none_of_the_extra():
    extra = "{'cv2', 'numba', 'pymatting', 'scipy'}"
    code = f"import sys, painterly.controls.photoreal; print(sorted({extra} & set(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(photoreal.__file__).parents[2])},
    )
    assert loaded.stdout.strip() == "[]"


# --- the style's palette (--match-color chroma) -----------------------------------------------


def yiq(image: Image.Image) -> np.ndarray:
    return rgb_to_yiq(to_array(image))


def chroma_distance(a: Image.Image, b: Image.Image) -> float:
    """The 1-D Wasserstein distance of I plus that of Q (equal-size samples: sorted)."""
    ya, yb = yiq(a).reshape(-1, 3), yiq(b).reshape(-1, 3)
    return sum(float(np.abs(np.sort(ya[:, c]) - np.sort(yb[:, c])).mean()) for c in (1, 2))


def test_match_chroma_gives_the_styles_chroma_and_keeps_the_luma(photo):
    tinted = photo.rotate(180).convert("RGB")
    tinted = from_array(to_array(tinted) * np.array([0.8, 0.9, 1.0]) + np.array([0.0, 0.1, 0.0]))
    matched = photoreal.match_chroma(photo, [(tinted, 1.0)])
    assert chroma_distance(photo, tinted) > 0.05  # 0.109: the tint's I and Q
    assert chroma_distance(matched, tinted) < 0.05 * chroma_distance(photo, tinted)  # 0.0009


@pytest.mark.parametrize("tint", [(0.8, 0.9, 1.0, 0.1), (0.3, 0.6, 1.0, 0.2)])
def test_match_chroma_keeps_the_luma_to_rounding_even_out_of_gamut(photo, tint):
    # The second tint's chroma, given to the photograph's bright sky, leaves the RGB cube:
    # those colours lose chroma, not luma (clipped, they lost up to several levels of it).
    *gains, lift = tint
    style = from_array(to_array(photo.rotate(180)) * np.array(gains) + np.array([0, 0, lift]))
    matched = photoreal.match_chroma(photo, [(style, 1.0)])
    luma = np.abs(yiq(matched)[..., 0] - yiq(photo)[..., 0]) * 255
    assert luma.max() <= 0.5 + 1e-6  # each channel rounded to a level at most half off


def test_match_chroma_leaves_a_flat_area_flat_and_the_unchosen_pixels_alone(photo):
    array = to_array(photo)
    array[:20, :30] = [0.6, 0.4, 0.3]  # a flat patch: one value, one rank
    image = from_array(array)
    where = np.zeros((image.height, image.width), bool)
    where[: image.height // 2] = True
    style = from_array(np.clip(to_array(photo)[..., ::-1] * 1.2, 0, 1))
    matched = np.asarray(photoreal.match_chroma(image, [(style, 1.0)], where))
    patch = matched[:20, :30].reshape(-1, 3)
    assert (patch == patch[0]).all() and not (patch[0] == np.asarray(image)[0, 0]).all()
    assert np.array_equal(matched[image.height // 2 :], np.asarray(image)[image.height // 2 :])


def test_match_chroma_mixes_several_styles_by_weight(photo):
    cool = from_array(to_array(photo) * np.array([0.4, 0.7, 1.0]))
    warm = from_array(to_array(photo) * np.array([1.0, 0.7, 0.4]))
    mostly_warm = photoreal.match_chroma(photo, [(cool, 0.2), (warm, 0.8)])
    mostly_cool = photoreal.match_chroma(photo, [(cool, 0.8), (warm, 0.2)])
    assert chroma_distance(mostly_warm, warm) < chroma_distance(mostly_warm, cool)
    assert chroma_distance(mostly_cool, cool) < chroma_distance(mostly_cool, warm)


def test_match_chroma_matches_the_joint_chroma_not_only_each_axis():
    # The style's I and Q move together (two colours: +,+ and −,−); the image has the same
    # values of I and of Q, paired the other way (+,− and −,+). Matching I and Q each alone
    # would leave the image as it is; the rotations give it the style's pairs.
    def two_colours(pairs: list[tuple[float, float]]) -> Image.Image:
        yiq = np.zeros((16, 16, 3))
        yiq[..., 0] = 0.5
        for i, (chroma_i, chroma_q) in enumerate(pairs):
            yiq[:, 8 * i : 8 * i + 8, 1:] = chroma_i, chroma_q
        return from_array(yiq_to_rgb(yiq))

    style = two_colours([(0.1, 0.1), (-0.1, -0.1)])
    image = two_colours([(0.1, -0.1), (-0.1, 0.1)])
    matched = yiq(photoreal.match_chroma(image, [(style, 1.0)])).reshape(-1, 3)
    before = yiq(image).reshape(-1, 3)
    assert np.corrcoef(before[:, 1], before[:, 2])[0, 1] < -0.99
    assert np.corrcoef(matched[:, 1], matched[:, 2])[0, 1] > 0.9
