"""ArtFlow's training data (An et al. 2021, §4.1): random square crops of the images in a
folder of photographs and a folder of paintings, taken as they are (not resized first).

Which images iteration i takes and where it crops them depend only on the seed and i, so a
resumed run sees exactly the batches of a straight one without saving any random state. The
images are taken in a fresh shuffle per pass over each folder (an epoch), as the reference
code's infinite sampler does, so each is seen once per pass.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from painterly.errors import PainterlyError, printable
from painterly.io.files import os_reason
from painterly.io.images import load_image, long_side_size, to_tensor
from painterly.models.normalize import IMAGE_SUFFIXES

SAMPLE_PAIRS = 3
"""Content–style pairs on a sample sheet: the first images of each folder."""
CENTRE = (0.5, 0.5)


@dataclass(frozen=True)
class ImageFolder:
    """The image files directly in one folder, in name order, each known to decode."""

    path: Path
    files: tuple[Path, ...]
    role: str

    def fingerprint(self) -> str:
        """A digest of the file names and sizes: another set of images gives another order."""
        digest = hashlib.sha256()
        for file in self.files:
            digest.update(f"{file.name}\0{file.stat().st_size}\0".encode("utf-8", "replace"))
        return digest.hexdigest()


def image_folder(path: str | os.PathLike[str], role: str) -> ImageFolder:
    """The images of the ``role`` ("content", "style") folder at ``path``.

    Every image is decoded once here, so a damaged file is refused now, by name, rather than
    hours into the run. Files of other types (no image suffix, hidden) are left out.
    """
    folder = Path(path)
    shown = f"The {role} folder '{printable(path)}'"
    if not folder.exists():
        raise PainterlyError(f"{shown} does not exist.")
    if not folder.is_dir():
        raise PainterlyError(f"{shown} is not a folder.")
    try:
        files = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
    except OSError as error:
        raise PainterlyError(f"{shown} cannot be read ({os_reason(error)}).") from None
    if not files:
        raise PainterlyError(f"{shown} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    for file in files:
        load_image(file, f"{role} image")
    return ImageFolder(folder.resolve(), tuple(files), role)


def crop_square(image: Image.Image, crop: int, where: tuple[float, float]) -> torch.Tensor:
    """A ``crop`` × ``crop`` square of ``image`` (3×crop×crop in [0, 1]).

    ``where`` = (x, y) in [0, 1) places it: 0 at the left (top) edge, towards 1 at the right
    (bottom). An image whose short side is under ``crop`` is first enlarged to it.
    """
    if min(image.size) < crop:
        image = image.resize(long_side_size(image.size, crop, "short"), Image.Resampling.LANCZOS)
    width, height = image.size
    left = min(int(where[0] * (width - crop + 1)), width - crop)
    top = min(int(where[1] * (height - crop + 1)), height - crop)
    return to_tensor(image.crop((left, top, left + crop, top + crop)))[0]


@dataclass(frozen=True)
class Draw:
    """What one iteration takes: the indices of its content and style images and where in
    each it crops (see :func:`crop_square`)."""

    content: tuple[int, ...]
    style: tuple[int, ...]
    content_at: tuple[tuple[float, float], ...]
    style_at: tuple[tuple[float, float], ...]


def draw(seed: int, iteration: int, batch: int, contents: int, styles: int) -> Draw:
    """The images and crops of 0-based ``iteration``, from ``contents`` and ``styles``
    images: a function of its arguments alone."""
    generator = torch.Generator().manual_seed(_key(seed, "crops", iteration))
    where = torch.rand(2, batch, 2, generator=generator, dtype=torch.float64).tolist()
    return Draw(
        _in_epochs(seed, "content", contents, iteration, batch),
        _in_epochs(seed, "style", styles, iteration, batch),
        tuple((x, y) for x, y in where[0]),
        tuple((x, y) for x, y in where[1]),
    )


def load_batch(
    content: ImageFolder, style: ImageFolder, seed: int, iteration: int, batch: int, crop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The content and style crops of ``iteration`` (each batch×3×crop×crop)."""
    taken = draw(seed, iteration, batch, len(content.files), len(style.files))
    return (
        _crops(content, taken.content, taken.content_at, crop),
        _crops(style, taken.style, taken.style_at, crop),
    )


def sample_pairs(
    content: ImageFolder, style: ImageFolder, crop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed pairs of a sample sheet: centre crops of the first images of each folder."""
    count = min(SAMPLE_PAIRS, len(content.files), len(style.files))
    indices = tuple(range(count))
    return (
        _crops(content, indices, (CENTRE,) * count, crop),
        _crops(style, indices, (CENTRE,) * count, crop),
    )


def _crops(
    folder: ImageFolder,
    indices: tuple[int, ...],
    places: tuple[tuple[float, float], ...],
    crop: int,
) -> torch.Tensor:
    role = f"{folder.role} image"
    return torch.stack(
        [
            crop_square(load_image(folder.files[i], role), crop, where)
            for i, where in zip(indices, places, strict=True)
        ]
    )


def _in_epochs(seed: int, role: str, count: int, iteration: int, batch: int) -> tuple[int, ...]:
    """The images at positions iteration·batch … (iteration + 1)·batch − 1 of an endless
    sequence of shuffles of ``count`` images, one shuffle per epoch."""
    picks = []
    for position in range(iteration * batch, (iteration + 1) * batch):
        epoch, index = divmod(position, count)
        picks.append(_shuffle(seed, role, epoch, count)[index])
    return tuple(picks)


@functools.lru_cache(maxsize=4)
def _shuffle(seed: int, role: str, epoch: int, count: int) -> tuple[int, ...]:
    generator = torch.Generator().manual_seed(_key(seed, role, epoch))
    return tuple(torch.randperm(count, generator=generator).tolist())


def _key(*parts: object) -> int:
    """A 64-bit generator seed of ``parts``: nearby seeds and iterations get unrelated streams."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")
