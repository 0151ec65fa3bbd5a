"""Spatial control (Gatys et al. 2017 §4): masks, guided Gram matrices, regions in a run."""

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import Options, run
from painterly.controls.masks import load_masks
from painterly.engine import losses
from painterly.errors import Note, PainterlyError

pytestmark = pytest.mark.usefixtures("one_thread")


def _mask(path, size, box):
    """A black image of ``size`` with the ``box`` (left, top, right, bottom) white."""
    img = Image.new("L", size, 0)
    img.paste(255, box)
    img.save(path)
    return path


def test_a_mask_of_another_size_is_resized_with_a_note(tmp_path):
    path = _mask(tmp_path / "m.png", (40, 20), (0, 0, 20, 20))
    with pytest.warns(Note, match=r"40×20 pixels .* 80×40; the mask was resized"):
        (mask,) = load_masks([str(path)], (80, 40))
    assert mask.size == (80, 40) and mask.mode == "L"
    levels = np.asarray(mask)
    assert levels[:, :38].min() == 255 and levels[:, 42:].max() == 0


def test_complementary_soft_masks_are_accepted_and_overlapping_ones_refused(tmp_path):
    ramp = Image.linear_gradient("L").resize((32, 32))
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    ramp.save(a)
    Image.eval(ramp, lambda v: 255 - v).save(b)
    assert len(load_masks([str(a), str(b)], (32, 32))) == 2
    whole = _mask(tmp_path / "whole.png", (32, 32), (0, 0, 32, 32))
    with pytest.raises(PainterlyError, match="masks overlap: at .* pixels"):
        load_masks([str(a), str(whole)], (32, 32))


def test_a_black_mask_and_a_mask_that_is_not_an_image_are_refused(tmp_path):
    black = _mask(tmp_path / "black.png", (16, 16), (0, 0, 0, 0))
    with pytest.raises(PainterlyError, match="black everywhere"):
        load_masks([str(black)], (16, 16))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(PainterlyError, match="The mask .*notes.png' is not an image"):
        load_masks([str(text)], (16, 16))


def test_mask_option_reads_mask_and_style_and_drive_letters():
    o = Options.build(masks=["sky.png:starry.jpg", r"C:\m\ground.png:D:\s\scream.jpg"])
    assert o.masks == (("sky.png", "starry.jpg"), (r"C:\m\ground.png", r"D:\s\scream.jpg"))
    with pytest.raises(PainterlyError, match="MASK:STYLE"):
        Options.build(masks=["sky.png"])
    with pytest.raises(PainterlyError, match="each region has its own style"):
        Options.build(masks=["a.png:b.jpg"], style_blend="1")


def test_guided_style_loss_with_a_guide_of_ones_is_eq_5():
    torch.manual_seed(0)
    feats = {"conv1_1": torch.rand(1, 4, 6, 5), "conv2_1": torch.rand(1, 3, 3, 2)}
    targets = {name: torch.rand(1, f.shape[1], f.shape[1]) * 30 for name, f in feats.items()}
    ones = {name: torch.ones(1, 1, *f.shape[2:]) for name, f in feats.items()}
    weights = {"conv1_1": 0.3, "conv2_1": 0.7}
    torch.testing.assert_close(
        losses.guided_style_loss(feats, targets, ones, weights),
        losses.style_loss(feats, targets, weights),
    )


def test_guided_loss_ignores_features_outside_the_region():
    torch.manual_seed(1)
    f = torch.rand(1, 3, 4, 4, requires_grad=True)
    guide = torch.zeros(1, 1, 4, 4)
    guide[..., :2] = 1.0
    loss = losses.guided_style_loss(
        {"conv1_1": f}, {"conv1_1": torch.eye(3)[None] * 4}, {"conv1_1": guide}, {"conv1_1": 1.0}
    )
    loss.backward()
    assert f.grad[..., 2:].abs().max() == 0 and f.grad[..., :2].abs().max() > 0


def test_layer_guide_averages_the_mask_over_each_position():
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :, :1] = 1.0
    guide = losses.layer_guide(mask, (2, 2))
    assert guide[0, 0].tolist() == [[0.5, 0.0], [0.5, 0.0]]


def _flat_style(colour, seed):
    """A noisy texture around one colour."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 40, (64, 64, 3)), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


def test_each_region_takes_its_style_and_the_uncovered_strip_keeps_the_content(
    tmp_path, content_image
):
    content = content_image.resize((60, 40))
    blue, red = (40, 60, 220), (220, 50, 30)
    blue_path, red_path = tmp_path / "blue.png", tmp_path / "red.png"
    _flat_style(blue, 1).save(blue_path)
    _flat_style(red, 2).save(red_path)
    left = _mask(tmp_path / "left.png", (60, 40), (0, 0, 24, 40))
    right = _mask(tmp_path / "right.png", (60, 40), (36, 0, 60, 40))
    options = Options.build(
        size=60, iterations=25, masks=[f"{left}:{blue_path}", f"{right}:{red_path}"]
    )
    out = np.asarray(run(content, None, options).image, dtype=float)
    # Columns 26–33 are far enough from both masks that no guide reaches them.
    np.testing.assert_array_equal(out[:, 26:34], np.asarray(content, dtype=float)[:, 26:34])
    left_mean, right_mean = out[:, :20].mean((0, 1)), out[:, 40:].mean((0, 1))

    def distance(a, b):
        return np.linalg.norm(a - np.array(b))

    assert distance(left_mean, blue) < distance(left_mean, red) - 60
    assert distance(right_mean, red) < distance(right_mean, blue) - 60


def test_styles_as_well_as_masks_are_refused(tmp_path, content_image, style_image):
    left = _mask(tmp_path / "left.png", content_image.size, (0, 0, 10, 10))
    style = tmp_path / "s.png"
    style_image.save(style)
    options = Options.build(size=32, iterations=1, masks=[f"{left}:{style}"])
    with pytest.raises(PainterlyError, match="give no STYLE images as well"):
        run(content_image, style_image, options)
