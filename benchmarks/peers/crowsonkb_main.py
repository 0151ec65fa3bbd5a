"""crowsonkb/style-transfer-pytorch as its ``style_transfer`` command runs it, on our weights.

Its command's defaults are ``StyleTransfer.stylize``'s keyword defaults (``cli.py`` reads
them from there), and this script takes them from the same place: content weight 0.015
(MSE at relu4_2), Wasserstein-2 style loss at relu1_1 … relu5_1 (layer weights 256:64:16:4:1,
normalised), TV weight 2, Adam (step 0.02, betas 0.9/0.99) with an EMA of the iterates
(decay 0.99) as the result, start from the content image, style at the content's scale,
max pooling, replicate padding on conv1_1. Its schedule: from ``min_scale`` 128 px to
``end_scale`` (long side) in steps of √2 (128, 181, 256 at 256 px; … 362, 512 at 512 px),
``initial_iterations`` 1000 on the first scale and ``iterations`` 500 on each later one,
each warm-started from the previous scale's average and Adam state. Like its command it seeds
torch with 0; it reads images as RGB (the command would also convert an embedded ICC profile
to sRGB; the benchmark's images have none).

Changed, and why: ``end_scale`` is the benchmark's size; the device is the CPU (its command
picks CUDA when there is one); torchvision's ImageNet VGG-19, which it would download, is
replaced by painterly's, folded for its normalised input (``--weights``, made by
``benchmarks.peers.envs.folded_weights_file``). ``LOSS <loss>`` is printed after each
iteration (one evaluation each), ``SCALE <w> <h> <iterations>`` when a scale starts, and the
averaged image is written to ``--output`` as PNG.
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import compat
import torch
from PIL import Image

compat.import_torchvision()

import style_transfer  # noqa: E402  (after torchvision can be imported)
from style_transfer import StyleTransfer  # noqa: E402
from style_transfer import style_transfer as module  # noqa: E402
from torchvision import models  # noqa: E402


def use_weights(path: str) -> None:
    """Make crowsonkb's ``models.vgg19(weights=IMAGENET1K_V1)`` return VGG-19 with the
    features in ``path`` (strictly loaded) and download nothing."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    features = {key.removeprefix("features."): value for key, value in state.items()}

    def vgg19(weights: object = None) -> torch.nn.Module:
        if weights is not models.VGG19_Weights.IMAGENET1K_V1:
            raise ValueError(f"crowsonkb asked for VGG-19 weights {weights!r}")
        network = models.vgg19(weights=None)
        network.features.load_state_dict(features, strict=True)
        return network

    module.models = SimpleNamespace(vgg19=vgg19, VGG19_Weights=models.VGG19_Weights)


def main() -> None:
    defaults = StyleTransfer.stylize.__kwdefaults__
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--end-scale", type=int, default=defaults["end_scale"])
    parser.add_argument("--iterations", type=int, default=defaults["iterations"])
    parser.add_argument("--initial-iterations", type=int, default=defaults["initial_iterations"])
    args = parser.parse_args()

    use_weights(args.weights)
    torch.manual_seed(0)
    content = Image.open(args.content).convert("RGB")
    style = Image.open(args.style).convert("RGB")
    transfer = StyleTransfer(devices=["cpu"])

    def report(iterate: module.STIterate) -> None:
        if iterate.i == 1:
            print(f"SCALE {iterate.w} {iterate.h} {iterate.i_max}", flush=True)
        print(f"LOSS {iterate.loss!r}", flush=True)

    image = transfer.stylize(
        content,
        [style],
        end_scale=args.end_scale,
        iterations=args.iterations,
        initial_iterations=args.initial_iterations,
        callback=report,
    )
    image.save(args.output, format="PNG", icc_profile=style_transfer.srgb_profile)


if __name__ == "__main__":
    main()
