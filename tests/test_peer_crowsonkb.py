"""crowsonkb/style-transfer-pytorch as a benchmark peer: its weights, its setup, its command.

Nothing here builds the peer's environment or runs the peer; the folded weights are checked
against painterly's own preprocessing and conv1_1 on the real VGG-19.
"""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.peers import envs, runners
from benchmarks.peers.envs import (
    TORCHVISION_MEAN,
    TORCHVISION_STD,
    PeerSetupError,
    torchvision_folded_state_dict,
    torchvision_state_dict,
)
from benchmarks.peers.runners import PEERS, parse_loss_line, parse_scale_lines, run_crowsonkb
from painterly.models.vgg import CONV_NAMES


@pytest.fixture(scope="module")
def folded():
    return torchvision_folded_state_dict("vgg19-normalized")


def _normalize(x: torch.Tensor) -> torch.Tensor:
    """torchvision's ``transforms.Normalize`` with ImageNet's mean and std, as crowsonkb uses."""
    mean = torch.tensor(TORCHVISION_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(TORCHVISION_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _crowsonkb_conv1_1(state: dict[str, torch.Tensor]) -> nn.Conv2d:
    """conv1_1 as crowsonkb runs it: torchvision's layer with replicate padding."""
    conv = nn.Conv2d(3, 64, 3, padding=1, padding_mode="replicate")
    conv.load_state_dict({"weight": state["features.0.weight"], "bias": state["features.0.bias"]})
    return conv


def _painterly_conv1_1(vgg_state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """painterly's preprocessing then conv1_1, with replicate padding instead of zeros."""
    caffe = F.conv2d(x, vgg_state["preprocess.weight"], vgg_state["preprocess.bias"])
    padded = F.pad(caffe, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, vgg_state["conv1_1.weight"], vgg_state["conv1_1.bias"])


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max())


def test_folded_conv1_1_on_normalised_input_equals_painterlys_on_raw_input(folded, vgg_state):
    x = torch.rand(2, 3, 23, 31, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = _crowsonkb_conv1_1(folded)(_normalize(x))
    want = _painterly_conv1_1(vgg_state, x)
    # Replicate padding commutes with the per-pixel affine maps: exact on the border too.
    assert _relative_error(got, want) < 1e-4
    assert _relative_error(got[..., 0, :], want[..., 0, :]) < 1e-4


@pytest.mark.parametrize(
    "unfolded", [("TORCHVISION_STD", (1.0, 1.0, 1.0)), ("TORCHVISION_MEAN", (0.0, 0.0, 0.0))]
)
def test_a_fold_that_leaves_out_the_std_or_the_mean_fails_the_comparison(
    unfolded, vgg_state, monkeypatch
):
    # Folding with σ = 1 (or μ = 0) is folding without it: the peer's Normalize still
    # applies it, so the network no longer computes painterly's conv1_1.
    monkeypatch.setattr(envs, *unfolded)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = _crowsonkb_conv1_1(torchvision_folded_state_dict("vgg19-normalized"))(_normalize(x))
    assert _relative_error(got, _painterly_conv1_1(vgg_state, x)) > 0.05


def test_only_conv1_1_is_changed_by_folding(folded):
    plain = torchvision_state_dict("vgg19-normalized")
    assert folded.keys() == plain.keys() and len(folded) == 2 * len(CONV_NAMES)
    assert not torch.allclose(folded["features.0.weight"], plain["features.0.weight"])
    assert not torch.allclose(folded["features.0.bias"], plain["features.0.bias"])
    for key in plain.keys() - {"features.0.weight", "features.0.bias"}:
        assert torch.equal(folded[key], plain[key]), key
        assert folded[key].dtype == torch.float32


def test_a_missing_snapshot_is_a_setup_error_and_the_run_is_not_run(tmp_path, monkeypatch):
    monkeypatch.setattr(envs, "bench_root", lambda: tmp_path)
    missing = tmp_path / "no-such-repo"
    monkeypatch.setitem(envs.FROM_GIT, "crowsonkb", (missing, envs.CROWSONKB_COMMIT))
    with pytest.raises(PeerSetupError, match="snapshot of crowsonkb's repository is missing"):
        envs.venv_python("crowsonkb")
    # Nothing was built before the snapshot was found missing.
    assert not (tmp_path / "bench-venvs").exists()
    record = run_crowsonkb(tmp_path / "c.png", tmp_path / "s.png", 64, tmp_path / "out.png")
    assert record["status"] == "not run" and "missing" in record["reason"]


def test_run_crowsonkb_scales_both_iteration_counts_and_keeps_at_least_one(tmp_path, monkeypatch):
    def fail_setup(peer):
        raise PeerSetupError("no environment here")

    monkeypatch.setattr(runners, "venv_python", fail_setup)
    record = run_crowsonkb(tmp_path / "c", tmp_path / "s", 256, tmp_path / "o", 0.2)
    assert (record["iterations"], record["initial_iterations"]) == (100, 200)
    record = run_crowsonkb(tmp_path / "c", tmp_path / "s", 256, tmp_path / "o", 1e-4)
    assert (record["iterations"], record["initial_iterations"]) == (1, 1)
    assert record["status"] == "not run"


def test_the_harness_command_gives_crowsonkbs_first_scale_twice_the_iterations(tmp_path):
    peer = PEERS["crowsonkb"]
    assert peer.default_iterations == 500 and peer.weights_file is envs.folded_weights_file
    assert envs.CROWSONKB_COMMIT[:12] in peer.settings
    argv = peer.command(tmp_path / "py", tmp_path / "c", tmp_path / "s", tmp_path / "w", 256, 30,
                        tmp_path)  # fmt: skip
    flags = dict(zip(argv[4::2], argv[5::2], strict=True))
    assert argv[1].endswith("crowsonkb_main.py")
    assert flags == {
        "--weights": str(tmp_path / "w"),
        "--end-scale": "256",
        "--iterations": "30",
        "--initial-iterations": "60",
        "--output": str(tmp_path / "out.png"),
    }


def test_scale_lines_are_read_in_order_and_loss_lines_are_not_scales():
    lines = ["Processing content image (128x96)...", "SCALE 128 96 1000", "SCALE 181 136 500"]
    assert parse_scale_lines(lines) == [
        {"width": 128, "height": 96, "iterations": 1000},
        {"width": 181, "height": 136, "iterations": 500},
    ]
    assert parse_scale_lines(["LOSS 1.5"]) == []
    assert parse_loss_line("SCALE 128 96 1000") is None
