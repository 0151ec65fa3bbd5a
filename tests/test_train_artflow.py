"""Training ArtFlow's flow: resume is bit-exact (also after Ctrl-C), the loss falls, the model
file loads and inverts, the data order is a function of (seed, iteration), the losses are
the paper's, and every user mistake is one sentence. Tiny runs on generated images (width 8,
16-px crops, batch 2) with the genuine VGG-19."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from PIL import Image

from painterly.commands import main
from painterly.errors import Interrupted, PainterlyError
from painterly.models.artflow import InvertibleConv1x1, ProjectionFlow
from painterly.train.artflow import (
    TrainConfig,
    content_loss,
    load_flow,
    style_statistics_loss,
    train,
)
from painterly.train.data import crop_square, draw, image_folder, load_batch
from painterly.train.store import MODEL_FORMAT, TrainPaths, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def _write_images(folder, kind: str, count: int = 3) -> None:
    """Content: colour gradients with a little noise; style: coloured noise. Sides of 20 to
    28 px, so 16-px crops fall at different places."""
    folder.mkdir()
    rng = np.random.default_rng(len(kind))
    for k in range(count):
        h, w = 20 + 4 * k, 24
        if kind == "content":
            y, x = np.mgrid[0:h, 0:w] / max(h, w)
            pixels = np.stack([x, y, 1 - x * y], -1) * 0.8 + rng.uniform(0, 0.2, (h, w, 3))
            array = (pixels * 255).astype(np.uint8)
        else:
            array = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"{kind}-{k}.png")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _write_images(root / "content", "content")
    _write_images(root / "style", "style")
    return root / "content", root / "style"


def _config(folders, **changes) -> TrainConfig:
    settings = dict(
        width=8, crop=16, batch=2, iterations=4, learning_rate=1e-3, checkpoint_every=2,
        sample_every=2,
    )  # fmt: skip
    return TrainConfig(str(folders[0]), str(folders[1]), **(settings | changes))


def _weights(path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(path)


def _iterations(log) -> list[int]:
    return [json.loads(line)["iteration"] for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(folders, tmp_path_factory):
    """Four iterations straight through, with a copy of the checkpoint after two."""
    out = tmp_path_factory.mktemp("straight")
    kept = out / "after-2.ckpt"

    def keep_second(p) -> None:
        if p.iteration == 2:
            shutil.copy(out / "model.ckpt", kept)

    paths = train(_config(folders), out / "model.safetensors", progress=keep_second)
    return paths, kept


def test_two_iterations_from_a_checkpoint_after_two_equal_four_straight(
    straight, folders, tmp_path
):
    paths, after_two = straight
    resumed = TrainPaths.beside(tmp_path / "model.safetensors")
    # The log as a run that went on past the checkpoint left it: records 3 and 4 must go.
    shutil.copy(paths.log, resumed.log)
    train(_config(folders), resumed.model, resume=after_two)
    ours, theirs = _weights(resumed.model), _weights(paths.model)
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)
    assert _iterations(resumed.log) == [1, 2, 3, 4]
    # Same losses too, not only the same end: each iteration saw the same batch.
    for mine, straight_line in zip(
        resumed.log.read_text().splitlines(), paths.log.read_text().splitlines(), strict=True
    ):
        a, b = json.loads(mine), json.loads(straight_line)
        assert (a["total"], a["lr"]) == (b["total"], b["lr"])


def test_ctrl_c_keeps_a_checkpoint_and_a_model_of_the_last_iteration_and_resume_completes_it(
    straight, folders, tmp_path
):
    out = tmp_path / "model.safetensors"

    def stop_at_three(p) -> None:
        if p.iteration == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as stopped:
        train(_config(folders, checkpoint_every=0), out, progress=stop_at_three)
    # The progress report comes after iteration 3's step: the checkpoint holds iteration 3.
    assert stopped.value.iteration == 3
    paths = TrainPaths.beside(out)
    assert load_checkpoint(paths.checkpoint).iteration == 3
    with safetensors.safe_open(str(out), "pt") as file:
        assert file.metadata()["iterations"] == "3"
    train(_config(folders, checkpoint_every=0), out, resume=paths.checkpoint)
    theirs = _weights(straight[0].model)
    assert all(torch.equal(value, theirs[key]) for key, value in _weights(out).items())
    assert _iterations(paths.log) == [1, 2, 3, 4]


def test_a_short_run_lowers_the_loss(folders, tmp_path):
    config = _config(folders, iterations=20, checkpoint_every=0, sample_every=0)
    paths = train(config, tmp_path / "model.safetensors")
    totals = [json.loads(line)["total"] for line in paths.log.read_text().splitlines()]
    assert len(totals) == 20
    assert np.mean(totals[-5:]) < np.mean(totals[:5]) / 2


def test_the_model_file_loads_with_its_metadata_and_inverts_exactly(straight, folders):
    paths, _ = straight
    with safetensors.safe_open(str(paths.model), "pt") as file:
        metadata = file.metadata()
    assert metadata["format"] == MODEL_FORMAT
    assert metadata["iterations"] == "4"
    assert json.loads(metadata["config"])["width"] == 8
    assert metadata["content_dir"] == str(folders[0].resolve())
    flow = load_flow(paths.model)
    assert (flow.width, flow.blocks_count, flow.steps_count) == (8, 2, 8)
    assert not flow.training
    loaded = flow.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in _weights(paths.model).items())
    # Trained: the couplings, zero at the start, now shift, so the inverse has work to do.
    assert flow.blocks[0][0].coupling.net[4].weight.abs().sum() > 0
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        back = flow.reverse(flow(x))
    assert ((back - x).norm() / x.norm()).item() <= 1e-5


def test_a_sample_sheet_has_a_row_per_pair(straight):
    paths, _ = straight
    assert sorted(p.name for p in paths.samples.iterdir()) == [
        "iter-000002.png",
        "iter-000004.png",
    ]
    with Image.open(paths.sample(4)) as sheet:
        # Three 16-px columns (content, style, stylised) and three rows, 2 px apart.
        assert sheet.size == (3 * 18 - 2, 3 * 18 - 2)


def test_load_flow_refuses_missing_damaged_and_foreign_files(tmp_path):
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"not a safetensors file")
    foreign = tmp_path / "foreign.safetensors"
    safetensors.torch.save_file({"weight": torch.zeros(2)}, str(foreign))
    for path in (tmp_path / "missing.safetensors", damaged, foreign):
        with pytest.raises(PainterlyError) as refused:
            load_flow(path)
        assert "\n" not in str(refused.value)
        assert path.name in str(refused.value)


def test_the_data_order_depends_only_on_seed_and_iteration(folders):
    first = draw(0, 5, 2, 3, 3)
    for i in range(8):  # other iterations in between change nothing
        draw(0, i, 2, 3, 3)
    assert draw(0, 5, 2, 3, 3) == first
    assert draw(1, 5, 2, 3, 3) != first
    assert draw(0, 6, 2, 3, 3).content_at != first.content_at
    content, style = image_folder(folders[0], "content"), image_folder(folders[1], "style")
    a = load_batch(content, style, 0, 5, 2, 16)
    load_batch(content, style, 0, 2, 2, 16)
    b = load_batch(content, style, 0, 5, 2, 16)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert a[0].shape == a[1].shape == (2, 3, 16, 16)


def test_each_epoch_takes_every_image_once():
    # Three images, batches of two: iterations 0–2 are two whole passes.
    taken = [i for it in range(3) for i in draw(0, it, 2, 3, 3).content]
    assert sorted(taken[:3]) == sorted(taken[3:]) == [0, 1, 2]


def test_crops_fall_where_asked_and_small_images_are_enlarged_first():
    pixels = np.zeros((16, 24, 3), dtype=np.uint8)
    pixels[:, :, 0] = np.arange(24) * 10
    image = Image.fromarray(pixels)
    left = crop_square(image, 16, (0.0, 0.0))
    right = crop_square(image, 16, (0.999, 0.0))
    assert torch.equal(left[0, 0], torch.arange(16) * 10 / 255.0)
    assert torch.equal(right[0, 0], torch.arange(8, 24) * 10 / 255.0)
    # A short side of 16 under a crop of 32: enlarged to 32 × 48, then cropped.
    assert crop_square(image, 32, (0.5, 0.5)).shape == (3, 32, 32)


def test_style_statistics_loss_is_zero_only_for_equal_statistics():
    gen = torch.Generator().manual_seed(0)
    features = {"a": torch.randn(2, 4, 5, 5, generator=gen)}
    assert style_statistics_loss(features, features, ["a"]).item() == 0.0
    shifted = {"a": features["a"] + 1.0}
    scaled = {"a": features["a"] * 2.0}
    assert style_statistics_loss(features, shifted, ["a"]).item() > 0.0
    assert style_statistics_loss(features, scaled, ["a"]).item() > 0.0


def test_style_statistics_loss_by_hand():
    # Output channel [0, 2]: μ 1, σ √(1 + ε); style [1, 1]: μ 1, σ √ε (ε = 1e-5).
    output = {"a": torch.tensor([[[[0.0, 2.0]]]]), "b": torch.tensor([[[[3.0, 3.0]]]])}
    style = {"a": torch.tensor([[[[1.0, 1.0]]]]), "b": torch.tensor([[[[1.0, 1.0]]]])}
    want_a = (1.00001**0.5 - 0.00001**0.5) ** 2
    want_b = 2.0**2  # the means differ by 2, the deviations not at all
    got = style_statistics_loss(output, style, ["a", "b"]).item()
    assert got == pytest.approx(want_a + want_b, rel=1e-6)
    assert style_statistics_loss(output, style, ["a"]).item() == pytest.approx(want_a, rel=1e-6)


def test_content_loss_is_the_mean_squared_difference():
    assert content_loss(torch.tensor([1.0, 2.0]), torch.zeros(2)).item() == 2.5


def test_a_seed_gives_the_same_starting_flow_whatever_the_global_random_state():
    # Else a straight run and a resumed one (which loads its start) need not agree.
    torch.manual_seed(1)
    first = ProjectionFlow(8, seed=0).state_dict()
    torch.manual_seed(2)
    second = ProjectionFlow(8, seed=0).state_dict()
    assert all(torch.equal(value, second[key]) for key, value in first.items())
    other = ProjectionFlow(8, seed=1).state_dict()
    assert not torch.equal(
        first["blocks.0.0.coupling.net.0.weight"], other["blocks.0.0.coupling.net.0.weight"]
    )


def test_the_one_by_one_convolution_stays_float32_and_exact_under_bf16_autocast():
    layer = InvertibleConv1x1(12, torch.Generator().manual_seed(0))
    x = torch.randn(2, 12, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
        back = layer.reverse(y)
    assert y.dtype == back.dtype == torch.float32
    assert ((back - x).norm() / x.norm()).item() <= 1e-6


def test_a_bf16_step_keeps_the_flow_float32(folders, tmp_path):
    config = _config(folders, iterations=1, checkpoint_every=0, sample_every=0)
    paths = train(config, tmp_path / "model.safetensors", precision="bf16")
    assert all(v.dtype in (torch.float32, torch.bool) for v in _weights(paths.model).values())
    assert np.isfinite(json.loads(paths.log.read_text())["total"])


def test_a_resume_with_other_settings_is_refused(straight, folders, tmp_path):
    _, after_two = straight
    with pytest.raises(PainterlyError, match="--crop 16, not 20"):
        train(_config(folders, crop=20), tmp_path / "m.safetensors", resume=after_two)


@pytest.fixture()
def broken(tmp_path, folders):
    """A folder that does not exist, one without images, one with a damaged image."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    damaged = tmp_path / "damaged"
    shutil.copytree(folders[1], damaged)
    (damaged / "zz-broken.png").write_bytes(b"not an image")
    return {"missing": tmp_path / "missing", "empty": empty, "damaged": damaged}


