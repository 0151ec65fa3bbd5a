"""Photorealistic transfer wired through the run: the matting term in the objective, the
photo preset and ``--photorealistic``, the smoothing after every method, and refusals."""

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.api import run
from painterly.commands import main
from painterly.config.options import FEED_FORWARD, METHODS, Options
from painterly.config.presets import PHOTO
from painterly.controls.colour import from_array, to_array
from painterly.controls.inputs import match_palette, prepare_inputs
from painterly.controls.photoreal import matting_laplacian, smooth_fast
from painterly.engine import losses, runtime
from painterly.engine.objective import content_laplacian
from painterly.errors import PainterlyError
from painterly.io.images import to_image, to_tensor
from painterly.methods import gatys
from painterly.report.similarity import edge_agreement

# --- the term (Luan et al. 2017, Eq. 2) ----------------------------------------------------


@pytest.fixture(scope="module")
def small_content(content_image):
    return content_image.resize((24, 18), Image.Resampling.LANCZOS)


def test_the_matting_term_is_the_quadratic_form_of_the_laplacian(small_content):
    content = to_tensor(small_content)
    laplacian = content_laplacian(content)
    image = torch.rand(1, 3, 18, 24, generator=torch.Generator().manual_seed(0))
    dense = matting_laplacian(np.asarray(small_content, np.float64) / 255).toarray()
    v = image[0].reshape(3, -1).double().numpy()
    expected = sum(v[c] @ dense @ v[c] for c in range(3))
    assert losses.matting_loss(image, laplacian).item() == pytest.approx(expected, rel=1e-6)


def test_the_matting_term_is_zero_for_a_recolouring_of_the_content_only(small_content):
    # An output that is an affine function of the content's colours in every window (here
    # one affine map for the whole image) is what the term allows; noise is what it punishes.
    content = to_tensor(small_content)
    laplacian = content_laplacian(content)
    mixing = torch.tensor([[0.5, 0.2, 0.0], [0.1, 0.6, 0.1], [0.0, 0.3, 0.4]])
    recoloured = torch.einsum("oc,bchw->bohw", mixing, content) + 0.1
    noisy = recoloured + 0.05 * torch.randn(
        content.shape, generator=torch.Generator().manual_seed(1)
    )
    kept, punished = (losses.matting_loss(x, laplacian).item() for x in (recoloured, noisy))
    assert abs(kept) < 1e-4 * punished  # not 0: ε regularises each window's fit
    assert punished > 1.0


