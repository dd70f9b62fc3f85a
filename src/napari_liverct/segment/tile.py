"""The lesion network on one tile centred on a point: the draft's lesion stage, for one click.

:func:`lesion_probability_at` runs the lesion network of :mod:`.pipeline` once, on the
180 x 172 x 86 tile (1 x 1 x 3 mm, the canonical grid's own zoomed grid, so the tile sits
where a tile of the whole stage could sit) whose 92 x 84 x 42 output is centred on a world
point, and returns the probabilities on the CT's own stored grid inside the box that output
covers.  The input is prepared as the stage prepares it (CT window, -0.5 outside the dilated
liver, clipped to [-0.5, 0.5]), except that the liver mask is the caller's (the current
labels) joined with a ball around the point: a missed lesion usually lies where the liver
mask is missing, and masked to -0.5 it could never be found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from . import pipeline
from .pipeline import LESION_IN, LESION_MM, LESION_OUT
from .preprocess import ct_window, to_canonical
from .resample import resample_to
from .zoom import zoom3d, zoomed_affine, zoomed_shape

__all__ = ["TileProbability", "lesion_probability_at", "CLICK_RADIUS_MM"]

#: Radius of the ball around the point joined to the liver mask of the network's input.
CLICK_RADIUS_MM = 30.0


@dataclass(frozen=True)
class TileProbability:
    """Lesion probabilities on the stored grid inside ``box`` (3 slices of the stored array)."""

    probability: np.ndarray
    box: tuple[slice, slice, slice]
    seconds: float


def _stored_box(can_box, ornt: np.ndarray, shape) -> tuple[slice, ...]:
    """The stored-array box of a box on the canonical grid (axes permuted and flipped)."""
    out = []
    for i, n in enumerate(shape):
        axis, flip = int(ornt[i, 0]), ornt[i, 1] < 0
        sl = can_box[axis]
        out.append(slice(n - sl.stop, n - sl.start) if flip else slice(sl.start, sl.stop))
    return tuple(out)


def _ball(shape_box, centre_vox, spacing_mm, radius_mm: float) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape_box)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre_vox, spacing_mm))
    return d2 <= radius_mm**2


def lesion_probability_at(
    volume: np.ndarray,
    affine: np.ndarray,
    point_ras_mm,
    liver_mask: np.ndarray,
    *,
    radius_mm: float = CLICK_RADIUS_MM,
    threads: int | None = None,
) -> TileProbability:
    """Lesion probabilities from one network run on the tile centred on ``point_ras_mm``.

    ``volume`` is the CT in HU as stored, ``affine`` its voxel-to-RAS matrix, ``liver_mask``
    a boolean array on the same grid (the liver and lesions of the current labels).
    """
    import time

    import torch

    t0 = time.perf_counter()
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"the lesion network needs a 3D CT volume, got shape {volume.shape}")
    can = to_canonical(volume, affine)
    liver = to_canonical(np.asarray(liver_mask, dtype=bool), affine).data
    zoom = can.spacing / LESION_MM
    full = np.array(zoomed_shape(can.data.shape, zoom))
    g2c = zoomed_affine(np.eye(4), can.data.shape, zoom)  # zoomed-grid voxel -> canonical voxel
    c_vox = np.linalg.solve(can.affine, np.r_[np.asarray(point_ras_mm, dtype=float), 1.0])
    g = np.linalg.solve(g2c, c_vox)[:3]
    if np.any(c_vox[:3] < -0.5) or np.any(c_vox[:3] > np.array(can.data.shape) - 0.5):
        raise ValueError(f"the point {np.round(point_ras_mm, 2).tolist()} mm (RAS) lies outside the CT")
    out_start = np.round(g).astype(int) - np.array(LESION_OUT) // 2
    in_start = out_start - (np.array(LESION_IN) - np.array(LESION_OUT)) // 2
    in_lo = np.maximum(in_start, 0)
    in_hi = np.minimum(in_start + np.array(LESION_IN), full)
    box = tuple(slice(int(a), int(b)) for a, b in zip(in_lo, in_hi))
    img = zoom3d(can.data, zoom, box=box, transform=ct_window)
    liv = zoom3d(liver.astype(np.float32), zoom, box=box) > 0.5
    ss = ndimage.iterate_structure(ndimage.generate_binary_structure(3, 2), 2)
    mask = ndimage.binary_dilation(liv, structure=ss) | _ball(img.shape, g - in_lo, LESION_MM, radius_mm)
    img = np.clip(np.where(mask, img, -0.5), -0.5, 0.5).astype(np.float32)
    tile = np.zeros(LESION_IN, np.float32)  # 0 beyond the CT, as the stage pads its tiles
    tile[tuple(slice(int(a - s), int(b - s)) for a, b, s in zip(in_lo, in_hi, in_start))] = img
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        out = pipeline.run_network("lesion", tile)  # looked up here: tests put a stand-in in its place
    finally:
        torch.set_num_threads(old)
    # the output tile on the canonical grid: only the box it covers (plus the interpolation margin)
    shift = np.eye(4)
    shift[:3, 3] = out_start
    o2c = g2c @ shift
    corners = np.array([[*c, 1.0] for c in np.ndindex(2, 2, 2)]) * np.r_[np.array(LESION_OUT) - 1, 1.0]
    cc = (o2c @ corners.T).T[:, :3]
    lo = np.clip(np.floor(cc.min(0)).astype(int) - 1, 0, np.array(can.data.shape))
    hi = np.clip(np.ceil(cc.max(0)).astype(int) + 2, 0, np.array(can.data.shape))
    can_box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    to_box = np.eye(4)
    to_box[:3, 3] = -lo
    prob_can = resample_to(out, to_box @ o2c, tuple(hi - lo), margin=1)
    prob = can.back(prob_can)
    return TileProbability(
        probability=prob,
        box=_stored_box(can_box, can.ornt, volume.shape),
        seconds=time.perf_counter() - t0,
    )
