"""Run neural-style (neural-style-pt) as its ``neural-style`` command does, in-process.

``python neural_style_main.py ARGS…`` passes ARGS to neural-style unchanged, after
:func:`compat.import_torchvision` (see there why) so that torchvision can be imported.
"""

from __future__ import annotations

import runpy
import sys

import compat

if __name__ == "__main__":
    compat.import_torchvision()
    sys.argv = ["neural-style", *sys.argv[1:]]
    runpy.run_module("neural_style.neural_style", run_name="__main__", alter_sys=True)
