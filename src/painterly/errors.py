"""The one exception type for mistakes a user can fix, and the one for a stopped run."""

from __future__ import annotations

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
