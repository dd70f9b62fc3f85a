"""The grid every correction works on: the CT and labels turned to the closest RAS axes.

Every operation runs on the canonical (RAS+) view of the arrays, as the networks do, and
its result is put back in the stored order.  Watershed, GrowCut and the contour
interpolation break ties in raster order, so running them on the stored order would let
the same log give different labels on a CT stored RAS, LPS or with permuted axes; on the
canonical view the input is the same array whatever the storage, and so is the answer.
Points are world RAS mm; a point maps to the voxel whose centre is nearest.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage

from ..segment.preprocess import Canonical, to_canonical

__all__ = ["Grid", "canonical_grid", "Component", "component_at", "fill_from_surroundings", "bbox", "grow_box"]

#: Connectivity of lesions and components everywhere here (the statistics' default).
CONNECTIVITY = 26
#: A click this close (mm) to a component picks it when it misses every voxel.
SNAP_MM = 10.0


@dataclass
class Grid:
    """Canonical CT (HU, read-only view) and a writable copy of the labels on the same grid."""

    ct: np.ndarray | None
    labels: np.ndarray
    can: Canonical
    stored_shape: tuple

    @property
    def spacing(self) -> np.ndarray:
        return self.can.spacing

    @property
    def affine(self) -> np.ndarray:
        return self.can.affine

    def index(self, point_ras_mm, what: str = "point") -> tuple[int, int, int]:
        """The canonical voxel whose centre is nearest to a RAS mm point (ValueError outside)."""
        p = np.asarray(point_ras_mm, dtype=float).reshape(3)
        v = np.linalg.solve(self.can.affine, np.r_[p, 1.0])[:3]
        idx = np.floor(v + 0.5).astype(int)
        if np.any(idx < 0) or np.any(idx >= np.array(self.labels.shape)):
            raise ValueError(f"the {what} {np.round(p, 2).tolist()} mm (RAS) lies outside the image")
        return tuple(int(i) for i in idx)

    def indices(self, points_ras_mm, what: str = "stroke") -> np.ndarray:
        """``(n, 3)`` canonical voxel indices of RAS mm points (ValueError for any outside)."""
        pts = np.asarray(points_ras_mm, dtype=float).reshape(-1, 3)
        if len(pts) == 0:
            return np.zeros((0, 3), int)
        v = (np.linalg.inv(self.can.affine) @ np.c_[pts, np.ones(len(pts))].T).T[:, :3]
        idx = np.floor(v + 0.5).astype(int)
        bad = np.any(idx < 0, axis=1) | np.any(idx >= np.array(self.labels.shape), axis=1)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} {what} point(s) lie outside the image, e.g. {pts[bad][0].round(2)}")
        return idx

    def stored(self, arr: np.ndarray) -> np.ndarray:
        """A canonical array back in the stored order and direction."""
        return self.can.back(arr)


def canonical_grid(ct, affine, labels) -> Grid:
    """The canonical view of ``ct`` (may be None) and a copy of ``labels``."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"the labels must be a 3D volume, got shape {labels.shape}")
    if ct is not None and np.shape(ct) != labels.shape:
        raise ValueError(f"the CT {np.shape(ct)} and the labels {labels.shape} are not on the same grid")
    lab = to_canonical(labels, affine)
    ct_can = to_canonical(np.asarray(ct), affine).data if ct is not None else None
    return Grid(ct=ct_can, labels=np.array(lab.data), can=lab, stored_shape=labels.shape)


def bbox(mask: np.ndarray) -> tuple[slice, slice, slice] | None:
    """The tight box of ``mask`` (None when empty)."""
    objs = ndimage.find_objects(mask.astype(np.uint8))
    return objs[0] if objs else None


def grow_box(box, shape, margin) -> tuple[slice, slice, slice]:
    """``box`` grown by ``margin`` voxels (an int or one per axis), clipped to ``shape``."""
    margin = np.broadcast_to(np.asarray(margin, dtype=int), (3,))
    return tuple(slice(max(0, s.start - int(m)), min(n, s.stop + int(m))) for s, n, m in zip(box, shape, margin))


@dataclass(frozen=True)
class Component:
    """One connected component of one label value, as a mask on the whole grid."""

    mask: np.ndarray
    value: int
    distance_mm: float  # 0 when the point is on it

    @property
    def voxels(self) -> int:
        return int(self.mask.sum())


def component_at(
    labels: np.ndarray, values, index, spacing, *, snap_mm: float = SNAP_MM, what: str = "lesion"
) -> Component:
    """The component (26-connected) of ``labels`` in ``values`` under ``index``, or the nearest
    one whose nearest voxel is within ``snap_mm``; ValueError when there is none."""
    values = [int(v) for v in np.atleast_1d(values)]
    here = int(labels[index])
    if here in values:
        cc = cc3d.connected_components(labels == here, connectivity=CONNECTIVITY)
        return Component(mask=cc == cc[index], value=here, distance_mm=0.0)
    reach = np.ceil(snap_mm / np.asarray(spacing)).astype(int)
    box = grow_box(tuple(slice(i, i + 1) for i in index), labels.shape, reach)
    sub = np.isin(labels[box], values)
    if sub.any():
        pts = np.argwhere(sub)
        centre = np.array(index) - np.array([b.start for b in box])
        d = np.sqrt((((pts - centre) * np.asarray(spacing)) ** 2).sum(1))
        k = int(np.argmin(d))
        if d[k] <= snap_mm:
            hit = tuple(int(a + b.start) for a, b in zip(pts[k], box))
            comp = component_at(labels, values, hit, spacing, snap_mm=0.0, what=what)
            return Component(mask=comp.mask, value=comp.value, distance_mm=float(d[k]))
    raise ValueError(f"no {what} under the point or within {snap_mm:g} mm of it")


def fill_from_surroundings(labels: np.ndarray, region: np.ndarray, exclude, spacing) -> np.ndarray:
    """The values ``region``'s voxels take from their surroundings: each gets the label of the
    nearest voxel (in mm) that is outside ``region`` and not one of ``exclude`` (0 when none is
    within the region's box grown by 3 voxels).  A deleted lesion inside the liver becomes
    liver, one on the liver's edge liver on its inner side and background on its outer side."""
    box = bbox(region)
    if box is None:
        return np.zeros(0, labels.dtype)
    box = grow_box(box, labels.shape, 3)
    lab = labels[box]
    reg = region[box]
    source = ~reg & ~np.isin(lab, [int(v) for v in np.atleast_1d(exclude)])
    if not source.any():
        return np.zeros(int(reg.sum()), labels.dtype)
    _, inds = ndimage.distance_transform_edt(~source, sampling=np.asarray(spacing, dtype=float), return_indices=True)
    filled = lab[tuple(inds)]
    return filled[reg]
