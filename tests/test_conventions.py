"""Loss conventions (calibrated, paper, notebook, keras) and the presets built on them."""

import dataclasses

import pytest
import torch

from painterly import Options, Progress, run
from painterly.config.presets import PAINTERLY, PRESETS
from painterly.engine.losses import (
    CALIBRATION,
    CONVENTIONS,
    content_loss,
    gram_matrix,
    style_layer_loss,
)
from painterly.errors import PainterlyError


def _tiled(x: torch.Tensor) -> torch.Tensor:
    """The same feature map repeated 2×2: the same statistics at four times the size."""
    return x.repeat(1, 1, 2, 2)


def test_calibrated_content_is_half_mean_square_times_the_calibration_constant():
    f, p = torch.rand(1, 4, 3, 5), torch.rand(1, 4, 3, 5)
    expected = CALIBRATION * 0.5 * ((f - p) ** 2).mean()
    torch.testing.assert_close(CONVENTIONS["calibrated"].content(f, p), expected)


def test_calibrated_terms_do_not_grow_with_image_size_but_the_papers_content_does():
    torch.manual_seed(1)
    f, p, a_src = torch.rand(1, 8, 6, 6), torch.rand(1, 8, 6, 6), torch.rand(1, 8, 6, 6)
    c = CONVENTIONS["calibrated"]
    small = c.content(f, p)
    big = c.content(_tiled(f), _tiled(p))
    torch.testing.assert_close(small, big)
    # The paper's sum grows with the number of positions.
    paper = CONVENTIONS["paper"]
    torch.testing.assert_close(paper.content(_tiled(f), _tiled(p)), 4 * paper.content(f, p))
    # Eq. 4 is already per position: Grams scale with M, and so does the divisor.
    e_small = c.style_layer(gram_matrix(f), gram_matrix(a_src), 8, 36, 0)
    e_big = c.style_layer(gram_matrix(_tiled(f)), gram_matrix(_tiled(a_src)), 8, 144, 0)
    torch.testing.assert_close(e_small, e_big)


def test_notebook_convention_is_mse_of_features_and_of_grams_over_m():
    f, p = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    nb = CONVENTIONS["notebook"]
    torch.testing.assert_close(nb.content(f, p), ((f - p) ** 2).mean())
    g, a = gram_matrix(f), gram_matrix(p)
    m = 16
    torch.testing.assert_close(nb.style_layer(g, a, 3, m, 0), (((g - a) / m) ** 2).mean())
    torch.testing.assert_close(nb.style_layer(g, a, 3, m, 0), 4 * style_layer_loss(g, a, 3, m))


def test_keras_convention_uses_three_channels_and_the_image_size():
    f, p = torch.rand(1, 64, 4, 4), torch.rand(1, 64, 4, 4)
    k = CONVENTIONS["keras"]
    torch.testing.assert_close(k.content(f, p), ((f - p) ** 2).sum())
    g, a = gram_matrix(f), gram_matrix(p)
    image_pixels = 32 * 32
    expected = ((g - a) ** 2).sum() / (4 * 3**2 * image_pixels**2)
    torch.testing.assert_close(k.style_layer(g, a, 64, 16, image_pixels), expected)
    x = torch.tensor([[0.0, 1.0], [0.0, 0.0]]).reshape(1, 1, 2, 2)
    # One position: dx = 255 (0→1 scaled), dy = 0 → (255²)^1.25
    torch.testing.assert_close(k.tv(x), torch.tensor(255.0**2.5))


def test_paper_convention_is_the_printed_formulas():
    f, p = torch.rand(1, 2, 3, 3), torch.rand(1, 2, 3, 3)
    torch.testing.assert_close(CONVENTIONS["paper"].content(f, p), content_loss(f, p))


def test_preset_values_apply_and_given_options_override_them():
    o = Options.build(preset="keras-example")
    assert o.weights == "vgg19-keras" and o.pooling == "max" and o.loss_convention == "keras"
    assert o.content_layers == {"conv3_2": 1.0} and o.tv_weight == 1.0
    assert (o.size, o.size_side, o.iterations, o.lbfgs_restart) == (400, "height", 1000, 20)
    o = Options.build(preset="keras-example", size=64, content_layers="conv5_2")
    assert o.size == 64 and o.content_layers == {"conv5_2": 1.0} and o.weights == "vgg19-keras"


def test_notebook_preset_weights_style_layers_by_one_over_n_squared():
    o = Options.build(preset="gatys-notebook")
    assert o.style_layers["conv1_1"] == pytest.approx(1e3 / 64**2)
    assert o.style_layers["conv5_1"] == pytest.approx(1e3 / 512**2)
    assert o.stages == ((512, 500), (800, 200)) and o.size_side == "short"


def test_ratio_after_a_preset_replaces_its_style_weight():
    o = Options.build(preset="gatys2016", ratio=1e-4)
    assert o.style_weight == pytest.approx(1e4)


def test_unknown_preset_is_refused():
    with pytest.raises(PainterlyError, match="unknown preset 'gatys2017'"):
        Options.build(preset="gatys2017")


def test_default_options_are_the_painterly_preset_and_differ_from_the_paper_only_there():
    default, paper = Options(), Options.build(preset="gatys2016")
    assert default == Options.build(preset="painterly")
    assert default.stages == ((128, 200), (256, 200), (512, 100))
    assert paper.stages == ((512, 500),)
    differing = {
        f.name
        for f in dataclasses.fields(Options)
        if getattr(default, f.name) != getattr(paper, f.name)
    }
    assert differing == set(PAINTERLY)


@pytest.mark.parametrize("preset", sorted(set(PRESETS) - {"painterly"}))
def test_reference_presets_keep_their_published_schedule_and_padding(preset):
    # The defaults are coarse to fine with replicate padding; a reference setting must not
    # inherit them by leaving them out.
    o = Options.build(preset=preset)
    assert o.padding == "zeros" and o.style_loss == "gram" and o.jitter == 0
    assert isinstance(o.scales, tuple)
    assert o.stages == (o.scales or ((o.size, o.iterations),))


def test_stages_run_in_turn_and_report_one_continuous_count(content_image, style_image):
    reports: list[Progress] = []
    result = run(content_image, style_image, Options(scales=((32, 3), (48, 2))), reports.append)
    assert [p.iteration for p in reports] == [1, 2, 3, 4, 5]
    assert {p.total for p in reports} == {5}
    assert max(result.image.size) == 48 and result.iterations == 5
    # The second stage starts from the first stage's result, not from noise.
    assert reports[3].losses["total"] < reports[0].losses["total"]


def test_size_side_short_sets_the_short_side(content_image, style_image):
    result = run(content_image, style_image, Options(size=40, size_side="short", iterations=1))
    assert min(result.image.size) == 40 and max(result.image.size) > 40


def test_lbfgs_restart_changes_the_trajectory_but_not_the_count(content_image, style_image):
    def final(restart):
        r = run(content_image, style_image, Options(size=48, iterations=8, lbfgs_restart=restart))
        return r.iterations, r.losses["total"]

    (n0, loss0), (n2, loss2) = final(0), final(2)
    assert n0 == n2 == 8
    assert loss0 != loss2


def test_keras_preset_runs_with_the_keras_weights(content_image, style_image):
    result = run(
        content_image, style_image, Options.build(preset="keras-example", size=48, iterations=4)
    )
    assert result.image.size[1] == 48  # 400 px *rows* in the example: height is the size
    assert set(result.losses) == {"content", "style", "tv", "total"}
