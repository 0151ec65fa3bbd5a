"""The one exception type for mistakes a user can fix, the ones for a stopped run, and how a
user's file name is shown in a message."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


class PainterlyError(Exception):
    """A problem caused by the user's input (path, image, option, size).

    Front ends show ``str(error)`` as one sentence and exit with status 2; anything
    else that is raised is a programming error and keeps its traceback.
    """


class Interrupted(Exception):
    """A run was stopped (Ctrl-C, or its :class:`~painterly.engine.optimize.Cancel` set).

    ``best`` is the best image so far as a PIL image, finished like a result, or None when
    the run had none yet (it was stopped during the strength pilots or before a
    feed-forward pass); ``iteration`` is how many evaluations had been made.
    """

    def __init__(self, best: Image.Image | None, iteration: int) -> None:
        super().__init__(f"interrupted at iteration {iteration}")
        self.best = best
        self.iteration = iteration


class Note(UserWarning):
    """Something the user should know that does not stop the run (a mask resized to fit).

    Issued with :func:`warnings.warn`; the CLI prints it as one ``painterly: note:`` line.
    """


class Terminated(BaseException):
    """The process was asked to end (SIGTERM): raised by the command line's signal handler.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it on its
    way out, while every ``finally`` on the way (a temporary file's removal) still runs; unlike
    KeyboardInterrupt it does not make a run stop early and keep its best image.
    """


# Code points that move the cursor, end a line or reorder text on a terminal: C0 and C1
# controls (ESC starts every escape sequence), DEL, the line and paragraph separators, lone
# surrogates (undecodable bytes of a file name, which a strict stream cannot even encode) and
# the bidirectional formatting marks that can make a name read as another.
_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if unicodedata.category(char) not in ("Cc", "Cs", "Zl", "Zp") and ord(char) not in _BIDI:
        return char
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``str(value)`` with control characters written as visible escapes (``\\n``, ``\\x1b``).

    Every file name or other user-given text that goes into a message passes through here, so
    a message is always one line and no escape sequence in a name reaches the terminal. Other
    characters, accented letters and spaces included, are kept as they are.
    """
    text = str(value)
    if text.isascii() and text.isprintable():
        return text
    return "".join(map(_escaped, text))
