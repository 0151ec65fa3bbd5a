"""A session: one plan, its inputs and its encoder, and everything an image optimisation
needs from them: the targets of a stage (cached by size), the objective, the start image,
and the loop over a schedule's stages.

``painterly.methods.gatys.run``, the strength pilots and ``painterly sweep`` are short loops
over one session, so they cannot differ in anything the session decides: a sweep cell is
the run of its printed command by construction.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.nn import functional as F

from painterly.config.options import DERIVED_INITS, Options
from painterly.controls.inputs import Inputs
from painterly.engine.objective import Objective
from painterly.engine.optimize import LBFGS_HISTORY, Cancel, Outcome, Progress, Span, optimize
from painterly.engine.plan import Plan, StagePlan
from painterly.engine.runtime import configure
from painterly.engine.targets import Targets, compute_targets
from painterly.engine.tiles import TILED_HISTORY
from painterly.engine.tiling import TiledObjective
from painterly.errors import Interrupted
from painterly.io.images import load_image, to_image, to_tensor
from painterly.models import load_encoder
from painterly.models.vgg import VGG19

NOISE_AMPLITUDE = 0.1

DerivedStart = Callable[[str, Plan, StagePlan], torch.Tensor]
"""Makes the start image of an ``--init`` that is another run's result (``adain``, ``gatys``:
:data:`~painterly.config.options.DERIVED_INITS`) for a stage (see
:mod:`painterly.methods.gatys`)."""


def initial_image(
    options: Options,
    content: torch.Tensor,
    style_image: Image.Image,
    derived: Callable[[], torch.Tensor] | None = None,
) -> torch.Tensor:
    """White noise (the paper), the content, the style stretched to the output, another
    run's result (``derived()``: the AdaIN pass, or a plain gatys run), or a file.

    The noise is uniform in mid-grey ± NOISE_AMPLITUDE / 2: full-range noise leaves
    speckles that L-BFGS takes hundreds of evaluations to remove (the losses barely see
    single-pixel detail), while low-amplitude white noise starts as unbiased and ends clean.
    """
    _, _, h, w = content.shape
    if options.init in DERIVED_INITS:
        if derived is None:
            raise ValueError(f"init {options.init} needs the callable that makes its start")
        start = derived()
        if start.shape[-2:] != (h, w):
            start = F.interpolate(start, size=(h, w), mode="bicubic", align_corners=False)
        return start.clamp(0.0, 1.0).to(content.device)
    if options.init == "noise":
        generator = torch.Generator().manual_seed(options.seed)
        noise = torch.rand(content.shape, generator=generator)
        return (0.5 + NOISE_AMPLITUDE * (noise - 0.5)).to(content.device)
    if options.init == "content":
        return content.clone()
    source = style_image if options.init == "style" else load_image(options.init, "init image")
    return to_tensor(source.resize((w, h), Image.Resampling.LANCZOS)).to(content.device)


def finishing(options: Options) -> Options:
    """The options of a schedule's last stage: ``finish_tv`` added to the TV weight.

    A TV term in every stage smooths the coarse stages too, and their smoothing is then
    upsampled into every later one, at a cost in the style's detail; in the last stage only
    it removes the isolated pixels and faint mesh that the full-size stage adds, and the
    loss it costs is about nothing (docs/quality.md).
    """
    if not options.finish_tv:
        return options
    return dataclasses.replace(options, tv_weight=options.tv_weight + options.finish_tv)


class Session:
    """The encoder, targets and optimisation of one plan over one set of inputs.

    ``content_layers`` and ``style_layers`` are the layers the targets hold (default: the
    plan's options'); a sweep asks for every layer any of its cells reads. ``derive`` makes
    the start image of ``--init adain`` and ``--init gatys``. The options given to
    :meth:`run` may differ from the plan's in what the objective and the start read (α, β,
    layers, init), never in the device, precision or sizes, which are the plan's.
    """

    def __init__(
        self,
        plan: Plan,
        inputs: Inputs,
        *,
        content_layers: Sequence[str] | None = None,
        style_layers: Sequence[str] | None = None,
        derive: DerivedStart | None = None,
        encoder: VGG19 | None = None,
    ) -> None:
        o = plan.options
        configure(plan.device)
        torch.manual_seed(o.seed)
        self.plan = plan
        self.inputs = inputs
        self.content_layers = list(o.content_layers if content_layers is None else content_layers)
        self.style_layers = list(o.style_layers if style_layers is None else style_layers)
        self.derive = derive
        self.encoder = encoder or load_encoder(
            o.weights, o.pooling, o.padding, plan.last_layer, plan.device
        )
        self._targets: dict[tuple, Targets] = {}

    def targets(self, stage: StagePlan, references: bool = False) -> Targets:
        """The targets at ``stage``'s sizes, computed once per size (``references``: with
        the "all style" features that ``--strength`` measures against)."""
        key = (stage.output, stage.styles)
        cached = self._targets.get(key)
        if cached is None or (references and not cached.references):
            cached = compute_targets(
                self.encoder, self.inputs, stage.output, stage.styles, self.content_layers,
                self.style_layers, self.plan.device, self.plan.dtype, references=references,
                style_loss=self.plan.options.style_loss, seed=self.plan.options.seed,
                tile=stage.tile,
            )  # fmt: skip
            self._targets[key] = cached
        return cached

    def objective(self, stage: StagePlan, options: Options) -> Objective:
        """The objective of ``stage``: tile by tile when the plan tiles it."""
        if stage.tile is not None:
            return TiledObjective(
                self.encoder, self.targets(stage), options, self.plan.dtype, stage.tile,
                stage.kept,
            )  # fmt: skip
        return Objective(self.encoder, self.targets(stage), options, self.plan.dtype)

    def start(
        self, stage: StagePlan, options: Options, previous: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The first stage's start image (``options.init``), or ``previous`` (the last
        stage's result) upsampled to this stage's size."""
        targets = self.targets(stage)
        if previous is not None:
            w, h = stage.output
            return F.interpolate(previous, size=(h, w), mode="bicubic", align_corners=False)
        derive = self.derive
        make = (lambda: derive(options.init, self.plan, stage)) if derive is not None else None
        return initial_image(options, targets.content_image, targets.first_style, make)

    def run(
        self,
        options: Options | None = None,
        callback: Callable[[Progress], None] | None = None,
        cancel: Cancel | None = None,
        stages: Sequence[StagePlan] | None = None,
    ) -> Outcome:
        """Run ``stages`` (default: the plan's schedule) in turn with ``options`` (default:
        the plan's), each stage from the last one's result upsampled.

        The outcome's image is the final one as the losses saw it (with masks: the content
        outside the regions), before ``inputs.finish``; its losses are the last stage's,
        its iterations and seconds those of all stages together.

        Raises:
            Interrupted: ``cancel`` was set or Ctrl-C pressed; its ``best`` is the best
                image so far, finished like a result (colours restored, smoothed).
        """
        options = options or self.plan.options
        stages = self.plan.stages if stages is None else stages
        total = sum(stage.iterations for stage in stages)
        started = time.perf_counter()
        done, seconds, image, losses = 0, 0.0, None, {}
        for stage in stages:
            last = stage is stages[-1]
            objective = self.objective(stage, finishing(options) if last else options)

            def render(x: torch.Tensor, objective: Objective = objective) -> Image.Image:
                return self.inputs.finish(to_image(objective.compose(x)))

            outcome = optimize(
                self.start(stage, options, image),
                objective,
                optimizer=options.optimizer,
                iterations=stage.iterations,
                learning_rate=options.learning_rate,
                lbfgs_restart=options.lbfgs_restart,
                history=LBFGS_HISTORY if stage.tile is None else TILED_HISTORY,
                average=options.average,
                pyramid=options.pyramid,
                callback=callback,
                render=render,
                span=Span(stage.index, len(stages), stage.output, done, total),
                started=started,
                cancel=cancel,
            )
            done, seconds = done + outcome.iterations, seconds + outcome.seconds
            if outcome.stopped:
                x = objective.compose(outcome.image)
                final = self.inputs.final(to_image(x, options.bit_depth))
                raise Interrupted(final, done)
            image, losses = objective.compose(outcome.image), outcome.losses
        assert image is not None, "a schedule has at least one stage"
        return Outcome(image, losses, done, seconds)
