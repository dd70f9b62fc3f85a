"""Network outputs kept on disk, keyed by everything that determines them (opt-in).

Set ``NAPARI_LIVERCT_NETWORK_CACHE=DIR`` and a forward pass of the liver or lesion network
is stored in ``DIR`` as ``<model>-<key>.npy``; the same pass asked again (same model, same
weights file, same runtime, same input patch to the byte) is read back instead of run.  The
key is the sha256 of the weights file, of the networks' code (``net.py``, ``runtime.py``), the runtime's name
and version, and the input patch's shape and bytes, so a changed pre-processing, network,
weights file or runtime is a different key and runs the network.  Unset (the default), nothing is kept and every pass runs.

What it is for: running the draft again on the same CT (a folder re-run, the test suite,
the main job twice) costs a file read per pass instead of 10-25 s.  Processes share the
folder: a pass being computed holds an ``flock`` on ``<key>.lock``, so a second process
asking for the same pass waits for the first one's output instead of running it too.  An
entry is written as a unit (temp file, fsync, rename); an unreadable entry is run again.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..outputs.units import atomic_write

__all__ = ["ENV", "cache_folder", "cache_key", "remember"]

ENV = "NAPARI_LIVERCT_NETWORK_CACHE"


def cache_folder() -> Path | None:
    """The folder named by ``NAPARI_LIVERCT_NETWORK_CACHE``, or None when unset."""
    value = os.environ.get(ENV, "").strip()
    return Path(value).expanduser() if value else None


@lru_cache(maxsize=4)
def _weights_sha256(model: str) -> str:
    from .weights import sha256_file, weights_path

    return sha256_file(weights_path(model))


@lru_cache(maxsize=1)
def _network_code_sha256() -> str:
    """The networks' code: their definition (net.py) and how they are run (runtime.py: the
    torch runner, the OpenVINO conversion); a change to either is a different key."""
    h = hashlib.sha256()
    for name in ("net.py", "runtime.py"):
        h.update(Path(__file__).with_name(name).read_bytes())
    return h.hexdigest()


def cache_key(model: str, patch: np.ndarray, runtime: str) -> str:
    """``<model>-<sha256 hex>`` of the weights file, the networks' code, the runtime and the patch's shape and bytes."""
    patch = np.ascontiguousarray(patch, dtype=np.float32)
    h = hashlib.sha256()
    for part in (model, _weights_sha256(model), _network_code_sha256(), runtime, repr(patch.shape)):
        h.update(part.encode() + b"\0")
    h.update(memoryview(patch).cast("B"))
    return f"{model}-{h.hexdigest()[:40]}"


def _read(path: Path) -> np.ndarray | None:
    try:
        out = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return out if out.dtype == np.float32 else None


def remember(
    model: str, patch: np.ndarray, runtime: str, compute: Callable[[], np.ndarray], monitor=None
) -> np.ndarray:
    """``compute()`` (one forward pass of ``model`` on ``patch``), or its stored output.

    ``monitor`` (a ConvMonitor) is marked finished when the output is read back."""
    folder = cache_folder()
    if folder is None:
        return compute()
    folder.mkdir(parents=True, exist_ok=True)
    key = cache_key(model, patch, runtime)
    path = folder / f"{key}.npy"
    with open(folder / f"{key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the OS if this process dies
        out = _read(path) if path.exists() else None
        if out is not None:
            os.utime(path)  # its age is the time since last use (for pruning)
            if monitor is not None:
                monitor.finished()
            return out
        out = np.ascontiguousarray(compute(), dtype=np.float32)
        atomic_write(path, lambda tmp: np.save(tmp, out, allow_pickle=False))
    return out