@pytest.mark.parametrize(
    ("case", "words"),
    [("missing", "does not exist"), ("empty", "holds no images"), ("damaged", "zz-broken.png")],
)
def test_bad_style_folders_are_refused_before_anything_is_written(
    broken, folders, tmp_path, case, words
):
    out = tmp_path / "out" / "model.safetensors"
    out.parent.mkdir()
    config = TrainConfig(str(folders[0]), str(broken[case]), width=8, crop=16, batch=2)
    with pytest.raises(PainterlyError, match=words) as refused:
        train(config, out)
    assert "\n" not in str(refused.value)
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"crop": 18}, "multiple of 4"),
        ({"crop": 12}, "--crop"),
        ({"batch": 0}, "--batch"),
        ({"iterations": 0}, "--iterations"),
        ({"transform": "nope"}, "--transform"),
    ],
)
def test_bad_settings_are_one_sentence(folders, settings, words):
    with pytest.raises(PainterlyError, match=words) as refused:
        _config(folders, **settings)
    assert "\n" not in str(refused.value)


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("case", "flags", "words"),
    [
        ("missing", [], "does not exist"),
        ("damaged", [], "zz-broken.png"),
        ("ok", ["--crop", "18"], "multiple of 4"),
        ("ok", ["--iterations", "two"], "--iterations"),
    ],
)
def test_the_command_refuses_in_one_line_and_writes_nothing(
    capsys, broken, folders, tmp_path, case, flags, words
):
    style = folders[1] if case == "ok" else broken[case]
    out = tmp_path / "model.safetensors"
    code, stdout, err = _cli(
        capsys, "train", "artflow", "--content", folders[0], "--style", style, "-o", out, *flags
    )
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("painterly: error:"), err
    assert words in err and "Traceback" not in err
    assert stdout == ""
    assert not out.exists() and not out.with_suffix(".ckpt").exists()


def test_the_command_trains_and_refuses_to_overwrite_without_overwrite(capsys, folders, tmp_path):
    out = tmp_path / "model.safetensors"
    argv = ["train", "artflow", "--content", folders[0], "--style", folders[1], "-o", out]
    argv += ["--width", "8", "--crop", "16", "--batch", "2", "--iterations", "1", "-q"]
    code, stdout, err = _cli(capsys, *argv)
    assert (code, stdout.strip(), err) == (0, str(out), "")
    before = out.read_bytes()
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == before
    code, _, _ = _cli(capsys, *argv, "--overwrite")
    assert code == 0
