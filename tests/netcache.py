"""The real networks, run once per distinct input patch (a test session's draft is computed once).

``cached_run_network(folder)`` wraps :func:`napari_liverct.segment.pipeline.run_network`:
an output is kept in memory and, when ``folder`` is given, as ``<model>-<sha1>.npy`` there,
keyed by the exact bytes of the input patch, so the same patch never runs twice.  The
networks are deterministic on one machine (same patch, same output to float32 rounding),
so a reused output is the network's own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from napari_liverct.segment import pipeline as pl


def cached_run_network(folder: str | Path | None = None, real_run=None):
    real_run = real_run or pl.run_network
    memory: dict = {}
    calls = {"real": 0, "reused": 0}
    folder = Path(folder) if folder else None

    def run(model, patch, monitor=None):
        patch = np.ascontiguousarray(patch, dtype=np.float32)
        key = f"{model}-{hashlib.sha1(patch.tobytes()).hexdigest()}"
        path = folder / f"{key}.npy" if folder else None
        if key not in memory and path is not None and path.exists():
            memory[key] = np.load(path)
        if key in memory:
            calls["reused"] += 1
            return memory[key].copy()
        calls["real"] += 1
        out = real_run(model, patch, monitor=monitor)
        memory[key] = np.array(out, copy=True)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, memory[key])
            tmp.replace(path)
        return out

    run.calls = calls
    return run
