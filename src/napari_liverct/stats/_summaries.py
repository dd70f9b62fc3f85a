"""Count, mean, std, min, max and exact percentiles of a histogram or of voxel values.

The histogram route gives exactly ``np.percentile(data, q)`` (linear method) and numpy's
mean and population std without sorting; the value route is the float fallback.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hist_percentiles"]


def hist_percentiles(counts: np.ndarray, values: np.ndarray, qs) -> list[float]:
    """Exact ``np.percentile(data, qs)`` (linear method) from a histogram.

    Parameters
    ----------
    counts
        Number of occurrences of each value (1D, non-negative integers).
    values
        The value of each bin, increasing.
    qs
        Percentiles in [0, 100].
    """
    cum = np.cumsum(counts)
    n = int(cum[-1])
    if n == 0:
        return [float("nan")] * len(qs)
    out = []
    for q in qs:
        h = (float(q) / 100.0) * (n - 1)
        lo = int(np.floor(h))
        t = h - lo
        a = float(values[np.searchsorted(cum, lo, side="right")])
        b = float(values[np.searchsorted(cum, min(lo + 1, n - 1), side="right")])
        d = b - a
        out.append(b - d * (1 - t) if t >= 0.5 else a + d * t)  # numpy's _lerp
    return out


def _summary_from_hist(counts: np.ndarray, values: np.ndarray, qs) -> dict:
    """count, mean, std, min, max and percentiles of a histogram (exact for ints)."""
    n = int(counts.sum())
    if n == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "max": None, "q": [None] * len(qs)}
    nz = np.flatnonzero(counts)
    c, v = counts[nz].astype(np.float64), values[nz].astype(np.float64)
    # exact integer sum when values are integers (int64 cannot overflow here)
    total = (
        int(np.dot(counts[nz].astype(np.int64), values[nz].astype(np.int64)))
        if values.dtype.kind in "iu"
        else float(np.dot(c, v))
    )
    mean = total / n
    var = float(np.dot(c, (v - mean) ** 2)) / n
    return {
        "count": n,
        "mean": float(mean),
        "std": float(np.sqrt(var)),
        "min": values[nz[0]].item(),
        "max": values[nz[-1]].item(),
        "q": hist_percentiles(counts[nz], v, qs),
    }


def _summary_from_values(vals: np.ndarray, qs) -> dict:
    """The same summary from the voxel values themselves (float fallback)."""
    if vals.size == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "max": None, "q": [None] * len(qs)}
    v = vals.astype(np.float64, copy=False)
    mean = float(v.mean())
    return {
        "count": int(v.size),
        "mean": mean,
        "std": float(np.sqrt(np.mean((v - mean) ** 2))),
        "min": float(v.min()),
        "max": float(v.max()),
        "q": [float(x) for x in np.percentile(v, qs)],
    }
