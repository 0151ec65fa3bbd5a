"""What a training run writes, each file atomically (a temporary file beside it, synced, then
renamed): the checkpoint that resumes it, the model file a stylisation loads, the loss log
and the sample sheets.

For ``-o NAME.safetensors`` they are ``NAME.ckpt``, ``NAME-losses.jsonl`` and
``NAME-samples/iter-NNNNNN.png`` beside it.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from PIL import Image

from painterly.errors import Note, PainterlyError, printable
from painterly.io.files import check_output_folder, check_target, os_reason, write_atomically
from painterly.io.images import save_image, to_image
from painterly.models.artflow import ProjectionFlow

MODEL_FORMAT = "painterly-artflow-1"
"""The ``format`` of a trained flow's safetensors metadata."""
CHECKPOINT_FORMAT = "painterly-artflow-checkpoint-1"
SHEET_GAP = 2
"""Pixels of white between the pictures of a sample sheet."""


@dataclass(frozen=True)
class TrainPaths:
    """Where a run with the model file ``model`` writes."""

    model: Path
    checkpoint: Path
    log: Path
    samples: Path

    @classmethod
    def beside(cls, model: Path) -> TrainPaths:
        stem = model.with_suffix("")
        return cls(
            model,
            model.with_suffix(".ckpt"),
            Path(f"{stem}-losses.jsonl"),
            Path(f"{stem}-samples"),
        )

    def sample(self, iteration: int) -> Path:
        return self.samples / f"iter-{iteration:06d}.png"


def check_paths(paths: TrainPaths, replace: bool) -> TrainPaths:
    """Check, before any work, that every output may be written (without ``replace``, none
    may exist yet); return the paths with their folders resolved."""
    if paths.model.suffix.lower() != ".safetensors":
        raise PainterlyError(
            f"The output file '{printable(paths.model)}' must end in .safetensors."
        )
    model = check_target(paths.model, replace)
    checked = TrainPaths.beside(model)
    check_target(checked.checkpoint, replace)
    check_target(checked.log, replace)
    check_output_folder(checked.samples)
    if not replace and checked.samples.is_dir() and any(checked.samples.iterdir()):
        raise PainterlyError(
            f"The sample folder '{printable(checked.samples)}' is not empty; pass --overwrite to"
            " replace its sheets."
        )
    return checked


@dataclass(frozen=True)
class Checkpoint:
    """A run after ``iteration`` iterations and ``seconds`` of training: the flow's and
    Adam's states, the settings it learnt with (:meth:`TrainConfig.trajectory`), the
    fingerprints of its image folders and how many records its loss log held."""

    iteration: int
    seconds: float
    trajectory: dict[str, Any]
    datasets: dict[str, str]
    log_records: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]

    def check_matches(
        self, trajectory: dict[str, Any], datasets: dict[str, str], flags: dict[str, str]
    ) -> None:
        """Refuse, in one sentence, to resume with other settings or other images than the
        checkpoint's; ``flags`` names each setting's command-line flag."""
        for key, value in self.trajectory.items():
            if trajectory.get(key) != value:
                raise PainterlyError(
                    f"The checkpoint was made with {flags.get(key, key)} {printable(value)}, not"
                    f" {printable(trajectory.get(key))}; resume with the settings it was made"
                    " with."
                )
        for role, digest in self.datasets.items():
            if datasets.get(role) != digest:
                raise PainterlyError(
                    f"The {role} folder's images have changed since the checkpoint was made"
                    " (files added, removed or resized); resume with the same images."
                )


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    data = {"format": CHECKPOINT_FORMAT, **vars(checkpoint)}
    write_atomically(path, lambda temp: torch.save(data, temp), overwrite=True)


