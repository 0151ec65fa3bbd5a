"""Tiled optimisation (painterly.engine.tiling, engine.tiles): the whole image's loss and
gradient, a tile at a time, with the real VGG-19."""

import pytest
import torch
from PIL import Image

import painterly
from painterly.commands import main
from painterly.config.options import Options
from painterly.controls.inputs import prepare_inputs
from painterly.engine import plan as plans
from painterly.engine import tiles
from painterly.engine.objective import Objective
from painterly.engine.targets import compute_targets
from painterly.engine.tiling import TiledObjective
from painterly.errors import PainterlyError
from painterly.methods.gatys import network
from painterly.models import load_encoder
from painterly.models.vgg import layer_stride

CPU = torch.device("cpu")
SIZE = (128, 96)  # width, height


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("vgg19-normalized", "avg", "replicate1", "conv5_1", CPU)


def _targets(encoder, content, style, options, tile=None):
    inputs = prepare_inputs(content, [style], options)
    return compute_targets(
        encoder, inputs, SIZE, [(128, 101)], list(options.content_layers),
        list(options.style_layers), CPU, torch.float32, style_loss="gram", seed=0, tile=tile,
    )  # fmt: skip


def _loss_and_gradient(objective, image):
    x = image.clone().requires_grad_(True)
    terms = objective(x)
    terms["total"].backward()
    return {name: t.item() for name, t in terms.items()}, x.grad


@pytest.mark.parametrize("convention", ["calibrated", "paper", "neural-style"])
def test_tiled_loss_and_gradient_equal_the_untiled_ones(
    encoder, content_image, style_image, convention, one_thread
):
    options = Options(loss_convention=convention, tv_weight=1e-3)
    targets = _targets(encoder, content_image, style_image, options)
    image = torch.rand(1, 3, SIZE[1], SIZE[0], generator=torch.Generator().manual_seed(1))
    whole, grad = _loss_and_gradient(Objective(encoder, targets, options, torch.float32), image)
    for tile, kept in ((32, 1), (48, 3), (80, 99)):  # kept: one graph, some, every tile's
        tiled = TiledObjective(encoder, targets, options, torch.float32, tile, kept)
        assert len(tiles.windows(SIZE[1], SIZE[0], tile, list(options.layers))) > 3
        for _ in range(2):  # two evaluations: two random shifts of the grid
            losses, tiled_grad = _loss_and_gradient(tiled, image)
            for name, value in whole.items():
                assert losses[name] == pytest.approx(value, rel=1e-5), (tile, name)
            torch.testing.assert_close(tiled_grad, grad, rtol=1e-4, atol=1e-5 * grad.abs().max())


