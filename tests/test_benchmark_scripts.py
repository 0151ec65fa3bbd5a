"""The print-size and video benchmark scripts, run end to end at tiny settings: each writes
its records as it goes and what it reports is computed from the files it made. (Their
figures come from full runs: docs/huge.md, docs/video.md.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import batch, huge, video

pytestmark = pytest.mark.usefixtures("one_thread")


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_huge_records_the_estimate_each_stage_and_the_seams_of_a_tiled_run(tmp_path):
    argv = ["--name", "tiny", "--size", "256", "--scales", "none", "--tile", "128",
            "--option", "iterations=3", "--out", str(tmp_path)]  # fmt: skip
    assert huge.main(argv) == 0
    kinds = [r["kind"] for r in _records(tmp_path / "huge.jsonl")]
    assert kinds == ["machine", "estimate", "stage", "result"]
    result = _records(tmp_path / "huge.jsonl")[-1]
    assert result["output"] == [256, 192]
    assert result["border_columns"] == [128] and result["border_rows"] == [96]
    assert 0.5 < result["seams"]["columns"] < 2.0  # a ratio of steps, not a raw step


def test_video_measures_per_frame_against_consistent_on_the_clip_it_made(tmp_path):
    argv = ["--out", str(tmp_path), "--frames", "4", "--size", "64", "--methods", "adain",
            "--figures", str(tmp_path / "fig")]  # fmt: skip
    assert video.main(argv) == 0
    clips = {r["mode"]: r for r in _records(tmp_path / "video.jsonl") if r["kind"] == "clip"}
    assert set(clips) == {"per-frame", "consistent"}
    assert clips["consistent"]["warping_error"] < clips["per-frame"]["warping_error"]
    inputs = video.decoded(tmp_path / "pan.mp4")
    outputs = video.decoded(tmp_path / "adain-consistent.mp4")
    assert len(inputs) == len(outputs) == 4
    assert clips["consistent"]["warping_error"] == pytest.approx(
        video.warping_error(inputs, outputs), abs=1e-3
    )
    assert video.warping_error(inputs, inputs) < clips["per-frame"]["warping_error"]
    assert (tmp_path / "fig" / "video-adain.webp").stat().st_size <= 300_000


def test_detail_is_zero_for_a_flat_frame_and_grows_with_texture():
    flat = np.full((16, 16, 3), 128, np.uint8)
    stripes = flat.copy()
    stripes[:, ::2] = 0
    assert video.detail([flat]) == 0.0
    assert video.detail([stripes]) > 10


def test_batch_times_single_runs_against_one_batch_of_the_same_items(tmp_path):
    argv = ["--out", str(tmp_path), "--contents", "1", "--styles", "2", "--size", "64"]
    assert batch.main(argv) == 0
    records = {r["kind"]: r for r in _records(tmp_path / "batch.jsonl")}
    assert records["machine"]["items"] == 2 and records["machine"]["cpu"]
    single, local = records["single"], records["local"]
    assert local["throughput_vs_single"] == pytest.approx(
        single["seconds"] / local["seconds"], rel=0.01
    )
    assert sorted(p.name for p in (tmp_path / "local").glob("*.png")) == [
        "tubingen--starry_night.png",
        "tubingen--the_scream.png",
    ]