def load_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint at ``path``, read without running pickled code."""
    shown = f"The checkpoint '{printable(path)}'"
    if not path.is_file():
        raise PainterlyError(f"{shown} does not exist or is not a file.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged or foreign file
        raise PainterlyError(f"{shown} cannot be read ({_reason(error)}).") from None
    try:
        if data.pop("format") != CHECKPOINT_FORMAT:
            raise ValueError
        return Checkpoint(**data)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise PainterlyError(f"{shown} is not a painterly ArtFlow checkpoint.") from None


def save_flow(
    flow: ProjectionFlow,
    path: Path,
    info: dict[str, str],
    overwrite: bool,
    dtype: torch.dtype = torch.float32,
) -> None:
    """Write the flow's state (floating point as ``dtype``: float16 halves a shipped file) as
    safetensors, with its shape (width, blocks, steps), :data:`MODEL_FORMAT` and ``info`` as
    metadata. :func:`load_flow` computes in float32 whatever the file holds, so the flow stays
    exactly invertible."""
    tensors = {
        key: (value.to(dtype) if value.is_floating_point() else value).detach().cpu().contiguous()
        for key, value in flow.state_dict().items()
    }
    metadata = {
        **info,
        "format": MODEL_FORMAT,
        "width": str(flow.width),
        "blocks": str(flow.blocks_count),
        "steps": str(flow.steps_count),
    }
    write_atomically(
        path, lambda temp: safetensors.torch.save_file(tensors, temp, metadata), overwrite
    )


def load_flow(path: str | os.PathLike[str]) -> ProjectionFlow:
    """The trained flow in the model file ``path`` (see :func:`save_flow`), in eval mode."""
    shown = f"The ArtFlow model '{printable(path)}'"
    if not Path(path).is_file():
        raise PainterlyError(f"{shown} does not exist or is not a file.")
    try:
        with safetensors.safe_open(os.fspath(path), "pt") as file:
            metadata = file.metadata() or {}
        state = safetensors.torch.load_file(path)
    except Exception as error:  # safetensors raises several types for a damaged file
        raise PainterlyError(f"{shown} cannot be read ({_reason(error)}).") from None
    if metadata.get("format") != MODEL_FORMAT:
        raise PainterlyError(f"{shown} is not a painterly ArtFlow model file.")
    try:
        flow = ProjectionFlow(
            int(metadata["width"]), int(metadata["blocks"]), int(metadata["steps"])
        )
        flow.load_state_dict(state, strict=True)
    except (KeyError, ValueError, RuntimeError) as error:
        raise PainterlyError(f"{shown} is damaged ({_reason(error)}).") from None
    return flow.eval()


class LossLog:
    """The losses as JSON lines, one record per iteration, each flushed as it is written so a
    stopped run keeps its record up to its last iteration."""

    def __init__(self, path: Path, keep: int, expected: int) -> None:
        """Open ``path`` after its records of iterations 1 … ``keep`` (0: an empty log).

        Later records, from a run that went on past the checkpoint being resumed, are
        dropped, so no iteration is logged twice; a Note says if fewer than ``expected``
        remain (the log was edited or lost).
        """
        lines = _records_up_to(path, keep) if keep else []
        if len(lines) < expected:
            warnings.warn(
                f"the loss log '{printable(path)}' holds {len(lines)} of the checkpoint's"
                f" {expected} records; the new ones follow them",
                Note,
                stacklevel=2,
            )
        text = "".join(line + "\n" for line in lines)
        write_atomically(path, lambda temp: Path(temp).write_text(text, "utf-8"), overwrite=True)
        self.records = len(lines)
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, float | int]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self.records += 1

    def __enter__(self) -> LossLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def _reason(error: BaseException) -> str:
    """A library's words for an error as one short line (torch's can span many)."""
    return printable(" ".join(os_reason(error).split())[:200])


def _records_up_to(path: Path, iteration: int) -> list[str]:
    """The lines of the log at ``path`` whose iteration is at most ``iteration``; a line cut
    short by a killed process is left out."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        raise PainterlyError(
            f"The loss log '{printable(path)}' cannot be read ({os_reason(error)})."
        ) from None
    kept = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        step = record.get("iteration") if isinstance(record, dict) else None
        if isinstance(step, int) and step <= iteration:
            kept.append(line)
    return kept


def write_sample_sheet(
    path: Path, content: torch.Tensor, style: torch.Tensor, stylised: torch.Tensor
) -> None:
    """A grid with one row per pair: content, style, stylised (each N×3×H×W in [0, 1])."""
    side = content.shape[-1]
    step = side + SHEET_GAP
    rows = content.shape[0]
    sheet = Image.new("RGB", (3 * step - SHEET_GAP, rows * step - SHEET_GAP), "white")
    for row in range(rows):
        for column, images in enumerate((content, style, stylised)):
            sheet.paste(to_image(images[row]), (column * step, row * step))
    try:
        path.parent.mkdir(exist_ok=True)
    except OSError as error:
        raise PainterlyError(
            f"The sample folder '{printable(path.parent)}' cannot be made ({os_reason(error)})."
        ) from None
    save_image(sheet, path, overwrite=True)
