"""Options: parsing, validation and the α/β ratio."""

import math

import pytest

from painterly.config.options import Options, parse_layers
from painterly.config.presets import PRESETS
from painterly.errors import PainterlyError


def test_defaults_are_the_papers_layers_and_pooling():
    o = Options()
    assert o.content_layers == {"conv4_2": 1.0}
    assert o.style_layers == {f"conv{i}_1": 0.2 for i in range(1, 6)}
    assert o.pooling == "avg" and o.init == "noise" and o.optimizer == "lbfgs"


def test_unweighted_style_layers_share_weight_equally_and_explicit_weights_stay():
    assert parse_layers("conv1_1,conv2_1", "equal") == {"conv1_1": 0.5, "conv2_1": 0.5}
    assert parse_layers("conv1_1:0.2, relu2_1:3", "equal") == {"conv1_1": 0.2, "conv2_1": 3.0}
    assert parse_layers("conv3_2,conv4_2", "one") == {"conv3_2": 1.0, "conv4_2": 1.0}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("style_layers", "conv9_9", "unknown layer"),
        ("content_layers", "conv4_2:-1", "at least 0"),
        ("style_layers", "conv1_1:abc", "must be a number"),
        ("style_weight", "-5", "at least 0"),
        ("content_weight", "nan", "finite"),
        ("iterations", "0", "whole number"),
        ("iterations", "1.5", "whole number"),
        ("size", "ten", "whole number"),
        ("pooling", "median", "one of avg, max"),
        ("device", "tpu", "device"),
        ("style_scale", "0", "greater than 0"),
    ],
)
def test_bad_values_are_rejected_with_a_sentence(field, value, words):
    with pytest.raises(PainterlyError, match=words):
        Options.build(**{field: value})


def test_text_values_are_converted_like_the_cli_gives_them():
    o = Options.build(size="256", iterations="30", style_weight="1e4", seed="7")
    assert (o.size, o.iterations, o.style_weight, o.seed) == (256, 30, 1e4, 7)


def test_ratio_sets_beta_from_alpha():
    o = Options.build(content_weight=2.0, ratio=1e-3)
    assert o.style_weight == pytest.approx(2000.0)
    assert o.ratio == pytest.approx(1e-3)
    assert Options(style_weight=0).ratio == math.inf


def test_ratio_and_style_weight_together_are_refused():
    with pytest.raises(PainterlyError, match="not both"):
        Options.build(style_weight=10, ratio=1e-3)


def test_unknown_option_name_is_refused():
    with pytest.raises(PainterlyError, match="unknown option 'style_wieght'"):
        Options.build(style_wieght=1)


def test_replace_with_ratio_recomputes_beta():
    o = Options.build(style_weight=5.0).replace(ratio=0.5)
    assert o.style_weight == 2.0


@pytest.mark.parametrize(
    ("size", "iterations", "stages"),
    [
        (64, 30, ((64, 30),)),
        (255, 40, ((255, 40),)),
        (256, 300, ((128, 240), (256, 60))),
        (1024, 500, ((256, 200), (512, 200), (1024, 100))),
        (2048, 7, ((512, 3), (1024, 3), (2048, 1))),
    ],
)
def test_auto_scales_end_at_the_size_and_spend_the_whole_budget(size, iterations, stages):
    options = Options(size=size, iterations=iterations, scales="auto")
    assert options.stages == stages
    assert sum(n for _, n in options.stages) == iterations


def test_scales_none_means_one_stage_and_explicit_stages_are_kept():
    assert Options(scales="none", size=512).stages == Options(size=512).stages == ((512, 500),)
    assert Options(scales="300:10,600:5").stages == ((300, 10), (600, 5))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_ratio_after_any_preset_replaces_its_style_weight(preset):
    alpha = PRESETS[preset]["content_weight"]
    o = Options.build(preset=preset, ratio=1e-2)
    assert o.style_weight == pytest.approx(alpha / 1e-2)
    assert o.ratio == pytest.approx(1e-2)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_strength_after_any_preset_replaces_its_style_weight(preset):
    o = Options.build(preset=preset, strength=0.3)
    assert o.strength == 0.3
    assert o.style_weight == Options().style_weight  # the preset's β is not kept aside
    assert o.content_weight == PRESETS[preset]["content_weight"]  # α is no part of the balance


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        (
            {"strength": 0.3, "ratio": 1e-3},
            "--strength chooses α/β for the image pair; give it or --ratio, not both",
        ),
        (
            {"strength": 0.3, "style_weight": 10},
            "--strength chooses α/β for the image pair; give it or --style-weight, not both",
        ),
        (
            {"style_weight": 10, "ratio": 1e-3},
            "give either the style weight or the ratio α/β, not both",
        ),
    ],
)
def test_two_explicit_ways_of_setting_beta_are_refused_with_a_sentence(values, sentence):
    for preset in (None, *PRESETS):
        with pytest.raises(PainterlyError) as refused:
            Options.build(preset=preset, **values)
        assert str(refused.value) == sentence
    with pytest.raises(PainterlyError) as refused:
        Options.build(strength=0.5).replace(**values)
    assert str(refused.value) == sentence


def test_replace_with_a_style_weight_drops_the_strength():
    o = Options.build(strength=0.3).replace(style_weight=5.0)
    assert (o.strength, o.style_weight) == (None, 5.0)


def test_replace_with_a_strength_on_options_with_a_style_weight_works():
    o = Options.build(style_weight=5.0).replace(strength=0.4)
    assert o.strength == 0.4
    assert o.style_weight == Options().style_weight


def test_replace_of_other_options_keeps_the_balance_and_the_schedule():
    weighted = Options.build(preset="gatys-notebook", ratio=1e-2).replace(seed=3, size_side="long")
    assert weighted.style_weight == pytest.approx(100.0) and weighted.strength is None
    assert weighted.stages == ((512, 500), (800, 200))
    strong = Options.build(strength=0.3, scales="auto").replace(iterations=50)
    assert strong.strength == 0.3 and strong.stages == ((128, 20), (256, 20), (512, 10))


def test_replace_takes_option_values_not_a_preset():
    with pytest.raises(PainterlyError, match="unknown option 'preset'"):
        Options().replace(preset="gatys2016")
