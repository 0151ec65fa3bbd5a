"""Plain reference: the algorithm of Gatys et al.'s own PyTorch notebook, written out.

Follows the authors' PytorchNeuralStyleTransfer notebook: VGG-19 with max pooling run in
full (through pool5) at every evaluation, Gram matrices divided by H·W, mean squared errors,
style layers conv1_1 … conv5_1 (rectified) with weights 1e3 / N_l², content conv4_2 with
weight 1, start from the content image, PyTorch's L-BFGS with its defaults, 500 evaluations,
fp32. Differences: the long side is ``--size`` (the notebook sets the short side to 512)
and only the notebook's first, low-resolution phase is run.

Needs only torch and Pillow (it runs in its own environment, without painterly). Weights
are a torchvision-layout state dict taking Caffe input. Prints ``LOSS <total>`` after each
evaluation.
"""

from __future__ import annotations

import argparse

import torch
from peer_images import load_rgb255
from torch.nn import functional as F

CONV_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
BLOCKS = (2, 2, 4, 4, 4)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def load(path: str, size: int) -> torch.Tensor:
    """The image, long side ``size``, as Caffe input: 1×3×H×W, BGR, 0–255, mean subtracted."""
    mean = torch.tensor(CAFFE_MEAN_BGR).view(3, 1, 1)
    return (load_rgb255(path, size).flip(0) - mean).unsqueeze(0).contiguous()


def vgg_layers(state: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(relu name, weight, bias) of the 16 convolutions, in order."""
    names = [f"relu{b + 1}_{i + 1}" for b, n in enumerate(BLOCKS) for i in range(n)]
    return [
        (name, state[f"features.{i}.weight"], state[f"features.{i}.bias"])
        for name, i in zip(names, CONV_INDEX, strict=True)
    ]


def forward(layers, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every rectified conv output and pooling output of the whole network."""
    out = {}
    for name, weight, bias in layers:
        x = F.relu(F.conv2d(x, weight, bias, padding=1))
        out[name] = x
        if name in ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4"):
            x = F.max_pool2d(x, 2)
            out[f"pool{name[4]}"] = x
    return out


def gram(features: torch.Tensor) -> torch.Tensor:
    """F Fᵀ / (H·W), the notebook's normalised Gram matrix."""
    _, c, h, w = features.shape
    flat = features.reshape(c, h * w)
    return flat @ flat.t() / (h * w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=500)
    args = parser.parse_args()

    layers = vgg_layers(torch.load(args.weights, map_location="cpu", weights_only=True))
    content, style = load(args.content, args.size), load(args.style, args.size)
    with torch.no_grad():
        style_targets = {n: gram(f) for n, f in forward(layers, style).items() if n in STYLE_LAYERS}
        content_targets = {n: f for n, f in forward(layers, content).items() if n in CONTENT_LAYERS}
    style_weights = {n: 1e3 / style_targets[n].shape[0] ** 2 for n in STYLE_LAYERS}

    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image])
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        optimizer.zero_grad()
        features = forward(layers, image)
        loss = sum(
            style_weights[n] * F.mse_loss(gram(features[n]), style_targets[n]) for n in STYLE_LAYERS
        ) + sum(F.mse_loss(features[n], content_targets[n]) for n in CONTENT_LAYERS)
        loss.backward()
        evaluations += 1
        print(f"LOSS {loss.item()!r}", flush=True)
        return loss

    # As the notebook: whole L-BFGS steps (up to 20 iterations each) until the count passes.
    while evaluations <= args.iterations:
        optimizer.step(closure)


if __name__ == "__main__":
    main()
