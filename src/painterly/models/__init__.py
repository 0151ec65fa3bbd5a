"""Networks (VGG-19 encoder, decoders) and the registry of their weights."""

from __future__ import annotations

from functools import lru_cache

import torch

from painterly.errors import PainterlyError
from painterly.models.decoder import AdaINDecoder
from painterly.models.vgg import CONV_NAMES, LAYER_NAMES, VGG19, canonical_layer
from painterly.models.weights import available_layers, load_decoder_weights, load_vgg_weights

CHANNELS_LAST_DEVICES = ("cpu", "cuda")
"""Devices whose networks run channels-last (NHWC), the layout oneDNN's and cuDNN's fastest
convolutions read without reordering. Measured on a 2-core Intel Xeon (family 6 model 167,
AMX), one gatys evaluation at 512 px against the same code in NCHW: bf16 0.61 → 0.26 s,
fp32 1.24–1.30 → 1.12–1.14 s (with the Gram matrices read from the same layout,
:func:`painterly.engine.losses.flat_channels`); docs/performance.md."""


def channels_last(device: torch.device) -> bool:
    """Whether networks on ``device`` run channels-last (:data:`CHANNELS_LAST_DEVICES`)."""
    return device.type in CHANNELS_LAST_DEVICES


@lru_cache(maxsize=4)
def load_encoder(
    weights: str, pooling: str, padding: str, last_layer: str, device: torch.device
) -> VGG19:
    """A frozen VGG-19 cut after ``last_layer``, kept for the next run with the same setup."""
    state = load_vgg_weights(weights)
    have = available_layers(state)
    block = LAYER_NAMES[: LAYER_NAMES.index(last_layer) + 1]
    needed = [name for name in block if name in CONV_NAMES]
    if needed and needed[-1] not in have:
        deepest = have[-1] if have else "no layer"
        raise PainterlyError(
            f"the weights {weights!r} stop at {deepest}, but this run needs layers down to "
            f"{last_layer}"
        )
    return (
        VGG19(state, last_layer, pooling, padding)
        .to(device)
        .use_channels_last(channels_last(device))
    )


@lru_cache(maxsize=2)
def load_decoder(weights: str, device: torch.device) -> AdaINDecoder:
    """The frozen AdaIN decoder, kept for the next run on the same device."""
    try:
        decoder = AdaINDecoder(load_decoder_weights(weights)).to(device)
        if channels_last(device):  # (torch's stubs leave out Module.to's memory_format)
            decoder = decoder.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return decoder
    except ValueError as error:  # a user's own file with the wrong layout
        raise PainterlyError(f"the decoder weights {weights!r} do not fit: {error}") from None


__all__ = [
    "LAYER_NAMES",
    "VGG19",
    "AdaINDecoder",
    "canonical_layer",
    "load_decoder",
    "load_encoder",
    "load_vgg_weights",
]
