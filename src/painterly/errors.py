"""The one exception type for mistakes a user can fix."""


class PainterlyError(Exception):
    """A problem caused by the user's input (path, image, option, size).

    Front ends show ``str(error)`` as one sentence and exit with status 2; anything
    else that is raised is a programming error and keeps its traceback.
    """


class Interrupted(Exception):
    """The user stopped a run (Ctrl-C); ``best`` is the best image so far, if any.

    ``best`` is whatever the layer that raised it had: the optimiser stores the tensor,
    the method turns it into a PIL image before passing the exception on.
    """

    def __init__(self, best: object, iteration: int) -> None:
        super().__init__(f"interrupted at iteration {iteration}")
        self.best = best
        self.iteration = iteration


class Note(UserWarning):
    """Something the user should know that does not stop the run (a mask resized to fit).

    Issued with :func:`warnings.warn`; the CLI prints it as one ``painterly: note:`` line.
    """
