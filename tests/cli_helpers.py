"""What the command-line tests share: running ``painterly`` in-process and checking a
refusal."""

from __future__ import annotations

import unicodedata

from painterly.commands import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``painterly ARGV…`` in this process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(code: int, err: str, *words: str) -> str:
    """Exit 2 with one ``painterly: error:`` line holding ``words`` and no raw controls."""
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert err.startswith("painterly: error: ") and "Traceback" not in err
    assert not any(unicodedata.category(c) == "Cc" for c in err[:-1]), repr(err)
    for word in words:
        assert word in err, err
    return err
