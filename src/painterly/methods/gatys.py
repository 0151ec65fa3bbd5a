"""Image optimisation after Gatys, Ecker & Bethge (2016), "Image Style Transfer Using
Convolutional Neural Networks": match conv4_2 of the content and the Gram matrices of the
style at conv1_1 … conv5_1, starting from white noise, with L-BFGS.

The method is a short loop over an :class:`~painterly.engine.session.Session`: resolve the
plan, calibrate ``--strength`` with pilot runs of the same session, run the schedule.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.nn import functional as F

from painterly.config.options import Options
from painterly.controls.inputs import Inputs, prepare_inputs
from painterly.controls.photoreal import smooth
from painterly.controls.strength import (
    FIRST_RATIO,
    PILOT_ITERATIONS,
    PILOT_SIZE,
    PILOTS,
    next_ratio,
    retention,
    target_retention,
)
from painterly.engine import cost
from painterly.engine.optimize import Cancel, Progress, history_pairs
from painterly.engine.plan import Network, Plan, StagePlan, resolve
from painterly.engine.runtime import GIB
from painterly.engine.session import Session
from painterly.engine.targets import Targets
from painterly.engine.tiles import tile_count
from painterly.errors import Interrupted, Note
from painterly.io.images import to_image, to_tensor
from painterly.methods.base import Result
from painterly.models.vgg import LAYER_NAMES, layer_stride


def deepest_layer(options: Options) -> str:
    """The last VGG layer the run reads; the encoder is cut there."""
    return max(options.layers, key=LAYER_NAMES.index)


def network(options: Options, last_layer: str | None = None) -> Network:
    """What the optimisation asks of its plan: VGG-19 down to ``last_layer`` (default: the
    deepest layer ``options`` read), whose stride every side must survive, and the
    optimiser's history."""
    last = last_layer or deepest_layer(options)
    return Network(last, layer_stride(last), history_pairs(options.optimizer, options.pyramid))


