"""The Gatys method end to end with the real weights, on images of at most 96 px."""

import numpy as np
import pytest

from painterly import Interrupted, Options, Progress, run


def _losses(content, style, **options):
    reports: list[Progress] = []
    result = run(content, style, Options.build(**options), reports.append)
    return result, reports


def test_content_reconstruction_from_conv4_2_cuts_content_loss_by_90_percent(
    content_image, style_image
):
    # From noise: from the content image (the default) the content loss starts at zero.
    result, reports = _losses(
        content_image, style_image, size=96, style_layers="", style_weight=0, iterations=60,
        init="noise",
    )  # fmt: skip
    first, last = reports[0].losses["content"], result.losses["content"]
    assert first > 0
    assert last <= 0.1 * first


def test_style_loss_falls_by_half_within_50_iterations(content_image, style_image):
    result, reports = _losses(
        content_image,
        style_image,
        size=96,
        content_layers="",
        content_weight=0,
        style_weight=1e3,
        iterations=50,
    )
    assert len(reports) == 50
    assert result.losses["style"] <= 0.5 * reports[0].losses["style"]


def test_same_seed_gives_identical_pixels_and_another_seed_does_not(content_image, style_image):
    def image(seed):
        return np.asarray(
            # From noise: the seed draws the start (the default content start has none).
            run(
                content_image, style_image, Options(size=64, iterations=5, seed=seed, init="noise")
            ).image
        )

    a, b, c = image(3), image(3), image(4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_output_has_the_content_aspect_at_the_requested_size(content_image, style_image):
    result = run(content_image, style_image, Options(size=80, iterations=2))
    w, h = content_image.size
    assert max(result.image.size) == 80
    assert result.image.size == (80, round(80 * h / w))


@pytest.mark.parametrize("init", ["content", "style"])
def test_image_inits_start_from_that_image(content_image, style_image, init):
    _, reports = _losses(content_image, style_image, size=64, init=init, iterations=1)
    start = np.asarray(reports[0].image(), dtype=float)
    source = content_image if init == "content" else style_image
    expected = np.asarray(source.resize(reports[0].image().size), dtype=float)
    # Resampling differs slightly between paths; the images must agree closely.
    assert np.abs(start - expected).mean() < 6


def test_init_from_file(tmp_path, content_image, style_image):
    path = tmp_path / "start.png"
    style_image.save(path)
    _, reports = _losses(content_image, style_image, size=64, init=str(path), iterations=1)
    assert np.asarray(reports[0].image()).std() > 10


def test_adam_also_lowers_the_loss(content_image, style_image):
    result, reports = _losses(
        content_image, style_image, size=64, optimizer="adam", learning_rate=0.05, iterations=20
    )
    assert result.losses["total"] < 0.8 * reports[0].losses["total"]


def test_callback_reports_every_evaluation_with_weighted_terms(content_image, style_image):
    result, reports = _losses(content_image, style_image, size=64, iterations=4, tv_weight=1.0)
    assert [p.iteration for p in reports] == [1, 2, 3, 4]
    assert all(p.total == 4 for p in reports)
    terms = reports[-1].losses
    assert set(terms) == {"content", "style", "tv", "total"}
    assert terms["total"] == pytest.approx(
        terms["content"] + terms["style"] + terms["tv"], rel=1e-5
    )
    assert result.iterations == 4


def test_ctrl_c_hands_back_the_best_image_so_far(content_image, style_image):
    def stop_at_three(p: Progress):
        if p.iteration == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as caught:
        run(content_image, style_image, Options(size=64, iterations=10), stop_at_three)
    assert caught.value.iteration == 3
    assert max(caught.value.best.size) == 64


def test_a_large_style_weight_does_not_stall_at_the_start(content_image, style_image):
    # Without a line search, L-BFGS overshot on big losses and returned the flat start.
    result, reports = _losses(content_image, style_image, size=48, ratio=1e-5, iterations=30)
    assert result.losses["style"] < 0.05 * reports[0].losses["style"]
    assert np.asarray(result.image, dtype=float).std() > 20
