"""Writing files so that a reader never sees half of one: a temporary name beside the
target, synced, then renamed (or hard-linked, so an existing file is never replaced)."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from painterly.errors import PainterlyError


def _current_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which would race with
    # other threads creating files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_atomically(
    target: Path,
    write: Callable[[str], object],
    overwrite: bool = False,
    shown: object = None,
) -> None:
    """Have ``write`` fill a hidden temporary file beside ``target``, then move it there.

    A failed or interrupted write never leaves a partial ``target``; without ``overwrite``
    an existing file is never replaced, not even one that appeared meanwhile. The file gets
    the usual permissions (the umask's), also when ``write`` recreates it. OS errors become
    a PainterlyError naming ``shown`` (default: ``target``); others propagate.
    """
    shown = target if shown is None else shown
    temp_path = None
    try:
        fd, temp_path = tempfile.mkstemp(prefix="." + target.name + ".", dir=target.parent)
        os.close(fd)
        write(temp_path)
        with open(temp_path, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs should not be.
        if overwrite:
            os.replace(temp_path, target)
        else:
            _move_without_replacing(temp_path, target, shown)
        temp_path = None
    except OSError as error:
        if error.errno is None:  # Pillow's "cannot write mode ..." is a programming error.
            raise
        raise PainterlyError(f"Could not write '{shown}' ({os_reason(error)}).") from None
    finally:
        if temp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
    _sync_directory(target.parent)


def _move_without_replacing(source: str, target: Path, shown: object) -> None:
    """Move ``source`` to ``target`` only if ``target`` does not exist, with no race window."""
    exists = PainterlyError(
        f"The output file '{shown}' already exists; pass --overwrite to replace it."
    )
    try:
        os.link(source, target)
    except FileExistsError:
        raise exists from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # No hard links here (FAT, some network shares): reserve the name exclusively, then
        # replace only our own empty placeholder.
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            raise exists from None
        try:
            os.replace(source, target)
        except BaseException:
            os.unlink(target)
            raise
    else:
        os.unlink(source)


def _sync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, hence best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def sibling_path(path: str | os.PathLike[str], tag: str) -> Path:
    """Return ``path`` with ``.tag`` before its extension: ``out/x.png`` → ``out/x.tag.png``.

    Used for intermediate and interrupted-run images, so they sort next to the final output
    and keep its format.
    """
    if not tag or "/" in tag or os.sep in tag:
        raise ValueError(f"tag must be a non-empty file-name part, got {tag!r}")
    path = Path(path)
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(data: dict, path: Path) -> None:
    """Write ``data`` as JSON atomically (temporary file in the same folder, then rename)."""
    text = json.dumps(_jsonable(data), indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    write_atomically(path, lambda temp: Path(temp).write_text(text, encoding="utf-8"), True)


def os_reason(error: BaseException) -> str:
    """The OS or decoder's own words for an error, without errno prefixes."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.rstrip(".")
    return str(error).rstrip(".") or type(error).__name__
