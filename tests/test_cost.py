"""The estimate of a run's memory and time before it starts (painterly.engine.cost)."""

import pytest

import painterly
from painterly.commands import main
from painterly.config.options import Options
from painterly.engine import cost, tiles
from painterly.engine import plan as plans
from painterly.methods import plan_of

PROBE = cost.Probe(forward=1e-6, backward=3e-6)
"""A fixed probe, so the scaling is tested apart from this machine's speed."""


def _cost(content_image, style_image, **values):
    plan = plan_of(content_image, [style_image], Options.build(**values))
    tiles = cost.optimisation_tiles(plan) if plan.network.history else cost.pass_tiles(plan)
    return cost.estimate(plan, PROBE, tiles)


def test_time_and_memory_grow_with_the_size(content_image, style_image):
    small, large = (
        _cost(content_image, style_image, size=size, scales="none", iterations=10)
        for size in (256, 512)
    )
    assert large.memory > small.memory
    # The time follows the pixels: 4× at twice the side.
    assert large.seconds == pytest.approx(4 * small.seconds, rel=0.02)
    assert small.seconds == pytest.approx(10 * 256 * 192 * PROBE.backward, rel=1e-9)


def test_a_tiled_stage_costs_its_margins_and_saves_memory(content_image, style_image):
    whole = _cost(content_image, style_image, size=512, scales="none", iterations=10, tile="off")
    values = {"size": 512, "scales": "none", "iterations": 10, "tile": 256}
    one = _plan_stage(content_image, style_image, **values)
    # A budget with no room beside the stage's own need keeps one tile's graph; one with
    # room for more keeps every tile's (four here), and the estimate says what each costs.
    need = plans.tiled_need(one[0], one[1], 256)
    each = tiles.window_bytes((512, 384), 256, list(Options().layers), "conv5_1")
    tight = _cost(content_image, style_image, **values, max_memory=need)
    roomy = _cost(content_image, style_image, **values, max_memory=need + 2 * 3 * each)
    (w,), (t,), (r,) = whole.stages, tight.stages, roomy.stages
    assert w.tile is None and t.tile == r.tile == 256
    assert t.memory < w.memory and r.memory == t.memory + 3 * each
    # Four windows of 256 × 192 interiors with 80 px margins (cut at the image's edges),
    # in pass 2 each run forward and backward; in pass 1 forward, but for those kept.
    read = 4 * (256 + 80) * (192 + 80)
    assert t.seconds == pytest.approx(10 * read * (PROBE.forward * 3 / 4 + PROBE.backward))
    assert r.seconds == pytest.approx(10 * read * PROBE.backward, rel=1e-9)
    assert r.seconds > w.seconds


def _plan_stage(content_image, style_image, **values):
    plan = plan_of(content_image, [style_image], Options.build(**values))
    return plan, plan.stages[-1]


def test_a_one_pass_method_is_one_evaluation(content_image, style_image):
    (stage,) = _cost(content_image, style_image, method="adain", size=256).stages
    assert stage.evaluations == 1
    assert stage.seconds == pytest.approx(256 * 192 * PROBE.forward, rel=1e-9)


def test_the_api_probes_and_scales(content_image, style_image):
    estimate = painterly.estimate(content_image, style_image, size=128, scales="64:5,128:5")
    assert [s.output for s in estimate.stages] == [(64, 48), (128, 96)]
    assert estimate.probe.backward > estimate.probe.forward > 0
    assert estimate.stages[1].seconds > estimate.stages[0].seconds > 0
    assert "estimate: about" in estimate.summary() and "stage 2: 128×96" in estimate.table()


def test_the_cli_estimates_without_writing(image_files, tmp_path, capsys):
    content, style = image_files
    out = tmp_path / "out.png"
    argv = [str(content), str(style), "--scales", "64:5,128:5", "--estimate", "-o", str(out)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("stage 1: 64×48 whole, 5 evaluations:")
    assert lines[-1].startswith("estimate: about") and len(lines) == 3
    assert not out.exists() and list(tmp_path.iterdir()) == [*content.parent.iterdir()]


def test_the_cli_still_needs_an_output_to_run(image_files, capsys):
    content, style = image_files
    assert main([str(content), str(style)]) == 2
    assert "-o/--output" in capsys.readouterr().err


def test_durations_read_as_a_person_reads_them():
    assert [cost.duration(s) for s in (40, 720, 12000)] == ["40 s", "12 min", "3 h 20 min"]
