"""Writing files so that a reader never sees half of one: a temporary name beside the
target, synced, then renamed (or hard-linked, so an existing file is never replaced); and the
checks every output gets before the work that fills it."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from painterly.errors import PainterlyError, printable

Inputs = Sequence[tuple[str, str | os.PathLike[str]]]
"""(role, path) of each file a command reads, e.g. ("content image", "photo.jpg")."""

TEMP_MARK = ".painterly-tmp-"
"""In the name of every temporary file painterly makes: ``.NAME.painterly-tmp-PID-XXXXXXXX``."""

# The writer's pid is in the name, so a later writer can tell a file left by a killed process
# (SIGKILL cannot be caught, so nothing removes it) from one another run is still writing.
_TEMP_NAME = re.compile(r"\..*" + re.escape(TEMP_MARK) + r"(\d{1,10})-\w+", re.DOTALL)


def _current_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which would race with
    # other threads creating files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def make_temp(directory: Path, name: str) -> str:
    """Create an empty temporary file for ``name`` in ``directory``; return its path.

    The name is recognisable and holds this process's pid (see :func:`remove_stale_temps`);
    ``name`` is cut to 40 characters so that the whole stays within a file name's limit.
    """
    prefix = f".{name[:40]}{TEMP_MARK}{os.getpid()}-"
    fd, path = tempfile.mkstemp(prefix=prefix, dir=directory)
    os.close(fd)
    return path


def remove_stale_temps(directory: Path) -> None:
    """Remove the temporary files that painterly processes which no longer run left in
    ``directory`` (a SIGKILL, a power cut); files of live processes and others are kept."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match and not _running(int(match.group(1))):
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)


def _running(pid: int) -> bool:
    if os.name != "posix" or pid == os.getpid():
        return True  # Windows' os.kill would end the process instead of asking about it.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # another user's process (EPERM), or no pid at all: not ours to judge
    return True


@contextlib.contextmanager
def interrupts_deferred(redeliver: bool = True) -> Iterator[list[int]]:
    """Hold Ctrl-C (SIGINT) until the block ends, so that a file being written is finished.

    Yields the list of the signals held. At the end of a block that did not raise, a held
    SIGINT is given to the handler that was there before (a KeyboardInterrupt, or an
    enclosing block), unless ``redeliver`` is false: then the caller reports it itself. Only
    the main thread receives signals in Python, so elsewhere this does nothing.
    """
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):  # ignored, or set outside Python: leave it be
        yield held
        return
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and redeliver:
        if callable(previous):
            previous(signal.SIGINT, None)
        else:
            signal.raise_signal(signal.SIGINT)  # SIG_DFL: end the process as it would have


def write_atomically(
    target: Path,
    write: Callable[[str], object],
    overwrite: bool = False,
    shown: object = None,
) -> None:
    """Have ``write`` fill a hidden temporary file beside ``target``, then move it there.

    A failed or interrupted write never leaves a partial ``target``, nor its temporary file
    (SIGTERM and errors remove it; Ctrl-C waits until the file is complete; what a killed
    process left is removed by the next write in the folder). Without ``overwrite`` an
    existing file is never replaced, not even one that appeared meanwhile. The file gets the
    usual permissions (the umask's), also when ``write`` recreates it. OS errors become a
    PainterlyError naming ``shown`` (default: ``target``); others propagate.
    """
    shown = printable(target if shown is None else shown)
    with interrupts_deferred():
        remove_stale_temps(target.parent)
        temp_path = None
        try:
            temp_path = make_temp(target.parent, target.name)
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


