"""Running ``napari-liverct`` as a user does, in a process of its own, on this checkout's code.

``CLI_ENV`` is the environment with this checkout's ``src`` first on ``PYTHONPATH`` (so a
worktree or a fresh clone tests its own code, not another editable install);
``run_cli(*args)`` runs the command line with it and returns the finished process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

CLI_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}


def cli_command(*args) -> list[str]:
    """The argv of ``napari-liverct ARGS...`` with this interpreter."""
    return [sys.executable, "-c", "import sys; from napari_liverct.cli import main; sys.exit(main())", *map(str, args)]


def run_cli(*args, timeout: float = 300, text: bool = False) -> subprocess.CompletedProcess:
    """Run ``napari-liverct ARGS...`` to completion; stdout and stderr captured."""
    return subprocess.run(cli_command(*args), capture_output=True, text=text, env=CLI_ENV, timeout=timeout)
