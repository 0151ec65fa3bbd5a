"""Command line: ``painterly CONTENT STYLE -o OUT [options]`` and ``painterly COMMAND …``.

One module per subcommand, each with a ``command(argv) -> int``; what they share (the
parser, the option flags generated from :class:`~painterly.config.options.Options`, the
progress display) is in :mod:`painterly.commands.common`. User errors print one line and
exit 2.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Sequence

from painterly.commands.common import EXIT_INTERRUPTED, EXIT_USAGE
from painterly.errors import Note, PainterlyError

SUBCOMMANDS = ("weights", "reproduce", "sweep", "serve", "leak")
"""``painterly NAME …`` runs ``painterly.commands.NAME.command``; anything else stylises."""


def _command(name: str) -> Callable[[Sequence[str]], int]:
    # Imported on use, so ``painterly --help`` does not load torch or the studio.
    return importlib.import_module(f"painterly.commands.{name}").command


def _notes_to_stderr(show: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints a :class:`Note` as one line, else calls ``show``."""

    def show_note(message, category, *args, **kwargs) -> None:
        if issubclass(category, Note):
            print(f"painterly: note: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    return show_note


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", Note)
            warnings.showwarning = _notes_to_stderr(warnings.showwarning)
            if name:
                return _command(name)(argv[1:])
            return _command("stylize")(argv)
    except PainterlyError as error:
        print(f"painterly: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\npainterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as done:  # argparse: --help, --version and usage errors
        return done.code if isinstance(done.code, int) else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
