"""Options: parsing, validation and the α/β ratio."""

import math

import pytest

from painterly.config.options import Options, parse_layers
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
