"""Training ArtFlow's projection flow (An et al., "ArtFlow: Unbiased Image Style Transfer via
Reversible Neural Flows", CVPR 2021).

The flow f stylises by z_c = f(c), z_s = f(s), t = T(z_c, z_s), output f⁻¹(t) (§3.1), T being
AdaIN or WCT on the 48-channel latent. It learns from the frozen normalised VGG-19 φ of the
AdaIN decoder (§3.4), without a likelihood term:

    L = λ_c ‖φ₄(f⁻¹(t)) − φ₄(c)‖² + λ_s Σ_i ‖μ(φ_i(f⁻¹(t))) − μ(φ_i(s))‖² + ‖σ(…) − σ(…)‖²

with φ₄ = relu4_1 and i over relu1_1 … relu4_1 (each squared norm a mean), minimised by Adam
with the inverse decay lr_i = lr / (1 + d · i) and gradients clipped to norm 5 (§4.1). ActNorm
takes its data initialisation from the first content batch, in the first forward pass.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch.nn import functional as F

from painterly.engine.runtime import autocast, configure, resolve_precision
from painterly.errors import Interrupted, PainterlyError, Terminated
from painterly.io.files import interrupts_deferred
from painterly.methods.adain import mean_std
from painterly.methods.artflow import TRANSFORMS
from painterly.methods.feedforward import ENCODER_WEIGHTS, Transform
from painterly.models import load_encoder
from painterly.models.artflow import ProjectionFlow
from painterly.models.vgg import VGG19
from painterly.train.config import TrainConfig, flag
from painterly.train.data import image_folder, load_batch, sample_pairs
from painterly.train.store import (
    Checkpoint,
    LossLog,
    TrainPaths,
    check_paths,
    load_checkpoint,
    load_flow,
    save_checkpoint,
    save_flow,
    write_sample_sheet,
)

CONTENT_LAYER = "conv4_1"
"""relu4_1: the VGG module names a convolution's rectified output by the convolution."""
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1")
"""relu1_1, relu2_1, relu3_1, relu4_1."""


