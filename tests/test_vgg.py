"""The VGG-19 encoder: paper layer names, truncation, pooling and preprocessing."""

import pytest
import torch
from torch.nn import functional as F

from painterly.models.vgg import LAYER_NAMES, VGG19, canonical_layer, layer_channels, layer_stride


def test_layer_names_follow_vgg19_configuration_e():
    assert len(LAYER_NAMES) == 21
    assert LAYER_NAMES[:3] == ("conv1_1", "conv1_2", "pool1")
    assert LAYER_NAMES[-5:] == ("conv5_1", "conv5_2", "conv5_3", "conv5_4", "pool5")
    assert layer_channels("conv4_2") == 512 and layer_stride("conv4_2") == 8
    assert layer_stride("pool5") == 32


def test_relu_names_are_aliases_and_unknown_names_raise():
    assert canonical_layer("relu4_1") == "conv4_1"
    assert canonical_layer(" Conv2_2 ") == "conv2_2"
    with pytest.raises(KeyError):
        canonical_layer("conv6_1")


def test_truncated_network_builds_only_layers_up_to_the_cut(random_state):
    net = VGG19(random_state, last_layer="conv3_1")
    assert list(net.convs) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
    with pytest.raises(ValueError, match="deeper"):
        net(torch.rand(1, 3, 32, 32), ["conv4_1"])


def test_truncated_forward_equals_full_forward(random_state):
    x = torch.rand(1, 3, 40, 56)
    full = VGG19(random_state, last_layer="pool5")(x)
    cut = VGG19(random_state, last_layer="conv4_2")(x, ["conv2_1", "conv4_2"])
    assert set(cut) == {"conv2_1", "conv4_2"}
    for name in cut:
        torch.testing.assert_close(cut[name], full[name])


def test_forward_stops_at_the_deepest_requested_layer(random_state):
    net = VGG19(random_state)
    ran = []
    for name, conv in net.convs.items():
        conv.register_forward_hook(lambda *_, name=name: ran.append(name))
    net(torch.rand(1, 3, 32, 32), ["conv2_1"])
    assert ran == ["conv1_1", "conv1_2", "conv2_1"]


def test_layer_outputs_are_rectified_conv_responses(random_state):
    net = VGG19(random_state, last_layer="conv1_1")
    x = torch.rand(1, 3, 16, 16)
    pre = F.conv2d(x, random_state["preprocess.weight"], random_state["preprocess.bias"])
    expected = F.relu(
        F.conv2d(pre, random_state["conv1_1.weight"], random_state["conv1_1.bias"], padding=1)
    )
    torch.testing.assert_close(net(x)["conv1_1"], expected)


@pytest.mark.parametrize(("pooling", "fn"), [("avg", F.avg_pool2d), ("max", F.max_pool2d)])
def test_pooling_choice_is_applied(random_state, pooling, fn):
    net = VGG19(random_state, last_layer="pool1", pooling=pooling)
    out = net(torch.rand(1, 3, 16, 16), ["conv1_2", "pool1"])
    torch.testing.assert_close(out["pool1"], fn(out["conv1_2"], 2))


def test_weights_are_frozen_but_the_image_gets_gradients(random_state):
    net = VGG19(random_state, last_layer="conv2_1")
    assert not any(p.requires_grad for p in net.parameters())
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x)["conv2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_real_preprocessing_maps_rgb_to_caffe_bgr(vgg_state):
    net = VGG19(vgg_state, last_layer="conv1_1")
    rgb = torch.tensor([0.2, 0.5, 1.0]).reshape(1, 3, 1, 1)
    bgr = net.preprocess(rgb).flatten()
    expected = torch.tensor([255 * 1.0 - 103.939, 255 * 0.5 - 116.779, 255 * 0.2 - 123.68])
    torch.testing.assert_close(bgr, expected, atol=1e-3, rtol=0)


def test_missing_weights_for_a_needed_layer_raise(random_state):
    partial = {k: v for k, v in random_state.items() if not k.startswith("conv5")}
    VGG19(partial, last_layer="conv4_4")
    with pytest.raises(ValueError, match="conv5_1"):
        VGG19(partial, last_layer="conv5_1")


def test_channels_last_gives_the_same_features_and_gradient(random_state):
    # The layout changes how the numbers are stored, not what they are.
    x = torch.rand(1, 3, 24, 40)
    net = VGG19(random_state, last_layer="conv3_1")
    layers = ["conv1_1", "conv2_1", "conv3_1"]
    x1 = x.clone().requires_grad_(True)
    plain = net(x1, layers)
    sum(f.pow(2).mean() for f in plain.values()).backward()
    net.use_channels_last()
    x2 = x.clone().requires_grad_(True)
    nhwc = net(x2, layers)
    assert all(f.is_contiguous(memory_format=torch.channels_last) for f in nhwc.values())
    sum(f.pow(2).mean() for f in nhwc.values()).backward()
    for name in layers:
        torch.testing.assert_close(nhwc[name], plain[name], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-4, atol=1e-7)