def session(
    plan: Plan,
    inputs: Inputs,
    content_layers: Sequence[str] | None = None,
    style_layers: Sequence[str] | None = None,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> Session:
    """A session over ``plan`` whose ``--init adain`` and ``--init gatys`` use these inputs
    (the plain run of ``--init gatys`` reports to ``callback`` and stops on ``cancel``, and
    is made once); ``content_layers`` and ``style_layers`` are those its targets hold
    (default: the plan's options')."""
    plain: list[torch.Tensor] = []

    def derive(init: str, plan: Plan, stage: StagePlan) -> torch.Tensor:
        if init == "adain":
            from painterly.methods.adain import adaptive_instance_norm
            from painterly.methods.feedforward import decoder_pass, transfer_inputs

            stylise = decoder_pass(adaptive_instance_norm, plan.device)
            return transfer_inputs(inputs, plan, stage, stylise, 1.0)
        if not plain:
            plain.append(plain_run(plan.options, inputs, callback, cancel))
        return plain[0]

    return Session(
        plan, inputs, content_layers=content_layers, style_layers=style_layers, derive=derive
    )


PLAIN_KEEPS = (
    "size", "size_side", "style_scale", "style_blend", "masks", "preserve_color", "seed",
    "device", "precision",
)  # fmt: skip
"""What the plain first run of ``--init gatys`` takes from the run's options: the inputs,
the size and the machine; everything else is painterly's default."""


def plain_run(
    options: Options,
    inputs: Inputs,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> torch.Tensor:
    """The start image of ``--init gatys``: a run of painterly's defaults on the same
    inputs, at the same size, regions, seed, device and precision (:data:`PLAIN_KEEPS`),
    with the default number of evaluations or the run's own where that is fewer.

    This is the first of Luan et al.'s (2017) two steps: the plain run moves the colours and
    textures all the way to the style's, and the second run, with the matting term, pulls
    the edges back to the photograph's; started from the photograph instead, the second run
    keeps its edges but may move the colours less than halfway (docs/photorealistic.md).
    With ``--photo-smooth`` the plain result is smoothed so before it is the start: the
    second run then begins with the photograph's edges (on the warm → cool pair of
    docs/photorealistic.md the edge correlation rose from 0.84 to 0.86).

    Raises:
        Interrupted: ``cancel`` was set or Ctrl-C pressed; its ``best`` is the plain run's
            best image so far, finished as the run's options finish a result.
    """
    kept = {name: getattr(options, name) for name in PLAIN_KEEPS}
    first = Options(method="gatys", iterations=min(Options.iterations, options.iterations), **kept)
    plan = resolve(first, inputs, network(first))
    start = Session(plan, inputs).run(first, callback, cancel).image
    if options.photo_smooth == "off":
        return start
    smoothed = smooth(to_image(start), inputs.content, options.photo_smooth)
    return to_tensor(smoothed).to(start)


def run(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: Options,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> Result:
    """Stylise ``content`` with ``styles`` by optimising the pixels of a new image.

    With several stages (coarse to fine, Gatys et al. 2017), each stage has its own targets
    and starts from the previous result, upsampled. With ``options.strength``, α and β are
    first calibrated on the pair (:func:`calibrate_strength`); the result's options carry
    the α and β used.
    """
    inputs = prepare_inputs(content, styles, options)
    plan = resolve(options, inputs, network(options))
    tell_tiles(plan)
    return run_session(
        session(plan, inputs, callback=callback, cancel=cancel), plan.options, callback, cancel
    )


def tell_tiles(plan: Plan) -> None:
    """A note for each stage the plan tiles (its tiles, memory and time), and the whole
    run's estimate (:mod:`painterly.engine.cost`): a tiled run is a long one."""
    if all(stage.tile is None for stage in plan.stages):
        return
    run_cost = cost.estimate(plan, cost.probe(plan), cost.optimisation_tiles(plan))
    for stage, stage_cost in zip(plan.stages, run_cost.stages, strict=True):
        if stage.tile is None:
            continue
        w, h = stage.output
        count = tile_count(stage.output, stage.tile, list(plan.options.layers))
        held = (
            f" ({stage.kept} kept between the passes)" if 1 < stage.kept < count
            else " (all kept between the passes)" if stage.kept == count > 1 else ""
        )  # fmt: skip
        warnings.warn(
            Note(
                f"stage {stage.index + 1} ({w}×{h}) is optimised in {count} tiles of at most "
                f"{stage.tile} px{held}, with the whole image's loss; about "
                f"{stage_cost.memory / GIB:.1f} GiB and {cost.duration(stage_cost.seconds)}"
            ),
            stacklevel=2,
        )
    warnings.warn(Note(run_cost.summary()), stacklevel=2)


def run_session(
    session: Session,
    options: Options,
    callback: Callable[[Progress], None] | None = None,
    cancel: Cancel | None = None,
) -> Result:
    """The run of ``options`` (which may differ from the plan's in its α/β, layers and
    init, as a sweep cell's do) on ``session``: calibrate the strength, run the schedule."""
    if options.strength is not None:
        options = calibrate_strength(session, options, cancel)
    outcome = session.run(options, callback, cancel)
    started = time.perf_counter()
    image = session.inputs.final(to_image(outcome.image, options.bit_depth))
    return Result(
        image=image,
        options=options,
        losses=outcome.losses,
        iterations=outcome.iterations,
        seconds=outcome.seconds + time.perf_counter() - started,
        exif=session.inputs.exif,
    )


def content_similarity(
    features: dict[str, torch.Tensor], targets: Targets, layers: dict[str, float]
) -> float:
    """Σ_l w_l cos(F^l, P^l) / Σ_l w_l: how alike the features are to the content's."""
    total = sum(
        w * F.cosine_similarity(features[n].flatten(), targets.content[n].flatten(), dim=0).item()
        for n, w in layers.items()
    )
    return total / sum(layers.values())


def pilot_size(plan: Plan) -> int:
    """:data:`~painterly.controls.strength.PILOT_SIZE`, doubled while a side would be too
    short for the network, and never more than the first stage's size."""
    first = plan.stages[0].size
    size = min(PILOT_SIZE, first)
    while size < first and not plan.fits(size):
        size *= 2
    return min(size, first)


def calibrate_strength(session: Session, options: Options, cancel: Cancel | None = None) -> Options:
    """``options`` with the β (α/β) that gives this pair the retention ``options.strength``
    asks for (see :mod:`painterly.controls.strength`), measured by short pilot runs.

    α stays ``options.content_weight``; strength 0 sets β = 0 and strength 1 sets α = 0
    without pilots. A pilot is the run itself, on the same session, at :func:`pilot_size`
    with at most ``PILOT_ITERATIONS`` evaluations: the same initial image, seed, layers,
    controls, device and precision — except that a content start (the default) becomes
    noise, for the pilots and for the run.

    Raises:
        Interrupted: ``cancel`` was set or Ctrl-C pressed during a pilot (``best`` None: a
            pilot's image is no result worth saving).
    """
    strength, alpha = options.strength, options.content_weight
    assert strength is not None, "calibrate_strength needs a strength"
    if options.init == "content":
        # Retention measures how much of the photograph the optimisation rebuilds; started
        # from the photograph, a pilot keeps all of it at any α/β and the search has nothing
        # to go by. So a --strength run starts from noise, as its calibration did.
        options = dataclasses.replace(options, init="noise")
        warnings.warn(
            Note("--strength starts from noise, not the content image: its pilots measure "
                 "how much of the photograph the optimisation rebuilds"),
            stacklevel=2,
        )  # fmt: skip
    if strength in (0.0, 1.0):
        weights = (alpha, 0.0) if strength == 0.0 else (0.0, 1.0)
        return dataclasses.replace(options, content_weight=weights[0], style_weight=weights[1])
    plan = session.plan
    stage = plan.stage(pilot_size(plan), min(PILOT_ITERATIONS, plan.total))
    layers = options.content_layers
    targets = session.targets(stage, references=True)
    style_similarity = sum(
        w * content_similarity(features, targets, layers) for features, w in targets.references
    )
    target = target_retention(strength)
    samples: list[tuple[float, float]] = []
    warnings.warn(
        Note(
            f"--strength {strength}: finding α/β for this pair with {PILOTS} pilot runs "
            f"at {stage.size} px, {stage.iterations} evaluations each"
        ),
        stacklevel=2,
    )
    ratio = FIRST_RATIO
    for _ in range(PILOTS):
        pilot = dataclasses.replace(options, style_weight=alpha / ratio)
        try:
            outcome = session.run(pilot, cancel=cancel, stages=[stage])
        except Interrupted as stop:
            raise Interrupted(None, stop.iteration) from None
        with torch.no_grad():
            features = session.encoder(outcome.image, list(layers))
        rho = retention(content_similarity(features, targets, layers), style_similarity)
        samples.append((ratio, rho))
        ratio = next_ratio(samples, target)
    pilots = ", ".join(f"{r:.2g} → ρ {rho:.2f}" for r, rho in samples)
    warnings.warn(
        Note(f"--strength {strength} (ρ = {target:.2f}) uses α/β = {ratio:.2g} (pilots: {pilots})"),
        stacklevel=2,
    )
    return dataclasses.replace(options, style_weight=alpha / ratio)
