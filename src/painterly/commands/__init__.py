"""Command line: ``painterly CONTENT STYLE -o OUT [options]`` and ``painterly COMMAND …``.

One module per subcommand, each with a ``command(argv) -> int``; what they share (the
parser, the option flags generated from :class:`~painterly.config.options.Options`, the
progress display) is in :mod:`painterly.commands.common`. User errors print one line and
exit 2; Ctrl-C at any moment prints one line and exits 130, SIGTERM 143.

This module imports nothing heavy: a Ctrl-C while a subcommand loads torch must still
arrive inside :func:`main`'s handlers.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence

from painterly.errors import Note, PainterlyError, Terminated, printable

EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM
"""Exit statuses: a user error, and a shell's for a process ended by SIGINT or SIGTERM."""

SUBCOMMANDS = ("weights", "reproduce", "sweep", "serve", "leak", "train", "video", "batch")
"""``painterly NAME …`` runs ``painterly.commands.NAME.command``; anything else stylises."""


def _command(name: str) -> Callable[[Sequence[str]], int]:
    # Imported on use, so ``painterly --help`` does not load the studio.
    return importlib.import_module(f"painterly.commands.{name}").command


def say_stopped(text: str) -> None:
    """Print why a run stopped as one ``painterly: …`` line on stderr.

    On a terminal it starts on a new line, after the progress line or the ``^C`` echo.
    """
    start = "\n" if sys.stderr.isatty() else ""
    print(f"{start}painterly: {printable(text)}", file=sys.stderr, flush=True)


def _notes_to_stderr(show: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints a :class:`Note` as one line, else calls ``show``."""

    def show_note(message, category, *args, **kwargs) -> None:
        if issubclass(category, Note):
            print(f"painterly: note: {printable(message)}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    return show_note


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` inside, so that ``finally`` blocks (a temporary
    file's removal) run before the process ends; the previous handler is put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _dispatch(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    with _sigterm_raises(), warnings.catch_warnings():
        warnings.simplefilter("always", Note)
        warnings.showwarning = _notes_to_stderr(warnings.showwarning)
        if name:
            return _command(name)(argv[1:])
        return _command("stylize")(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the status to exit with (also the console script's entry)."""
    try:
        return _dispatch(argv)
    except PainterlyError as error:
        print(f"painterly: error: {printable(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        say_stopped("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        say_stopped("terminated")
        return EXIT_TERMINATED
    except SystemExit as done:  # argparse: --help, --version and usage errors
        return done.code if isinstance(done.code, int) else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