def test_tiled_guided_style_loss_equals_the_untiled_one(
    encoder, content_image, style_image, tmp_path
):
    mask = Image.new("L", content_image.size, 0)
    mask.paste(255, (0, 0, content_image.size[0] // 2, content_image.size[1]))
    mask.save(tmp_path / "mask.png")
    style_image.save(tmp_path / "style.png")
    options = Options(masks=[f"{tmp_path / 'mask.png'}:{tmp_path / 'style.png'}"])
    inputs = prepare_inputs(content_image, [], options)
    targets = compute_targets(
        encoder, inputs, SIZE, [(128, 101)], ["conv4_2"], list(options.style_layers), CPU,
        torch.float32, style_loss="gram", seed=0,
    )  # fmt: skip
    assert targets.styles[0].guides is not None
    image = torch.rand(1, 3, SIZE[1], SIZE[0], generator=torch.Generator().manual_seed(2))
    whole, grad = _loss_and_gradient(Objective(encoder, targets, options, torch.float32), image)
    for kept in (1, 2):
        tiled, tiled_grad = _loss_and_gradient(
            TiledObjective(encoder, targets, options, torch.float32, 48, kept), image
        )
        assert tiled["style"] == pytest.approx(whole["style"], rel=1e-5)
        torch.testing.assert_close(tiled_grad, grad, rtol=1e-4, atol=1e-5 * grad.abs().max())


def test_grams_from_partial_sums_equal_the_whole_images(encoder, content_image):
    from painterly.engine.losses import gram_matrix
    from painterly.io.images import to_tensor

    image = to_tensor(content_image.resize(SIZE))
    layers = ["conv1_1", "conv3_1", "conv5_1"]
    with torch.no_grad():
        whole = encoder(image, layers)
    for tile in (32, 64):
        grams = tiles.tiled_gram(encoder, image, layers, tile, torch.float32)
        content = tiles.tiled_content(encoder, image, layers, tile, torch.float32)
        for name in layers:
            torch.testing.assert_close(grams[name], gram_matrix(whole[name]), rtol=1e-4, atol=1e-2)
            torch.testing.assert_close(content[name], whole[name], rtol=1e-4, atol=1e-4)


def test_the_margin_is_the_deepest_layers_reach_in_whole_strides(encoder, content_image):
    assert tiles.margin(["conv1_1"]) == 1
    assert tiles.layer_reach("conv4_2") == 38 and tiles.layer_reach("conv5_1") == 70
    assert tiles.margin(["conv1_1", "conv4_2"]) == 40
    assert tiles.margin(["conv4_2", "conv5_1"]) == 80
    assert tiles.alignment(["conv1_1", "pool5"]) == 32
    # The reach is enough, and less is not: features read with a margin one stride short of
    # it differ from the whole image's near the tile's border.
    from painterly.io.images import to_tensor

    image = to_tensor(content_image.resize(SIZE))
    with torch.no_grad():
        whole = encoder(image, ["conv4_2"])["conv4_2"]
    stride = layer_stride("conv4_2")
    for edge, exact in ((40, True), (32, False)):
        window = tiles.Window(0, 48, 0, 64, edge, SIZE[1], SIZE[0])
        with torch.no_grad():
            part = encoder(image[..., window.rows, window.columns], ["conv4_2"])["conv4_2"]
        inner = part[(..., *window.interior(stride))]
        same = torch.allclose(inner, whole[(..., *window.positions(stride))], atol=1e-4)
        assert same is exact, edge


def test_tile_interiors_partition_the_image_on_the_alignment():
    layers = ["conv1_1", "conv5_1"]
    for shift in ((0.0, 0.0), (1.0, -1.0), (0.37, 0.81)):
        grid = tiles.windows(1000, 1500, 512, layers, shift)
        covered = torch.zeros(1000, 1500, dtype=torch.int32)
        for w in grid:
            covered[w.top : w.bottom, w.left : w.right] += 1
            assert w.bottom - w.top <= 512 and w.right - w.left <= 512
            assert w.top % 16 == 0 and w.left % 16 == 0
        assert torch.all(covered == 1)
        assert len(grid) == 2 * 3  # the fewest tiles, whatever the shift


def test_memory_estimate_grows_with_the_tile():
    layers = ["conv1_1", "conv4_2", "conv5_1"]
    needs = [
        tiles.tiled_bytes((4096, 3072), tile, layers, "conv5_1", ["conv4_2"], 8)
        for tile in (128, 256, 512, 1024, 2048)
    ]
    assert needs == sorted(needs) and needs[0] < needs[-1]
    free = needs[2]
    assert tiles.best_tile((4096, 3072), layers, "conv5_1", ["conv4_2"], 8, free) in range(
        512, 1024
    )
    assert tiles.best_tile((4096, 3072), layers, "conv5_1", ["conv4_2"], 8, 2**20) is None


@pytest.mark.parametrize("value", [0, 100, -5, "big", 1.5, True, 70000])
def test_bad_tile_values_are_refused_in_one_sentence(value):
    with pytest.raises(PainterlyError, match="^tile must") as error:
        Options(tile=value)
    assert "\n" not in str(error.value)


def test_cli_refuses_a_bad_tile(image_files, tmp_path, capsys):
    content, style = image_files
    out = tmp_path / "out.png"
    assert main([str(content), str(style), "-o", str(out), "--tile", "64"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "tile" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "value, expected",
    [("auto", "auto"), ("6GiB", 6 * 2**30), ("6g", 6 * 2**30), (" 6 GB ", 6 * 10**9),
     ("1500MiB", 1500 * 2**20), ("0.5T", 2**39), (2**30, 2**30), ("268435456", 2**28)],
)  # fmt: skip
def test_max_memory_reads_sizes_with_units(value, expected):
    assert Options(max_memory=value).max_memory == expected


@pytest.mark.parametrize("value", ["big", "6 parsecs", "-1G", "1K", "2PiB", True, 1.5, "G", ""])
def test_bad_max_memory_values_are_refused_in_one_sentence(value):
    with pytest.raises(PainterlyError, match="^max memory must") as error:
        Options(max_memory=value)
    assert "\n" not in str(error.value)


def test_max_memory_bounds_what_the_plan_uses(content_image, style_image):
    (style,) = _plan(content_image, style_image, size=1024, scales="none").stages[-1].styles
    history = plans.tiled_history(Options())
    need = tiles.tiled_bytes(
        (1024, 768), 512, list(Options().layers), "conv5_1", ["conv4_2"], history, style
    )
    stage = _plan(content_image, style_image, size=1024, scales="none", max_memory=need).stages[0]
    assert stage.tile is not None and 512 <= stage.tile < 1024 and stage.kept == 1
    with pytest.raises(PainterlyError, match="allowed by --max-memory; lower --tile") as error:
        _plan(content_image, style_image, size=1024, scales="none", tile=1000, max_memory=need)
    assert "\n" not in str(error.value)
    with pytest.raises(PainterlyError, match="allowed by --max-memory even in 128-px tiles.*"
                       "; raise --max-memory$"):  # fmt: skip
        _plan(content_image, style_image, size=1024, scales="none", max_memory="300MiB")


def test_cli_refuses_a_run_over_max_memory(image_files, tmp_path, capsys):
    content, style = image_files
    out = tmp_path / "out.png"
    argv = [str(content), str(style), "-o", str(out), "--size", "4000", "--max-memory", "1G",
            "--tile", "off"]  # fmt: skip
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "allowed by --max-memory" in err and "Traceback" not in err
    assert not out.exists()


def _plan(content_image, style_image, **values):
    options = Options.build(**values)
    inputs = prepare_inputs(content_image, [style_image], options)
    return plans.resolve(options, inputs, network(options))


def test_a_given_tile_tiles_only_the_stages_larger_than_it(content_image, style_image):
    plan = _plan(content_image, style_image, scales="128:5,256:5", tile=192)
    assert [stage.tile for stage in plan.stages] == [None, 192]
    assert all(stage.tile is None for stage in _plan(content_image, style_image).stages)


def test_auto_tiles_a_stage_only_when_it_would_not_fit(content_image, style_image, monkeypatch):
    assert _plan(content_image, style_image, size=1024).stages[-1].tile is None
    (style,) = _plan(content_image, style_image, size=1024, scales="none").stages[-1].styles
    history = plans.tiled_history(Options())
    need = tiles.tiled_bytes(
        (1024, 768), 512, list(Options().layers), "conv5_1", ["conv4_2"], history, style
    )
    from painterly.engine import runtime

    monkeypatch.setattr(runtime, "available_bytes", lambda device: need)
    plan = _plan(content_image, style_image, size=1024, scales="none")
    assert plan.stages[-1].tile is not None and 512 <= plan.stages[-1].tile < 1024
    with pytest.raises(PainterlyError, match="largest size that fits"):
        _plan(content_image, style_image, size=1024, scales="none", tile="off")


@pytest.mark.parametrize(
    "values, flag",
    [({"jitter": 2}, "--jitter"), ({"style_loss": "sliced"}, "--style-loss sliced")],
)
def test_what_needs_the_whole_image_is_refused_when_tiled(content_image, style_image, values, flag):
    with pytest.raises(PainterlyError, match=flag):
        _plan(content_image, style_image, size=256, tile=128, **values)


def test_a_tiled_run_lowers_the_loss_and_matches_the_untiled_start(
    content_image, style_image, one_thread
):
    seen = []
    result = painterly.stylize(
        content_image, style_image, size=160, scales="none", iterations=6, tile=128,
        init="content", callback=lambda p: seen.append(p.losses["total"]),
    )  # fmt: skip
    assert result.size == (160, 120)
    whole = []
    painterly.stylize(
        content_image, style_image, size=160, scales="none", iterations=1, tile="off",
        init="content", callback=lambda p: whole.append(p.losses["total"]),
    )  # fmt: skip
    assert seen[0] == pytest.approx(whole[0], rel=1e-5)  # the same first evaluation
    assert min(seen) < 0.9 * seen[0]
