"""Downsampled volumes for the 3D view: the share of a mask in each block, and the affine
of a strided array (so a downsampled surface or volume stays where the full one is).

Pure numpy: no napari, Qt, torch or MONAI import.
"""

from __future__ import annotations

import numpy as np

__all__ = ["block_fraction", "downsample_affine"]


def block_fraction(mask: np.ndarray, factor: int) -> np.ndarray:
    """Fraction (float32, 0-1) of true voxels in each ``factor**3`` block of a 3D mask.

    The mask is padded with false voxels up to a multiple of ``factor``; block
    ``n`` covers voxels ``factor*n .. factor*n + factor - 1`` along each axis.
    """
    f = int(factor)
    if f < 1:
        raise ValueError(f"block factor must be >= 1, not {factor}")
    m = np.asarray(mask, bool)
    if f == 1:
        return m.astype(np.float32)
    pad = [(0, (-n) % f) for n in m.shape]
    if any(p[1] for p in pad):
        m = np.pad(m, pad)
    a, b, c = (n // f for n in m.shape)
    counts = m.reshape(a, f, b, f, c, f).sum(axis=(1, 3, 5), dtype=np.uint16)
    return counts.astype(np.float32) / float(f**3)


def downsample_affine(affine: np.ndarray, factor: int) -> np.ndarray:
    """Affine of ``data[::f, ::f, ::f]``: voxel ``n`` of the subsampled array is voxel ``f*n``."""
    if int(factor) < 1:
        raise ValueError(f"downsampling factor must be >= 1, not {factor}")
    out = np.asarray(affine, float).copy()
    out[:3, :3] = out[:3, :3] * int(factor)
    return out
