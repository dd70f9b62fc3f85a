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
