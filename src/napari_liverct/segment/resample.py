"""Resampling between the draft's axis-parallel grids, and placing a network tile's output."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["resample_to", "place_tile"]


def resample_to(src: np.ndarray, src_vox2dst_vox: np.ndarray, dst_shape, margin: int = 1) -> np.ndarray:
    """Linear resampling of ``src`` onto a destination grid of ``dst_shape`` whose axes are
    parallel to it (``src_vox2dst_vox`` diagonal + offset), computed only over the box where
    ``src`` is non-zero; zero elsewhere."""
    out = np.zeros(dst_shape, np.float32)
    nz = np.argwhere(src > 0)
    if nz.size == 0:
        return out
    scale = np.diag(src_vox2dst_vox)[:3]
    off = src_vox2dst_vox[:3, 3]
    lo_src, hi_src = nz.min(0) - margin, nz.max(0) + margin
    a, b = lo_src * scale + off, hi_src * scale + off
    lo = np.clip(np.floor(np.minimum(a, b)).astype(int), 0, np.array(dst_shape))
    hi = np.clip(np.ceil(np.maximum(a, b)).astype(int) + 1, 0, np.array(dst_shape))
    if np.any(hi <= lo):
        return out
    # dst voxel d -> src voxel (d - off) / scale
    inv = 1.0 / scale
    offset = (lo - off) * inv
    sub = ndimage.affine_transform(
        src.astype(np.float32), inv, offset=offset, output_shape=tuple(hi - lo), order=1, mode="constant", cval=0.0
    )
    out[tuple(slice(int(a_), int(b_)) for a_, b_ in zip(lo, hi))] = sub
    return out


def _check_axis_aligned(m: np.ndarray) -> np.ndarray:
    off = m[:3, :3] - np.diag(np.diag(m[:3, :3]))
    if np.abs(off).max() > 1e-6:
        raise AssertionError("internal: resampling grids are not axis-aligned")
    return m


def place_tile(prob: np.ndarray, start, out: np.ndarray) -> None:
    dst, src = [], []
    for n, s, o in zip(prob.shape, start, out.shape):
        lo, hi = max(s, 0), min(n, s + o)
        dst.append(slice(lo, hi))
        src.append(slice(lo - s, hi - s))
    prob[tuple(dst)] = out[tuple(src)]
