"""Make sure Qt has a display with OpenGL: the real one, or a virtual Xvfb screen.

``QT_QPA_PLATFORM=offscreen`` has no OpenGL on these machines, so a napari viewer
cannot add layers there; Xvfb with Mesa can.  ``ensure_display`` starts Xvfb when
there is no ``DISPLAY`` and returns a handle that stops it at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import time
from pathlib import Path

__all__ = ["ensure_display", "has_display"]

_XVFB: subprocess.Popen | None = None


def has_display() -> bool:
    """True when an X11 or Wayland display is set."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def ensure_display(size: str = "1600x1000x24") -> bool:
    """Start Xvfb on a free display number when none is set.

    Returns
    -------
    bool
        True when a virtual display was started by this call (so the caller knows
        there is no person looking, and should write screenshots instead).

    Raises
    ------
    RuntimeError
        When there is no display and Xvfb is not installed.
    """
    global _XVFB
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        os.environ.pop("QT_QPA_PLATFORM")
    if has_display():
        return False
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError(
            "No display and no Xvfb: install it (apt-get install xvfb libgl1-mesa-dri "
            "libxcb-cursor0) or run scripts/setup.sh"
        )
    for num in range(99, 160):
        if Path(f"/tmp/.X{num}-lock").exists() or Path(f"/tmp/.X11-unix/X{num}").exists():
            continue
        proc = subprocess.Popen(
            [xvfb, f":{num}", "-screen", "0", size, "-nolisten", "tcp", "+extension", "GLX"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{num}").exists():
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            _XVFB = proc
            os.environ["DISPLAY"] = f":{num}"
            os.environ.setdefault("LIBGL_ALWAYS_SOFTWARE", "1")
            atexit.register(_stop)
            return True
    raise RuntimeError("Could not start Xvfb on any display number")


def _stop() -> None:
    global _XVFB
    if _XVFB is not None and _XVFB.poll() is None:
        _XVFB.terminate()
        try:
            _XVFB.wait(5)
        except subprocess.TimeoutExpired:
            _XVFB.kill()
    _XVFB = None
