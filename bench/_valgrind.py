"""Instruction counts under valgrind, for the ``instructions*.py`` scripts.

Each script runs its own loops in a child (``python SCRIPT --child ARGS...``)
under ``valgrind --tool=cachegrind --cache-sim=no`` twice, with two loop
lengths; the difference of the two totals divided by the difference of the
lengths is the count per operation, without the start-up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys


def instructions(script: str, *child_args: str, valgrind: str = "valgrind",
                 timeout: float = 900) -> int:
    """The instructions cachegrind counts for ``python script --child *child_args``."""
    command = [valgrind, "--tool=cachegrind", "--cache-sim=no",
               "--cachegrind-out-file=/dev/null", os.path.realpath(sys.executable), script,
               "--child", *child_args]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         timeout=timeout).stderr
    match = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out}")
    return int(match.group(1).replace(",", ""))
