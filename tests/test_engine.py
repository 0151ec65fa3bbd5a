"""The engine: one plan resolved once, a session every run loops over, progress that says
where it is, cancellation by a token; and that the sweep and the strength pilots are runs of
that same engine, bit for bit, under fp32 and under bf16 alike."""

import contextlib
import io
import shlex
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly import Cancel, Interrupted, Options
from painterly.commands import main
from painterly.controls.inputs import prepare_inputs
from painterly.engine import runtime, session
from painterly.engine.plan import resolve
from painterly.errors import PainterlyError
from painterly.methods import feedforward, gatys
from painterly.report import sweep

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(params=["fp32", "bf16"])
def native(request, monkeypatch):
    """Runs a test as on a CPU without (fp32) and with (bf16) native bf16: ``auto`` follows."""
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: request.param == "bf16")
    return torch.bfloat16 if request.param == "bf16" else torch.float32


def _plan(content, style, **values):
    options = Options.build(**values)
    inputs = prepare_inputs(content, [style], options)
    return resolve(options, inputs, gatys.network(options)), inputs


def test_the_plan_resolves_precision_from_the_cpu_once_for_every_stage(
    native, content_image, style_image
):
    plan, _ = _plan(content_image, style_image, scales="32:3,64:2", device="cpu")
    assert plan.dtype is native
    assert [(s.index, s.size, s.iterations) for s in plan.stages] == [(0, 32, 3), (1, 64, 2)]
    assert [s.output for s in plan.stages] == [(32, 24), (64, 48)]
    assert plan.total == 5 and plan.last_layer == "conv5_1"
    explicit, _ = _plan(content_image, style_image, size=32, precision="fp32")
    assert explicit.dtype is torch.float32


def test_plan_stages_follow_the_size_side_and_style_scale(content_image, style_image):
    plan, _ = _plan(
        content_image, style_image, size=30, size_side="short", style_scale=2, iterations=1
    )
    (stage,) = plan.stages
    assert stage.output == (40, 30)
    assert max(stage.styles[0]) == 80  # the style's long side: output's long side × 2


def test_the_memory_advice_names_the_schedules_own_knob(monkeypatch, content_image, style_image):
    monkeypatch.setattr(runtime, "available_bytes", lambda device: 10**8)
    # Untiled (with tiles, 0.1 GiB is too little for any size these images allow).
    with pytest.raises(PainterlyError, match=r"is about --size \d+$"):
        _plan(content_image, style_image, size=1024, tile="off")
    with pytest.raises(PainterlyError, match=r"largest stage that fits .* lower it in --scales"):
        _plan(content_image, style_image, scales="256:10,1024:5", tile="off")


def test_progress_carries_the_stage_beside_the_global_count(content_image, style_image):
    seen = []
    result = painterly.run(
        content_image,
        style_image,
        Options.build(scales="32:2,48:2", optimizer="adam"),
        lambda p: seen.append(
            (p.iteration, p.total, p.stage, p.stages, p.stage_size, p.stage_iteration)
        ),
    )
    assert seen == [
        (1, 4, 0, 2, (32, 24), 1),
        (2, 4, 0, 2, (32, 24), 2),
        (3, 4, 1, 2, (48, 36), 1),
        (4, 4, 1, 2, (48, 36), 2),
    ]
    assert result.iterations == 4 and result.image.size == (48, 36)


def test_a_cancel_token_stops_the_run_with_the_best_image_as_a_pil_image(
    content_image, style_image
):
    cancel = Cancel()

    def stop_at_three(p):
        if p.iteration == 3:
            cancel.set()

    with pytest.raises(Interrupted) as stopped:
        painterly.run(
            content_image, style_image, Options(size=32, iterations=50), stop_at_three, cancel
        )
    assert stopped.value.iteration == 3
    assert isinstance(stopped.value.best, Image.Image) and stopped.value.best.size == (32, 24)
    assert cancel.reason == "cancelled"


def test_a_cancel_from_another_thread_before_the_start_stops_before_any_evaluation(
    content_image, style_image
):
    cancel = Cancel()
    setter = threading.Thread(target=cancel.set, args=("shutting down",))
    setter.start()
    setter.join()
    for method in ("gatys", "adain"):
        with pytest.raises(Interrupted) as stopped:
            painterly.run(content_image, style_image, Options(method=method, size=32), None, cancel)
        assert stopped.value.iteration == 0
    assert cancel.reason == "shutting down"


def test_a_cancel_during_the_strength_pilots_has_no_image_to_keep(content_image, style_image):
    cancel = Cancel()
    cancel.set()
    with pytest.raises(Interrupted) as stopped:
        painterly.run(content_image, style_image, Options(size=32, strength=0.5), None, cancel)
    assert stopped.value.best is None


def test_targets_are_computed_once_per_size_for_the_pilots_and_the_run(
    monkeypatch, content_image, style_image
):
    calls = []
    real = session.compute_targets
    monkeypatch.setattr(
        session,
        "compute_targets",
        lambda *a, **k: calls.append(a[2]) or real(*a, **k),
    )
    painterly.run(
        content_image, style_image, Options(size=32, iterations=2, strength=0.5, init="content")
    )
    # Pilots and run share one size here (the pilot size is capped at the run's): one set.
    assert calls == [(32, 24)]


def test_init_adain_runs_on_the_plans_precision(native, monkeypatch, content_image, style_image):
    seen = []
    real = feedforward.transfer_inputs
    monkeypatch.setattr(
        feedforward,
        "transfer_inputs",
        lambda inputs, plan, *a: seen.append(plan.dtype) or real(inputs, plan, *a),
    )
    painterly.run(content_image, style_image, Options(size=32, iterations=1, init="adain"))
    assert seen == [native]


def _main(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_a_sweep_cell_is_its_printed_command_bit_for_bit(native, tmp_path, image_files):
    """Under fp32 and under the bf16 that ``auto`` picks on a CPU with native bf16."""
    content, style = image_files
    options = Options.build(seed=3, init="content")
    cells = sweep.plan(ratios=[1e-2], layer_sets=["conv1_1,conv2_1"])
    images = sweep.sweep(Image.open(content), [Image.open(style)], options, cells, 32, 2)
    out = tmp_path / "grid.png"
    given = ["--seed", "3", "--init", "content", "--size", "32", "--iterations", "2"]
    command = sweep.full_size_command([str(content), str(style)], given, cells[0], out)
    code, _, err = _main(*shlex.split(command)[1:], "-q")
    assert code == 0, err
    cell = np.asarray(Image.open(tmp_path / "grid-A1.png"))
    assert np.array_equal(cell, np.asarray(images["A1"]))
    # The run is not trivially the start: two evaluations moved the pixels.
    start = np.asarray(Image.open(content).convert("RGB").resize((32, 24), Image.LANCZOS))
    assert np.abs(cell.astype(int) - start).max() > 0
