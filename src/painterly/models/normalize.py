"""Gatys normalisation of VGG-19: every filter's mean activation over a set of images is 1.

Gatys et al. (2016), §2: "We normalized the network by scaling the weights such that the mean
activation of each convolutional filter over images and positions is equal to one. Such
re-scaling can be done for the VGG network without changing its output, because it contains
only rectifying linear activation functions and no normalization or pooling over feature maps."

Dividing filter o of layer l (weight and bias) by a positive a_o divides its rectified
response by a_o, since ReLU, zero padding and max or average pooling all commute with a
positive per-channel scale; multiplying the next convolution's input channel o by a_o undoes
it. So the layer-by-layer procedure (normalise conv1_1, then measure conv1_2 in the partly
normalised net, …) measures at each layer exactly that layer's mean in the *original* net:
all means are taken in one pass of the original net, then applied by :func:`rescale`.

The images and pooling Gatys et al. used are not published. Layers before pool1 do not
depend on the pooling; deeper ones are measured with max pooling, the network as trained.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import safetensors.torch
import torch
from PIL import Image, ImageOps

from painterly.errors import PainterlyError, printable
from painterly.io.files import write_atomically
from painterly.io.images import MIN_SIDE, load_image, resize_long_side, to_tensor
from painterly.models.vgg import CONV_SHAPES, VGG19
from painterly.models.weights import available_layers

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".avif")
"""File types taken from a folder of calibration images."""

ImageInput = str | os.PathLike[str] | Image.Image


class Normalized(NamedTuple):
    """A normalised canonical state dict, the scale a_o each filter's output was divided by
    (1 for dead filters), and which filters were dead (never active on the images)."""

    state: dict[str, torch.Tensor]
    scales: dict[str, torch.Tensor]
    dead: dict[str, torch.Tensor]


class Agreement(NamedTuple):
    """How one layer's scales compare with another set (filters excluded by a mask left out)."""

    log_r: float  # Pearson r of log scales: the scales span orders of magnitude
    r: float  # Pearson r of the scales themselves
    median_ratio: float  # median of ours / theirs: a global factor if the image sets differ
    compared: int  # number of filters compared