def content_loss(output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """L_c = ‖φ₄(output) − φ₄(c)‖², the mean squared difference of the relu4_1 features
    (ArtFlow §3.4, with the content image's own features as the target), in float32."""
    return F.mse_loss(output.float(), content.float())


def style_statistics_loss(
    output: Mapping[str, torch.Tensor],
    style: Mapping[str, torch.Tensor],
    layers: Sequence[str] = STYLE_LAYERS,
) -> torch.Tensor:
    """L_s = Σ_i ‖μ(φ_i(output)) − μ(φ_i(s))‖² + ‖σ(φ_i(output)) − σ(φ_i(s))‖², each a mean
    over samples and channels: AdaIN's style loss (Huang & Belongie 2017, Eq. 12), which
    ArtFlow trains with (§3.4). μ and σ are :func:`~painterly.methods.adain.mean_std`'s."""
    total = torch.zeros((), device=next(iter(output.values())).device)
    for layer in layers:
        output_mean, output_std = mean_std(output[layer])
        style_mean, style_std = mean_std(style[layer])
        total = total + F.mse_loss(output_mean, style_mean) + F.mse_loss(output_std, style_std)
    return total


def stylise(
    flow: ProjectionFlow, content: torch.Tensor, style: torch.Tensor, transform: Transform
) -> torch.Tensor:
    """ArtFlow's transfer f⁻¹(T(f(c), f(s))) (§3.1), with the one flow both ways."""
    return flow.reverse(transform(flow(content), flow(style)))


def learning_rate(config: TrainConfig, iteration: int) -> float:
    """lr / (1 + d · i) at 0-based ``iteration`` i, the reference code's inverse decay."""
    return config.learning_rate / (1.0 + config.lr_decay * iteration)


@dataclass(frozen=True)
class TrainProgress:
    """A report after iteration ``iteration`` of ``total`` (both counted from the start of
    training, also in a resumed run): its weighted losses (``content``, ``style``,
    ``total``), its learning rate, and the seconds ``elapsed`` since this session started
    after iteration ``first``."""

    iteration: int
    total: int
    losses: dict[str, float]
    learning_rate: float
    elapsed: float
    first: int

    @property
    def seconds_per_iteration(self) -> float:
        return self.elapsed / max(1, self.iteration - self.first)

    @property
    def eta(self) -> float:
        """Seconds left, at this session's mean speed."""
        return self.seconds_per_iteration * (self.total - self.iteration)


def train(
    config: TrainConfig,
    output: Path,
    resume: Path | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    device: torch.device | None = None,
    precision: str = "auto",
    overwrite: bool = False,
) -> TrainPaths:
    """Train the flow as ``config`` says and write it to ``output`` (.safetensors).

    With ``resume`` (a checkpoint of a run with the same settings and images), training goes
    on from its iteration and ends with the weights a straight run would have, bit for bit
    on the same device and precision. ``progress`` hears of every iteration. The checkpoint
    is written every ``checkpoint_every`` iterations, at the end, and when the run is
    stopped: Ctrl-C raises :class:`Interrupted` with the iterations done (the checkpoint's),
    SIGTERM and errors propagate. ``precision`` (auto, fp32, bf16) is that of the networks'
    convolutions; the flow's parameters and 1 × 1 convolutions stay float32. Existing
    outputs are replaced only with ``overwrite`` or ``resume``. Returns where it all went.
    """
    device = torch.device("cpu") if device is None else device
    paths = check_paths(TrainPaths.beside(Path(output)), overwrite or resume is not None)
    content = image_folder(config.content_dir, "content")
    style = image_folder(config.style_dir, "style")
    datasets = {"content": content.fingerprint(), "style": style.fingerprint()}
    dtype = resolve_precision(precision, device)
    configure(device)
    flow = ProjectionFlow(config.width, seed=config.seed).to(device).train()
    optimizer = torch.optim.Adam(flow.parameters(), lr=config.learning_rate)
    start, seconds, records = 0, 0.0, 0
    if resume is not None:
        checkpoint = load_checkpoint(Path(resume))
        flags = {f.name: flag(f) for f in fields(TrainConfig)}
        checkpoint.check_matches(config.trajectory(), datasets, flags)
        if checkpoint.iteration >= config.iterations:
            raise PainterlyError(
                f"The checkpoint is at iteration {checkpoint.iteration} already; give"
                f" --iterations more than that to train on."
            )
        flow.load_state_dict(checkpoint.model)
        optimizer.load_state_dict(checkpoint.optimizer)
        start, seconds, records = checkpoint.iteration, checkpoint.seconds, checkpoint.log_records
    encoder = load_encoder(ENCODER_WEIGHTS, "max", "reflect", CONTENT_LAYER, device)
    samples = sample_pairs(content, style, config.crop) if config.sample_every else None
    transform = TRANSFORMS[config.transform]
    session = time.perf_counter()
    done = start
    with LossLog(paths.log, start, records) as log:

        def save() -> None:
            elapsed = seconds + time.perf_counter() - session
            state = (flow.state_dict(), optimizer.state_dict())
            record = Checkpoint(done, elapsed, config.trajectory(), datasets, log.records, *state)
            save_checkpoint(paths.checkpoint, record)

        def export() -> None:
            info = {
                "config": json.dumps(config.to_dict()),
                "iterations": str(done),
                "content_dir": str(content.path),
                "style_dir": str(style.path),
            }
            save_flow(flow, paths.model, info, overwrite or resume is not None)

        try:
            for i in range(start, config.iterations):
                photos, paintings = load_batch(
                    content, style, config.seed, i, config.batch, config.crop
                )
                losses = _gradients(
                    flow, encoder, photos.to(device), paintings.to(device), config, dtype
                )
                if not math.isfinite(losses["total"]):
                    raise PainterlyError(
                        f"The loss became {losses['total']} at iteration {i + 1}; train again"
                        " with a lower --lr."
                    )
                lr = learning_rate(config, i)
                # Ctrl-C waits for the step and its record, so the checkpoint is one state.
                with interrupts_deferred():
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    optimizer.step()
                    done = i + 1
                    elapsed = seconds + time.perf_counter() - session
                    log.write({"iteration": done, **losses, "lr": lr, "seconds": round(elapsed, 3)})
                if config.checkpoint_every and done % config.checkpoint_every == 0:
                    save()
                if samples and (done % config.sample_every == 0 or done == config.iterations):
                    sheet = _sample(flow, samples[0].to(device), samples[1].to(device), transform)
                    write_sample_sheet(paths.sample(done), *samples, sheet)
                if progress is not None:
                    now = time.perf_counter() - session
                    progress(TrainProgress(done, config.iterations, losses, lr, now, start))
        except (KeyboardInterrupt, Terminated, PainterlyError) as stop:
            save()
            if isinstance(stop, PainterlyError):
                raise
            # A stopped run leaves a usable model of what it has learnt, beside the
            # checkpoint it resumes from.
            if done > start:
                export()
            if isinstance(stop, KeyboardInterrupt):
                raise Interrupted(None, done) from None
            raise
        if not config.checkpoint_every or done % config.checkpoint_every:
            save()
        export()
    return paths


def _gradients(
    flow: ProjectionFlow,
    encoder: VGG19,
    content: torch.Tensor,
    style: torch.Tensor,
    config: TrainConfig,
    dtype: torch.dtype,
) -> dict[str, float]:
    """The gradients of L on one batch, clipped to norm ``config.clip``; the weighted terms.

    The flow itself is not changed, but for ActNorm's initialisation in the first pass.
    """
    device = content.device
    with autocast(device, dtype):
        stylised = stylise(flow, content, style, TRANSFORMS[config.transform])
        features = encoder(stylised, STYLE_LAYERS)
        with torch.no_grad():
            target = encoder(content, [CONTENT_LAYER])[CONTENT_LAYER]
            style_features = encoder(style, STYLE_LAYERS)
    content_term = config.content_weight * content_loss(features[CONTENT_LAYER], target)
    style_term = config.style_weight * style_statistics_loss(features, style_features)
    total = content_term + style_term
    flow.zero_grad(set_to_none=True)
    total.backward()
    torch.nn.utils.clip_grad_norm_(flow.parameters(), config.clip)
    return {"content": content_term.item(), "style": style_term.item(), "total": total.item()}


def _sample(
    flow: ProjectionFlow, content: torch.Tensor, style: torch.Tensor, transform: Transform
) -> torch.Tensor:
    """The sample pairs stylised in eval mode and float32, without gradients."""
    flow.eval()
    try:
        with torch.no_grad():
            return stylise(flow, content, style, transform)
    finally:
        flow.train()


__all__ = [
    "TrainConfig",
    "TrainPaths",
    "TrainProgress",
    "content_loss",
    "learning_rate",
    "load_flow",
    "style_statistics_loss",
    "stylise",
    "train",
]