def test_the_gradient_of_the_matting_term_matches_finite_differences(small_content):
    content = to_tensor(small_content)
    laplacian = content_laplacian(content)
    image = torch.rand(
        1, 3, 18, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    image.requires_grad_(True)
    losses.matting_loss(image, laplacian).backward()
    # The term is quadratic, so central differences are exact up to rounding at any step.
    step = 1e-2
    for index in [(0, 0, 0, 0), (0, 1, 9, 11), (0, 2, 17, 23), (0, 0, 5, 3)]:
        plus, minus = image.detach().clone(), image.detach().clone()
        plus[index] += step
        minus[index] -= step
        numeric = (
            losses.matting_loss(plus, laplacian).double()
            - losses.matting_loss(minus, laplacian).double()
        ) / (2 * step)
        assert image.grad[index].item() == pytest.approx(numeric.item(), rel=1e-3, abs=1e-3)


def test_neural_style_convention_is_mse_of_grams_over_n_m():
    gen = torch.Generator().manual_seed(3)
    f, s = torch.randn(1, 4, 5, 6, generator=gen), torch.randn(1, 4, 5, 6, generator=gen)
    g, a = losses.gram_matrix(f), losses.gram_matrix(s)
    n, m = 4, 30
    convention = losses.CONVENTIONS["neural-style"]
    expected = ((g / (n * m) - a / (n * m)) ** 2).mean()
    assert convention.style_layer(g, a, n, m, m).item() == pytest.approx(expected.item(), rel=1e-5)
    image = torch.rand(1, 3, 6, 7, generator=gen)
    dx = image[..., :-1, 1:] - image[..., :-1, :-1]
    dy = image[..., 1:, :-1] - image[..., :-1, :-1]
    tv = 0.5 * ((255 * dx) ** 2 + (255 * dy) ** 2).sum()
    assert convention.tv(image).item() == pytest.approx(tv.item(), rel=1e-5)


# --- options -------------------------------------------------------------------------------


def test_photorealistic_chooses_the_photo_preset_for_gatys():
    options = Options.build(photorealistic=True)
    assert options.matting_weight == PHOTO["matting_weight"] > 0
    assert (options.weights, options.loss_convention) == ("vgg19-keras", "neural-style")
    assert options.photo_smooth == "fast" and options.init == "gatys"
    assert options.match_color == "chroma"
    assert Options.build(preset="photo") == options.replace(photorealistic=False, match_color="off")


@pytest.mark.parametrize("method", FEED_FORWARD)
def test_photorealistic_smooths_after_the_one_pass_methods(method):
    options = Options.build(method=method, photorealistic="yes")
    assert options.photo_smooth == "fast" and options.matting_weight == 0
    assert options.match_color == "chroma"
    assert options.strength == (0.6 if method == "wct" else None)
    assert Options.build(method=method).photo_smooth == "off"
    assert Options.build(method=method).match_color == "off"


def test_photorealistic_keeps_the_photographs_colours_when_asked_to():
    assert Options.build(photorealistic=True).match_color == "chroma"
    kept = Options.build(method="adain", photorealistic=True, preserve_color="luminance")
    assert (kept.match_color, kept.photo_smooth) == ("off", "fast")


def test_options_given_with_photorealistic_win():
    options = Options.build(photorealistic=True, photo_smooth="exact", matting_weight=100, size=64)
    assert (options.photo_smooth, options.matting_weight, options.size) == ("exact", 100, 64)
    assert Options.build(photorealistic=True, ratio=1e-3).style_weight == pytest.approx(5e3)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"method": "adain", "matting_weight": 10}, "--photo-smooth"),
        ({"photo_smooth": "blur"}, "photo smooth must be one of off, fast, exact"),
        ({"photorealistic": "maybe"}, "true or false"),
        ({"photorealistic": 1}, "true or false"),
        ({"matting_weight": -1}, "matting weight"),
        ({"match_color": "lab"}, "match color must be one of off, chroma"),
        ({"match_color": "chroma", "preserve_color": "histogram"}, "choose one"),
        (
            {"photorealistic": True, "preserve_color": "luminance", "match_color": "chroma"},
            "--match-color chroma gives the result the style's colours",
        ),
        ({"method": "adain", "match_color": "chroma", "bit_depth": 16}, "--match-color chroma"),
    ],
)
def test_photorealistic_options_are_refused_with_one_sentence(values, words):
    with pytest.raises(PainterlyError, match=words) as caught:
        Options.build(**values)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("values", "free", "words"),
    [
        # The matting term's run cannot be tiled, and its own need is far above the
        # Laplacian's: the run's check refuses first.
        ({"matting_weight": 1.0, "size": 1024}, 50_000_000, "largest size that fits"),
        # A one-pass run tiles to fit in 1 GB; the Laplacian of the whole 2048 px output
        # (1.9 GB) cannot, and is refused with the largest output whose Laplacian fits.
        ({"method": "adain", "photo_smooth": "exact", "size": 2048}, 1_000_000_000,
         "matting Laplacian .* largest output that fits is about 14"),
    ],
)  # fmt: skip
def test_a_laplacian_that_would_not_fit_is_refused_before_any_work(
    monkeypatch, content_image, values, free, words
):
    monkeypatch.setattr(runtime, "available_bytes", lambda device: free)
    with pytest.raises(PainterlyError, match=words) as caught:
        run(content_image, content_image, Options.build(**values))
    assert "\n" not in str(caught.value)


# --- end to end ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_photorealistic_and_keeps_the_edges(
    method, one_thread, content_image, style_image
):
    # A tiny run per method; the smoothing must not lower the photograph's edge agreement.
    values = {"method": method, "size": 64}
    if method == "gatys":
        values["iterations"] = 5
    plain = run(content_image, style_image, Options.build(**values)).image
    photo = run(content_image, style_image, Options.build(photorealistic=True, **values)).image
    assert photo.size == plain.size
    target = content_image.resize(photo.size, Image.Resampling.LANCZOS)
    assert edge_agreement(photo, target) >= edge_agreement(plain, target) - 0.02
    assert np.abs(np.asarray(photo, float) - np.asarray(plain, float)).mean() > 0.5


