"""pymirc's ``zoom3d`` re-implemented with numpy/scipy (no numba, no LGPL code).

pyliverlesionseg resamples with ``pymirc.image_operations.zoom3d`` (pymirc, LGPL, numba).
Its definition, per axis and applied axis 0, then 1, then 2 (``zoom`` = new size / old size):

- **upsampling** (zoom > 1): ``ns = ceil(nb * zoom)`` voxels whose centres sit, in input
  voxel units, at ``delta * (i - ns/2 + 0.5) + nb/2 - 0.5`` (``delta = 1/zoom``; the two grids
  share their centre); linear interpolation between the two neighbours, and ``cval`` (not
  weighted) for a neighbour outside the array;
- **downsampling** (zoom < 1): ``nb = ceil(ns * zoom)`` voxels, each the overlap-weighted
  mean of the input voxels it covers (the same centred grids), an output voxel only partly
  covered by the input getting the covered part only;
- zoom == 1: the axis is left alone.

Each axis is one sparse ``(n_out, n_in)`` matrix here; :func:`zoom3d` can compute only a
box of the output (the liver's neighbourhood) with the same values as the whole.
The tests compare it with that definition transcribed loop for loop.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["zoom3d", "zoom_matrix", "zoomed_affine"]


def zoom_matrix(n_in: int, zoom: float, cval: float = 0.0):
    """The ``(n_out, n_in)`` sparse matrix of one axis, and the constant term (``cval`` use)."""
    from scipy import sparse

    if zoom > 1:
        delta = 1.0 / zoom
        n_out = math.ceil(n_in / delta)
        i = np.arange(n_out)
        c = delta * (i - 0.5 * n_out + 0.5) + 0.5 * n_in - 0.5
        left = np.floor(c).astype(np.int64)
        right = left + 1
        w_l = right - c
        w_r = c - left
        ok_l = left >= 0
        ok_r = right < n_in
        rows = np.concatenate([i[ok_l], i[ok_r]])
        cols = np.concatenate([left[ok_l], right[ok_r]])
        vals = np.concatenate([w_l[ok_l], w_r[ok_r]])
        const = cval * ((~ok_l).astype(float) + (~ok_r).astype(float))
    elif zoom < 1:
        delta = 1.0 / zoom
        n_out = math.ceil(n_in / delta)
        i = np.arange(n_in)
        ib_l = (1.0 / delta) * (i - 0.5 * n_in) + 0.5 * n_out
        ib_r = (1.0 / delta) * (i + 1 - 0.5 * n_in) + 0.5 * n_out
        left = np.floor(ib_l).astype(np.int64)
        right = np.ceil(ib_r).astype(np.int64) - 1
        same = left == right
        cc = np.ceil(ib_l)
        rows = np.concatenate([left[same], left[~same], right[~same]])
        cols = np.concatenate([i[same], i[~same], i[~same]])
        vals = np.concatenate([np.full(same.sum(), 1.0 / delta), (cc - ib_l)[~same], (ib_r - cc)[~same]])
        const = np.full(n_out, float(cval))
    else:
        return None, None
    mat = sparse.csr_matrix((vals, (rows, cols)), shape=(n_out, n_in))
    mat.sum_duplicates()
    return mat, const


def zoom3d(vol: np.ndarray, zoom, cval: float = 0.0, box=None, dtype=np.float32, transform=None) -> np.ndarray:
    """``pymirc.image_operations.zoom3d(vol, zoom, cval)``.

    ``box`` (3 slices of the output) computes only that part of the result, reading only the
    input voxels it needs; ``transform`` is applied to that input block first (e.g. a window).
    """
    if not isinstance(zoom, list | tuple | np.ndarray):
        zoom = 3 * [zoom]
    vol = np.asarray(vol)
    plan, src = [], []
    for axis in range(3):
        n = vol.shape[axis]
        mat, const = zoom_matrix(n, float(zoom[axis]), cval)
        rows = box[axis] if box is not None else slice(None)
        if mat is None:
            idx = range(n)[rows]
            lo, hi = (idx.start, idx.stop) if len(idx) else (0, 0)
            plan.append(None)
            src.append(slice(lo, hi))
            continue
        mat, const = mat[rows], const[rows]
        used = np.flatnonzero(np.asarray(abs(mat).sum(axis=0)).ravel() > 0)
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)
        plan.append((mat[:, lo:hi], const))
        src.append(slice(lo, hi))
    out = vol[tuple(src)]
    out = transform(out) if transform is not None else out
    for axis, step in enumerate(plan):
        if step is None:
            continue
        mat, const = step
        moved = np.moveaxis(out, axis, 0)
        flat = moved.reshape(moved.shape[0], -1)
        res = np.asarray(mat @ flat, dtype=dtype)
        if np.any(const):
            res += const[:, None].astype(dtype)
        out = np.moveaxis(res.reshape((mat.shape[0],) + moved.shape[1:]), 0, axis)
    return np.ascontiguousarray(out, dtype=dtype)


def zoomed_shape(shape, zoom) -> tuple:
    return tuple(n if z == 1 else math.ceil(n * z) for n, z in zip(shape, zoom))


def zoomed_affine(affine: np.ndarray, shape, zoom) -> np.ndarray:
    """Voxel-to-world affine of ``zoom3d``'s output: grids sharing their centre, voxels 1/zoom as big."""
    affine = np.asarray(affine, dtype=float)
    new_shape = zoomed_shape(shape, zoom)
    scale = np.array([1.0 / z for z in zoom])
    offset = np.array([0.5 * n - 0.5 - d * (0.5 * m - 0.5) for n, m, d in zip(shape, new_shape, scale)])
    step = np.eye(4)
    step[:3, :3] = np.diag(scale)
    step[:3, 3] = offset
    return affine @ step