def calibration_images(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Image files named by ``paths``; a folder stands for the image files directly in it."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
        elif path.exists():
            found.append(path)
        else:
            raise PainterlyError(
                f"The calibration image or folder '{printable(path)}' does not exist."
            )
    if not found:
        raise PainterlyError("No calibration images were found; pass image files or folders.")
    return found


def mean_activations(
    state: Mapping[str, torch.Tensor],
    images: Sequence[ImageInput],
    size: int = 256,
    pooling: str = "max",
    flips: bool = True,
) -> dict[str, torch.Tensor]:
    """Each filter's mean rectified response (float64) over all positions of all images.

    Each image is resized to ``size`` pixels on its long side and, with ``flips``, also seen
    mirrored left to right; larger images weigh more, as every position counts once.
    """
    if size < MIN_SIDE:
        raise PainterlyError(f"The calibration size must be at least {MIN_SIDE}, not {size}.")
    layers = available_layers(state)
    net = VGG19(dict(state), last_layer=layers[-1], pooling=pooling)
    channels = {name: CONV_SHAPES[name][1] for name in layers}
    sums = {name: torch.zeros(channels[name], dtype=torch.float64) for name in layers}
    counts = dict.fromkeys(layers, 0)
    with torch.inference_mode():
        for view in _views(images, size, flips):
            for name, x in net(view, layers).items():
                sums[name] += x.sum(dim=(0, 2, 3), dtype=torch.float64)
                counts[name] += x.shape[0] * x.shape[2] * x.shape[3]
    return {name: sums[name] / counts[name] for name in layers}


def rescale(
    state: Mapping[str, torch.Tensor], scales: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Divide each layer's outputs by ``scales[layer]`` (positive, one per filter) and undo it
    in the next convolution's inputs, so the net computes the same function up to those scales.

    Layers missing from ``scales`` keep their scale; arithmetic is in float64.
    """
    out = dict(state)
    previous: torch.Tensor | None = None
    for name in available_layers(state):
        weight = state[f"{name}.weight"].double()
        bias = state[f"{name}.bias"].double()
        if previous is not None:
            weight = weight * previous[None, :, None, None]
        scale = scales.get(name)
        if scale is not None:
            scale = scale.double()
            weight, bias = weight / scale[:, None, None, None], bias / scale
        out[f"{name}.weight"] = weight.to(state[f"{name}.weight"].dtype)
        out[f"{name}.bias"] = bias.to(state[f"{name}.bias"].dtype)
        previous = scale
    return out


def normalize(
    state: Mapping[str, torch.Tensor],
    images: Sequence[ImageInput],
    size: int = 256,
    pooling: str = "max",
    flips: bool = True,
) -> Normalized:
    """Gatys et al. (2016) §2 normalisation: unit mean activation of every filter on ``images``.

    Filters whose mean is 0 (dead on these images) keep scale 1 and are marked in ``dead``.
    """
    means = mean_activations(state, images, size, pooling, flips)
    dead = {name: mean == 0 for name, mean in means.items()}
    scales = {name: torch.where(dead[name], 1.0, mean) for name, mean in means.items()}
    return Normalized(rescale(state, scales), scales, dead)


def true_scales(
    original: Mapping[str, torch.Tensor], normalized: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The per-filter a_l of two VGG-19s that differ only by Gatys normalisation.

    With ``normalized`` = ``original`` / a_l per output and × a_{l-1} per input, a_l,o is
    bias_orig[o] / bias_norm[o] where that bias is a normal float, else the median over
    inputs i and kernel positions of W_orig[o, i] · a_{l-1,i} / W_norm[o, i].
    """
    tiny = torch.finfo(torch.float32).tiny
    scales: dict[str, torch.Tensor] = {}
    previous: torch.Tensor | None = None
    for name in available_layers(original):
        w_orig = original[f"{name}.weight"].double()
        w_norm = normalized[f"{name}.weight"].double()
        if previous is not None:
            w_orig = w_orig * previous[None, :, None, None]
        usable = w_norm.abs() >= tiny
        ratios = torch.where(usable, w_orig / torch.where(usable, w_norm, 1.0), torch.nan)
        from_kernel = ratios.flatten(1).nanmedian(dim=1).values.nan_to_num(1.0)
        b_orig = original[f"{name}.bias"].double()
        b_norm = normalized[f"{name}.bias"].double()
        has_bias = b_norm.abs() >= tiny
        scale = torch.where(has_bias, b_orig / torch.where(has_bias, b_norm, 1.0), from_kernel)
        scales[name] = previous = scale
    return scales


def agreement(
    ours: Mapping[str, torch.Tensor],
    theirs: Mapping[str, torch.Tensor],
    mask: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, Agreement]:
    """Compare two sets of per-filter scales layer by layer, over the filters where ``mask``
    (default: all) is true and both scales are positive."""
    result: dict[str, Agreement] = {}
    for name in (name for name in ours if name in theirs):
        a, b = ours[name].double(), theirs[name].double()
        keep = (a > 0) & (b > 0)
        if mask is not None and name in mask:
            keep &= mask[name]
        a, b = a[keep], b[keep]
        result[name] = Agreement(
            _pearson(a.log(), b.log()), _pearson(a, b), (a / b).median().item(), len(a)
        )
    return result


def check_weights_output(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Check that a ``.safetensors`` file may be written at ``path``; return it resolved."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise PainterlyError(f"The output file '{printable(path)}' must end in .safetensors.")
    resolved = path.resolve()
    if resolved.is_dir():
        raise PainterlyError(
            f"The output path '{printable(path)}' is a directory; give a file name."
        )
    if not resolved.parent.is_dir():
        raise PainterlyError(f"The output directory '{printable(resolved.parent)}' does not exist.")
    if not os.access(resolved.parent, os.W_OK | os.X_OK):
        raise PainterlyError(
            f"The output directory '{printable(resolved.parent)}' is not writable."
        )
    for target in (resolved, resolved.with_suffix(".json")):
        if not overwrite and (target.exists() or target.is_symlink()):
            raise PainterlyError(
                f"The output file '{printable(target)}' already exists; pass --overwrite to"
                " replace it."
            )
    return resolved


def save_normalized(
    state: Mapping[str, torch.Tensor],
    report: object,
    path: Path,
    overwrite: bool = False,
) -> None:
    """Write ``state`` as safetensors at ``path`` and ``report`` as JSON beside it
    (``.json``), each through a temporary file, so neither is ever seen half-written."""
    tensors = {key: value.contiguous() for key, value in state.items()}
    write_atomically(path, lambda tmp: safetensors.torch.save_file(tensors, tmp), overwrite)
    text = json.dumps(report, indent=2) + "\n"
    write_atomically(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text), overwrite)


def _views(images: Sequence[ImageInput], size: int, flips: bool) -> Iterable[torch.Tensor]:
    """Each image resized, as a batch with its mirror image when ``flips``."""
    for image in images:
        if not isinstance(image, Image.Image):
            image = load_image(image, "calibration image")
        image = resize_long_side(image, size)
        if min(image.size) < MIN_SIDE:
            raise PainterlyError(
                f"A calibration image is {image.width}x{image.height} pixels at size {size}; "
                f"each side must be at least {MIN_SIDE} pixels."
            )
        views = [image, ImageOps.mirror(image)] if flips else [image]
        yield torch.cat([to_tensor(view) for view in views])


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    if len(a) < 2:
        return float("nan")
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()