def test_init_gatys_starts_from_a_plain_run_of_the_defaults(one_thread, content_image, style_image):
    # Luan et al.'s two steps: the plain run is the defaults' (here 4 evaluations, the run's
    # own count being fewer than the default's), then the photo run starts from its image.
    options = Options.build(preset="photo", size=48, iterations=4, photo_smooth="off")
    inputs = prepare_inputs(content_image, [style_image], options)
    start = gatys.plain_run(options, inputs)
    plain = run(content_image, style_image, Options.build(size=48, iterations=4)).image
    assert np.array_equal(np.asarray(to_image(start)), np.asarray(plain))
    seen: list = []
    two_step = run(content_image, style_image, options, callback=seen.append).image
    assert len(seen) == 8  # the plain run's 4 evaluations, then the photo run's 4
    one_step = run(content_image, style_image, options.replace(init="content")).image
    assert np.abs(np.asarray(two_step, float) - np.asarray(one_step, float)).mean() > 1


def test_init_gatys_smooths_the_plain_run_before_the_second(one_thread, content_image, style_image):
    options = Options.build(preset="photo", size=48, iterations=3, photo_smooth="fast")
    inputs = prepare_inputs(content_image, [style_image], options)
    start = to_image(gatys.plain_run(options, inputs))
    plain = run(content_image, style_image, Options.build(size=48, iterations=3)).image
    assert np.array_equal(np.asarray(start), np.asarray(smooth_fast(plain, content_image)))
    assert not np.array_equal(np.asarray(start), np.asarray(plain))


def test_each_region_takes_its_own_styles_palette(tmp_path, content_image):
    # Two masks side by side with a gap between them: each half's chroma goes to its own
    # style's, the gap keeps the photograph's (as what no mask covers keeps the content).
    width, height = content_image.size
    third = width // 3
    left, right = np.zeros((height, width), np.uint8), np.zeros((height, width), np.uint8)
    left[:, :third], right[:, 2 * third :] = 255, 255
    cool = from_array(to_array(content_image) * np.array([0.3, 0.6, 1.0]))
    warm = from_array(to_array(content_image) * np.array([1.0, 0.6, 0.3]))
    files = []
    for name, mask, style in (("left", left, cool), ("right", right, warm)):
        Image.fromarray(mask).save(tmp_path / f"{name}.png")
        style.save(tmp_path / f"{name}-style.png")
        files.append((str(tmp_path / f"{name}.png"), str(tmp_path / f"{name}-style.png")))
    options = Options.build(masks=files, match_color="chroma")
    inputs = prepare_inputs(content_image, [], options)
    matched = np.asarray(match_palette(content_image, inputs.regions), float)
    photo = np.asarray(content_image, float)
    blue_minus_red = (matched[..., 2] - matched[..., 0]) - (photo[..., 2] - photo[..., 0])
    assert blue_minus_red[:, :third].mean() > 20 and blue_minus_red[:, 2 * third :].mean() < -20
    assert np.array_equal(
        matched[:, third + 1 : 2 * third - 1], photo[:, third + 1 : 2 * third - 1]
    )


def test_the_exact_smoothing_runs_after_a_method(one_thread, content_image, style_image):
    options = Options.build(method="wct", size=48, photo_smooth="exact")
    smoothed = run(content_image, style_image, options).image
    plain = run(content_image, style_image, options.replace(photo_smooth="off")).image
    assert smoothed.size == plain.size
    assert not np.array_equal(np.asarray(smoothed), np.asarray(plain))


def test_the_cli_runs_photorealistic_and_refuses_the_term_after_adain(
    capsys, tmp_path, image_files
):
    out = tmp_path / "photo.png"
    code = main([*map(str, image_files), "-o", str(out), "--method", "adain", "--size", "48",
                 "--photorealistic"])  # fmt: skip
    assert code == 0 and Image.open(out).size[0] == 48
    capsys.readouterr()
    refused = tmp_path / "refused.png"
    code = main([*map(str, image_files), "-o", str(refused), "--method", "adain",
                 "--matting-weight", "10"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--photo-smooth" in err
    assert not refused.exists()
