"""Ways of stylising an image; each is one module with a ``run(content, style, options,
callback)`` entry point returning a :class:`~painterly.methods.base.Result`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PIL import Image

from painterly.config.options import Options
from painterly.engine.cost import Cost
from painterly.engine.plan import Network, Plan
from painterly.methods import adain, artflow, feedforward, gatys, wct
from painterly.methods.base import Result

RUNNERS: dict[str, Callable[..., Result]] = {
    "gatys": gatys.run,
    "adain": adain.run,
    "wct": wct.run,
    "artflow": artflow.run,
}

OnePass = Callable[..., feedforward.Stylise]
"""(options, device, clamp to [0, 1], remember=False) → the pass; with ``remember`` the
styles' codes are kept across passes."""


def _decoder(transform: feedforward.Transform) -> OnePass:
    return lambda options, device, clamp, remember=False: feedforward.decoder_pass(
        transform, device, clamp, remember
    )


ONE_PASS: dict[str, tuple[OnePass, Callable[[], Network]]] = {
    "adain": (_decoder(adain.adaptive_instance_norm), feedforward.network),
    "wct": (_decoder(wct.whiten_colour), feedforward.network),
    "artflow": (artflow.flow_pass, artflow.network),
}
"""The one-pass methods at the level of tensors: how to make the pass for some options on a
device, and what it asks of its plan (for :class:`~painterly.methods.feedforward.FloatRounds`)."""


def plan_of(content: Image.Image, styles: Sequence[Image.Image], options: Options) -> Plan:
    """The plan a run of ``options`` on these images would follow (PainterlyError if it
    would not fit)."""
    from painterly.controls.inputs import prepare_inputs
    from painterly.engine.plan import resolve

    inputs = prepare_inputs(content, styles, options)
    if options.method == "gatys":
        return resolve(options, inputs, gatys.network(options))
    return resolve(options, inputs, ONE_PASS[options.method][1]())


def cost_of(plan: Plan) -> Cost:
    """The estimate of ``plan``'s memory and time (:mod:`painterly.engine.cost`), from a
    probe of its network on its device."""
    from painterly.engine import cost
    from painterly.engine.runtime import autocast

    o = plan.options
    if o.method == "gatys":
        return cost.estimate(plan, cost.probe(plan), cost.optimisation_tiles(plan))
    make = ONE_PASS[o.method][0](o, plan.device, True)
    with autocast(plan.device, plan.dtype):
        measured = cost.probe(plan, lambda image: make(image, [(image, 1.0)], 1.0))
    return cost.estimate(plan, measured, cost.pass_tiles(plan))


__all__ = ["ONE_PASS", "RUNNERS", "Result", "cost_of", "plan_of"]
