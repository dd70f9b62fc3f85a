"""The oracles' own virtual environments, built once per machine and shared by every clone.

An oracle whose pins clash with the project's environment (panoptica, nnU-Net, TensorFlow)
runs in a venv of its own under ``~/.cache/napari-liverct/venvs/<name>-<hash>`` (or
``$LIVERCT_VENVS``), where the hash is that of its pip steps and the Python version: a
second clone, or a second session, reuses it; changed requirements make a new one.  It is
built in a temporary folder beside the target under a lock and renamed into place when
complete, so a venv interrupted half-way is never taken for a finished one.  When it cannot
be built (no network) the test is skipped with the reason (failed when ``CI=true``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from realdata import data_dir

__all__ = ["oracle_python", "venvs_dir"]


def venvs_dir() -> Path:
    return Path(os.environ.get("LIVERCT_VENVS") or data_dir() / "venvs")


def _fail_or_skip(msg: str):
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def oracle_python(name: str, steps: list[list[str]], check: str, timeout: float = 1800) -> Path:
    """The python of the venv ``name`` made by ``pip install`` of each of ``steps`` in turn
    (e.g. torch first, so pip keeps the CPU build), built once and reused; ``check`` is a
    Python statement that must run in it (the imports the oracle needs)."""
    key = json.dumps({"python": sys.version_info[:2], "steps": steps}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    root = venvs_dir()
    venv = root / f"{name}-{digest}"
    py = venv / "bin" / "python"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not py.exists():
            tmp = root / f".{venv.name}.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            base = getattr(sys, "_base_executable", sys.executable)
            cmds = [[base, "-m", "venv", str(tmp)]]
            cmds += [[str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", *s] for s in steps]
            for cmd in cmds:
                try:
                    subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
                except (subprocess.SubprocessError, OSError) as exc:
                    err = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")
                    shutil.rmtree(tmp, ignore_errors=True)
                    _fail_or_skip(f"cannot build the oracle venv {venv} ({' '.join(cmd[2:])}): {exc} {err[-400:]}")
            (tmp / "requirements.json").write_text(key + "\n")
            # a venv's scripts name their folder: the rename keeps python itself working (bin/python is a
            # symlink to the base interpreter and pip is run as `python -m pip`), and nothing else is used
            tmp.rename(venv)
    ok = subprocess.run([str(py), "-c", check], capture_output=True)
    if ok.returncode:
        _fail_or_skip(f"oracle venv {venv} is unusable: {ok.stderr.decode(errors='replace')[-300:]}")
    return py
