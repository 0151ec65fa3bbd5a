"""pystiche's Gatys et al. style transfer with the library's defaults, on painterly's weights.

pystiche is a library without a command, so its defaults are those of its API and of its
documented "NST with pystiche" example: VGG-19 multi-layer encoder (max pooling), content
loss ``FeatureReconstructionLoss`` at relu4_2 (weight 1), style loss ``GramLoss`` at
relu1_1 … relu5_1 (layer weights "mean", style weight 1e3), start from the content image,
``pystiche.optim.image_optimization`` with its default optimiser (L-BFGS, lr 1, one
iteration per step) for its default 500 steps, fp32. The encoder is built with
``pretrained=False`` and given painterly's weights through ``load_state_dict`` with Caffe
preprocessing, so nothing is downloaded. The progress bar is turned off (``quiet=True``);
instead ``LOSS <total>`` is printed after each evaluation (its backward pass).
"""

from __future__ import annotations

import argparse

import compat
import torch
from peer_images import load_rgb255

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def load(path: str, size: int) -> torch.Tensor:
    """The image with long side ``size`` as a 1×3×H×W RGB tensor in [0, 1]."""
    return (load_rgb255(path, size) / 255)[None].contiguous()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()

    compat.restore_model_urls()
    from pystiche import enc, loss, optim

    encoder = enc.vgg19_multi_layer_encoder(pretrained=False, framework="caffe")
    state = torch.load(args.weights, map_location="cpu", weights_only=True)
    encoder.load_state_dict(state, framework="caffe")
    content_loss = loss.FeatureReconstructionLoss(encoder.extract_encoder("relu4_2"))
    style_loss = loss.MultiLayerEncodingLoss(
        encoder,
        STYLE_LAYERS,
        lambda layer_encoder, weight: loss.GramLoss(layer_encoder, score_weight=weight),
        score_weight=1e3,
    )
    criterion = loss.PerceptualLoss(content_loss, style_loss)
    content, style = load(args.content, args.size), load(args.style, args.size)
    criterion.set_content_image(content)
    criterion.set_style_image(style)

    last: list[float] = []

    class Traced(torch.nn.Module):
        """The criterion, keeping each evaluation's total loss to print after backward."""

        def __init__(self) -> None:
            super().__init__()
            self.criterion = criterion

        def forward(self, image: torch.Tensor):
            losses = self.criterion(image)
            last[:] = [float(losses)]
            return losses

    image = content.clone().requires_grad_(True)
    # The image's gradient is the last thing an evaluation computes: report then, as the
    # other runs do, so that every trace point marks a finished evaluation.
    image.register_hook(lambda grad: print(f"LOSS {last[0]!r}", flush=True))
    optim.image_optimization(image, Traced(), num_steps=args.steps, quiet=True)


if __name__ == "__main__":
    main()
