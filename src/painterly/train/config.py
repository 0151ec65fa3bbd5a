"""The settings of a training run: one frozen value, validated once, read by the API and the
command line alike (each field's ``metadata`` holds its help text and flag)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painterly.config.options import MAX_SEED, TRANSFORMS
from painterly.config.values import read_choice, read_integer, read_number, read_path
from painterly.errors import PainterlyError

MIN_CROP = 16
"""Smallest crop: relu4_1 is 8 times smaller than the image, so 16 px keep 2 × 2 positions to
take a standard deviation over."""
CROP_MULTIPLE = 4
"""The flow squeezes 2 × 2 pixels twice, so a crop's side is a multiple of 4."""
MAX_SIDE = 4096
MAX_COUNT = 10**9
RUN_LENGTH = ("iterations", "checkpoint_every", "sample_every")
"""Fields that say how long to train and how often to write, not what is learnt: a resumed
run may change them."""

Reader = Callable[[Any, str], Any]


def _integer(minimum: int, maximum: int) -> Reader:
    return lambda value, what: read_integer(value, what, minimum, maximum)


def _number(strict: bool, maximum: float = float("inf")) -> Reader:
    return lambda value, what: read_number(value, what, strict=strict, maximum=maximum)


def _setting(default: Any, help: str, read: Reader, **meta: Any) -> Any:
    return field(default=default, metadata={"help": help, "read": read, **meta})


def _folder(what: str, flag: str) -> Any:
    """A required folder setting."""
    help = f"folder of {what} (the images directly in it)"
    return field(metadata={"help": help, "read": read_path, "flag": flag, "metavar": "DIR"})


@dataclass(frozen=True)
class TrainConfig:
    """What an ArtFlow training run learns from and how (An et al. 2021, §4.1: Adam, lr 1e-4
    with inverse decay, batch 4, 256-px crops, content weight 0.1, style weight 1)."""

    content_dir: str = _folder("content photographs", "--content")
    style_dir: str = _folder("style images", "--style")
    width: int = _setting(512, "hidden channels of each coupling network", _integer(1, MAX_SIDE))
    crop: int = _setting(
        256,
        "side of the random square crops, a multiple of 4; an image with a shorter side is "
        "first enlarged to it",
        _integer(MIN_CROP, MAX_SIDE),
    )
    batch: int = _setting(4, "content and style images per iteration", _integer(1, 1024))
    iterations: int = _setting(
        160_000, "iterations in all (counted from the start, also on --resume)",
        _integer(1, MAX_COUNT),
    )  # fmt: skip
    learning_rate: float = _setting(
        1e-4, "Adam's learning rate at the start", _number(True, 1.0), flag="--lr"
    )
    lr_decay: float = _setting(
        5e-5, "d of the inverse decay lr / (1 + d · iteration)", _number(False)
    )
    clip: float = _setting(5.0, "largest gradient norm (clipped beyond)", _number(True))
    content_weight: float = _setting(0.1, "weight of the relu4_1 content loss", _number(False))
    style_weight: float = _setting(
        1.0, "weight of the mean and standard-deviation style loss", _number(False)
    )
    seed: int = _setting(
        0, "seed of the flow's initial rotations, the data order and the crops",
        _integer(0, MAX_SEED),
    )  # fmt: skip
    checkpoint_every: int = _setting(
        1000, "write the checkpoint every N iterations (0: only at the end and on Ctrl-C)",
        _integer(0, MAX_COUNT),
    )  # fmt: skip
    sample_every: int = _setting(
        1000, "draw a sheet of sample stylisations every N iterations (0: never)",
        _integer(0, MAX_COUNT),
    )  # fmt: skip
    transform: str = _setting(
        "adain",
        "feature transform in the latent space",
        lambda value, what: read_choice(value, what, TRANSFORMS),
        choices=TRANSFORMS,
    )

    def __post_init__(self) -> None:
        """Read every field (one sentence for the first that is wrong) and store it
        normalised: whole numbers as int, numbers as float, names in lower case."""
        for f in dataclasses.fields(self):
            value = f.metadata["read"](getattr(self, f.name), flag(f))
            object.__setattr__(self, f.name, value)
        if self.crop % CROP_MULTIPLE:
            raise PainterlyError(
                f"--crop must be a multiple of {CROP_MULTIPLE} (the flow halves the image "
                f"twice), not {self.crop}"
            )
        if not self.content_weight and not self.style_weight:
            raise PainterlyError("--content-weight and --style-weight are both 0: nothing to learn")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-able values."""
        return dataclasses.asdict(self)

    def trajectory(self) -> dict[str, Any]:
        """The settings the weights after any iteration depend on, folders resolved: all but
        :data:`RUN_LENGTH`. Two runs with the same trajectory learn the same weights."""
        settings = {k: v for k, v in self.to_dict().items() if k not in RUN_LENGTH}
        for key in ("content_dir", "style_dir"):
            settings[key] = str(Path(settings[key]).resolve())
        return settings


def flag(f: dataclasses.Field) -> str:
    """The command-line flag of a TrainConfig field: ``--crop``, or its own (``--lr``)."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")
