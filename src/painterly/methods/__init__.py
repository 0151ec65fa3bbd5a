"""Ways of stylising an image; each is one module with a ``run(content, style, options,
callback)`` entry point returning a :class:`~painterly.methods.base.Result`."""

from __future__ import annotations

from collections.abc import Callable

import torch

from painterly.config.options import Options
from painterly.engine.plan import Network
from painterly.methods import adain, artflow, feedforward, gatys, wct
from painterly.methods.base import Result

RUNNERS: dict[str, Callable[..., Result]] = {
    "gatys": gatys.run,
    "adain": adain.run,
    "wct": wct.run,
    "artflow": artflow.run,
}

OnePass = Callable[[Options, torch.device, bool], feedforward.Stylise]
"""(options, device, clamp to [0, 1]) → the pass."""


def _decoder(transform: feedforward.Transform) -> OnePass:
    return lambda options, device, clamp: feedforward.decoder_pass(transform, device, clamp)


ONE_PASS: dict[str, tuple[OnePass, Callable[[], Network]]] = {
    "adain": (_decoder(adain.adaptive_instance_norm), feedforward.network),
    "wct": (_decoder(wct.whiten_colour), feedforward.network),
    "artflow": (artflow.flow_pass, artflow.network),
}
"""The one-pass methods at the level of tensors: how to make the pass for some options on a
device, and what it asks of its plan (for :class:`~painterly.methods.feedforward.FloatRounds`)."""

__all__ = ["ONE_PASS", "RUNNERS", "Result"]