def check_target(
    path: str | os.PathLike[str], overwrite: bool = False, inputs: Inputs = ()
) -> Path:
    """Check that a file may be written at ``path``; return it with its folder resolved.

    The checks every output gets before the work that fills it, so that a mistake fails in
    the first second. Refused: a name ending in a separator (``out.png/``: a folder), a
    symbolic link (even with ``overwrite``: it could point anywhere, and a dangling one would
    be written through to its target), a directory, a missing, non-directory or unwritable
    folder, an existing file without ``overwrite``, and any of ``inputs`` (even with
    ``overwrite``: a run never replaces what it reads). Only the folder is resolved, so the
    file itself is never reached through a link.
    """
    text = os.fspath(path)
    path = Path(path)
    if not text:
        raise PainterlyError("The output path is empty; give a file name.")
    if os.path.basename(text) in ("", ".", ".."):
        raise PainterlyError(
            f"The output path '{printable(text)}' names a folder (it ends in a separator, '.'"
            " or '..'); give a file name."
        )
    if path.is_symlink():
        raise PainterlyError(
            f"The output path '{printable(path)}' is a symbolic link; painterly never writes"
            " through a link, even with --overwrite, so give the real file's path."
        )
    if path.is_dir():
        raise PainterlyError(
            f"The output path '{printable(path)}' is a directory; give a file name such as"
            f" '{printable(path / 'stylized.png')}'."
        )
    parent = _resolved(path.parent)
    if not parent.exists():
        raise PainterlyError(
            f"The output directory '{printable(parent)}' does not exist; create it first."
        )
    if not parent.is_dir():
        raise PainterlyError(f"The output path's parent '{printable(parent)}' is not a directory.")
    if not writable(parent):
        raise PainterlyError(f"The output directory '{printable(parent)}' is not writable.")
    target = parent / path.name
    if not overwrite and (target.exists() or target.is_symlink()):
        raise PainterlyError(
            f"The output file '{printable(path)}' already exists; pass --overwrite to replace it."
        )
    refuse_inputs(target, inputs, path)
    return target


def _resolved(folder: Path) -> Path:
    try:
        return folder.resolve()
    except (OSError, RuntimeError):  # Python 3.11 reports a symlink loop as RuntimeError
        raise PainterlyError(
            f"The output directory '{printable(folder)}' cannot be reached (a symbolic link loop)."
        ) from None


def refuse_inputs(target: Path, inputs: Inputs, shown: object = None) -> None:
    """Raise PainterlyError if ``target`` is one of ``inputs`` (the same file, by any name)."""
    for role, given in inputs:
        if same_file(target, given):
            raise PainterlyError(
                f"The output file '{printable(target if shown is None else shown)}' is the"
                f" {role} '{printable(given)}'; painterly never writes over an input, even with"
                " --overwrite, so choose another output name."
            )


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` are one file: by device and inode where both exist (links and
    other spellings included), else by their resolved paths."""
    try:
        return os.path.samefile(a, b)
    except ValueError:  # a NUL in a name: no file has it
        return False
    except OSError:
        pass
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):  # a symbolic link loop: not a file that can be read
        return False


def check_output_folder(folder: Path) -> None:
    """Check that ``folder`` is, or can be created as, a writable folder, without creating it."""
    shown = printable(folder)
    if folder.is_symlink() and not folder.exists():
        raise PainterlyError(f"The output folder '{shown}' is a symbolic link to nothing.")
    if folder.exists():
        if not folder.is_dir():
            raise PainterlyError(f"The output path '{shown}' is a file, not a folder.")
        if not writable(folder):
            raise PainterlyError(f"The output folder '{shown}' is not writable.")
        return
    ancestor = folder.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not writable(ancestor):
        raise PainterlyError(
            f"The output folder '{shown}' cannot be created: '{printable(ancestor)}' is"
            f" {'not writable' if ancestor.is_dir() else 'a file, not a folder'}."
        )


def writable(directory: Path) -> bool:
    """Whether a file can be created in ``directory``, tried with a temporary file."""
    # os.access trusts mode bits, which root ignores and which miss read-only mounts and ACLs.
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    try:
        probe = make_temp(directory, "painterly-probe")
    except OSError:
        return False
    os.unlink(probe)
    return True


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
