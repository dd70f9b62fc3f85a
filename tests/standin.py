"""Stand-in networks for tests about what the widgets and files do with a draft (not about
the networks): the liver network's output is a box of probability 0.9 around the middle of
its output patch, the lesion network's a constant."""

from __future__ import annotations

import numpy as np

from napari_liverct.segment import pipeline as pl


def liver_box(lo=(-30, -25, -20), hi=(30, 25, 5), p: float = 0.9) -> np.ndarray:
    """The liver network's output: ``p`` in the box [centre + lo, centre + hi) of the output patch."""
    out = np.zeros(pl.LIVER_OUT, np.float32)
    c = [n // 2 for n in pl.LIVER_OUT]
    out[tuple(slice(ci + a, ci + b) for ci, a, b in zip(c, lo, hi))] = p
    return out


def lesion_constant(p: float = 0.0) -> np.ndarray:
    """The lesion network's output: ``p`` everywhere in the tile."""
    return np.full(pl.LESION_OUT, p, np.float32)


def soft_tissue(model, patch, **_):
    """Both networks at once (fast): soft tissue of the liver window in the middle of the input
    patch is 'liver' (0.9), the lesion network finds nothing."""
    size = pl.LIVER_OUT if model == "liver" else pl.LESION_OUT
    inp = pl.LIVER_IN if model == "liver" else pl.LESION_IN
    crop = tuple(slice((i - o) // 2, (i - o) // 2 + o) for i, o in zip(inp, size))
    centre = patch[crop]
    return ((centre > 0.1) & (centre < 0.4)).astype(np.float32) * (0.9 if model == "liver" else 0.0)
