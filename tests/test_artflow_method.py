"""--method artflow through the options, the API, the command line and the studio, with a
model file as `painterly train artflow` writes it (a small flow) and with the shipped one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly.config.options import Options
from painterly.errors import PainterlyError
from painterly.models.artflow import ProjectionFlow
from painterly.train.store import save_flow


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A width-8 flow, ActNorm initialised on an image and every coupling active."""
    flow = ProjectionFlow(width=8, seed=4).train()
    flow(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for step in (s for block in flow.blocks for s in block):
            step.coupling.net[4].weight.normal_(std=0.02, generator=generator)
    path = tmp_path_factory.mktemp("model") / "flow.safetensors"
    save_flow(flow, path, {"iterations": "0"}, overwrite=False)
    return path


def _run(content, style, **values):
    return painterly.run(content, style, Options.build(method="artflow", **values)).image


def test_strength_zero_gives_the_photograph_back_through_the_flow(
    one_thread, model, content_image, style_image
):
    out = _run(content_image, style_image, artflow_model=str(model), size=64, strength=0)
    expected = content_image.resize(out.size, Image.Resampling.LANCZOS)
    difference = np.abs(np.asarray(out, float) - np.asarray(expected, float))
    assert difference.max() <= 1.0, "f⁻¹(f(c)) is c, up to the rounding to 8 bits"


def test_the_transfer_paints_and_the_transforms_differ(
    one_thread, model, content_image, style_image
):
    adain = _run(content_image, style_image, artflow_model=str(model), size=64)
    wct = _run(content_image, style_image, artflow_model=str(model), size=64, transform="wct")
    photo = np.asarray(content_image.resize(adain.size, Image.Resampling.LANCZOS), float)
    assert adain.size == (64, 48)
    assert np.abs(np.asarray(adain, float) - photo).mean() > 3.0
    assert np.abs(np.asarray(adain, float) - np.asarray(wct, float)).mean() > 1.0


def test_any_size_comes_back_at_its_own_size(one_thread, model, content_image, style_image):
    out = _run(content_image, style_image, artflow_model=str(model), size=50)
    assert out.size == (50, 38)  # 38 is no multiple of 4: padded, then cropped back


def test_auto_stylises_with_the_shipped_model(one_thread, content_image, style_image):
    out = _run(content_image, style_image, size=64)
    photo = np.asarray(content_image.resize(out.size, Image.Resampling.LANCZOS), float)
    assert out.size == (64, 48)
    assert np.abs(np.asarray(out, float) - photo).mean() > 3.0, "the shipped flow paints"


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """The shipped model copied to a folder the registry is pointed at, to be damaged."""
    from painterly.models import weights

    folder = tmp_path / "trained"
    folder.mkdir()
    copy = folder / weights.TRAINED["artflow"].file
    copy.write_bytes((weights.TRAINED_DIR / copy.name).read_bytes())
    monkeypatch.setattr(weights, "TRAINED_DIR", folder)
    return copy


def test_a_missing_or_damaged_shipped_model_is_refused_in_one_sentence(
    shipped_copy, content_image, style_image
):
    data = bytearray(shipped_copy.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    shipped_copy.write_bytes(bytes(data))
    with pytest.raises(PainterlyError, match="are damaged: their SHA-256 is not the registered"):
        _run(content_image, style_image, size=64)
    shipped_copy.unlink()
    with pytest.raises(PainterlyError, match="are missing .*; reinstall painterly"):
        _run(content_image, style_image, size=64)


def test_weights_list_shows_the_shipped_model_and_what_made_it(capsys, shipped_copy):
    from painterly.commands import main

    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert f"artflow            shipped at {shipped_copy} (SHA-256 checked)" in out
    assert "made: painterly train artflow --width" in out
    shipped_copy.write_bytes(b"")
    assert main(["weights", "list"]) == 0
    listed = capsys.readouterr().out
    assert "artflow            the artflow weights that ship with painterly" in listed


def test_a_damaged_model_file_is_refused_in_one_sentence(tmp_path, content_image, style_image):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    with pytest.raises(PainterlyError, match="cannot be read"):
        _run(content_image, style_image, artflow_model=str(broken), size=64)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"transform": "wct"}, "add --method artflow"),
        ({"method": "adain", "artflow_model": "x.safetensors"}, "add --method artflow"),
        ({"method": "artflow", "transform": "coral"}, "transform must be one of adain, wct"),
        ({"method": "artflow", "weights": "vgg19-keras"}, "uses no VGG-19 network"),
        ({"method": "artflow", "scales": "64:10"}, "--scales belongs to the optimisation"),
    ],
)
def test_options_that_do_not_fit_artflow_are_refused(values, words):
    with pytest.raises(PainterlyError, match=words):
        Options.build(**values)


def test_cli_stylises_with_a_model_file_and_refuses_a_missing_one(
    capsys, tmp_path, image_files, model, one_thread
):
    from painterly.commands import main

    out = tmp_path / "out.png"
    given = [*map(str, image_files), "-o", str(out), "--method", "artflow", "--size", "64"]
    code = main([*given, "--artflow-model", str(model), "--transform", "wct"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with Image.open(out) as image:
        assert image.size == (64, 48)
    missing = tmp_path / "missing.png"
    code = main([*given[:3], str(missing), *given[4:], "--artflow-model", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "does not exist or is not a file" in err, err
    assert not missing.exists()


def test_the_studio_offers_artflow_with_the_shipped_model_only(tmp_path):
    pytest.importorskip("fastapi")
    from painterly.studio.service import check_options

    assert check_options({"method": "artflow", "transform": "wct"}, 1).transform == "wct"
    with pytest.raises(PainterlyError, match="artflow_model must be one of auto"):
        check_options({"method": "artflow", "artflow_model": str(tmp_path / "m")}, 1)


def _leak(tmp_path, image_files, *flags):
    from painterly.commands import main

    out = tmp_path / "leak"
    given = [*map(str, image_files), "-o", str(out), "--size", "48", "--rounds", "2", "-q"]
    return main(["leak", *given, *flags]), out


def test_leak_with_float_rounds_gives_the_photograph_back_from_an_artflow_round_trip(
    capsys, tmp_path, image_files, model, one_thread
):
    code, out = _leak(
        tmp_path, image_files, "--method", "artflow", "--artflow-model", str(model),
        "--between", "float",
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "artflow-adain-float-leak.json").read_text())
    assert report["between"] == "float" and len(report["rounds"]) == 2
    # Exact in float: f⁻¹ undoes f, and AdaIN with the photograph's own statistics undoes
    # the first transfer; 8-bit images between the passes would lose that.
    assert report["round_trip"]["ssim"] > 0.999
    assert report["rounds"][0]["ssim"] < 0.99, "the transfer itself changes the image"


def test_leak_float_rounds_run_for_adain_and_are_refused_for_gatys(
    capsys, tmp_path, image_files, one_thread
):
    code, out = _leak(tmp_path, image_files, "--method", "adain", "--between", "float")
    assert code == 0, capsys.readouterr().err
    assert (out / "adain-float-leak.json").is_file() and not (out / "adain-leak.json").exists()
    code, _ = _leak(tmp_path / "g", image_files, "--between", "float")
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--between float needs a one-pass method" in err
