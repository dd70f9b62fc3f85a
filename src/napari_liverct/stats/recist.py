"""RECIST 1.1 measurements of segmented lesions: the two diameters, target lesions, response.

Definitions (the README's "RECIST 1.1 diameters" section says the same):

* **Axial plane** = the acquisition's slice plane, from the affine: the stored array axis
  whose direction (the affine column, normalised) is closest to superior (largest
  ``|z|``) is the *slice axis* (:func:`slice_axis`); a slice is one index along it.  It is
  not the array's last axis: a volume stored with S first is measured on the same planes.
* **Long axis**: on each slice of a lesion, the largest distance between the centres of
  two lesion voxels of that slice, in mm through the affine (physical spacing, oblique
  and permuted storage included).  The lesion's long axis is the largest over its slices;
  that slice is the lesion's RECIST slice.  Equally long diameters (to 1e-9 mm, on one
  slice or several) are decided by the longer short axis, then the lower slice index.  Exact: the largest distance is between two vertices of the convex hull
  (``scipy.spatial.ConvexHull`` + ``pdist``) of the slice's boundary voxel centres.
* **Short axis**: on the same slice, the longest chord perpendicular to the long axis of
  the convex hull of the slice's voxel centres (the chord's ends lie on the hull's
  boundary, between voxel centres).  Perpendicular exactly, up to floating point
  (:data:`PERPENDICULAR_TOLERANCE_DEG` is what the tests allow).  For a non-convex lesion
  the chord may cross background, as a caliper laid across the lesion does.
* **Tolerance against a continuous ellipse**: measured between voxel centres, a lesion
  that is a rasterised ellipse of axes ``2a >= 2b`` gives a long axis within one in-plane
  voxel diagonal ``d`` below ``2a`` (``2a - d <= long <= 2a``) and a short axis within
  ``d`` of ``2b``; the tests check this at oblique angles, anisotropic spacing and RAS,
  LPS and permuted storage.
* **Targets** (:func:`choose_targets`): measurable lesions (long axis >= 10 mm), largest
  long axis first, at most 2 per organ and 5 in all (a lesion's organ is its label class:
  all lesions of a liver tumour class are in the liver).  The user can pass other ids.
* **Sum of diameters**: the sum of the targets' long axes (the lymph-node short-axis rule
  does not apply to liver lesions).
* **Response** (:func:`napari_liverct.stats.response.recist_response`), two time points of one patient: lesions are
  paired by the distance of their centroids in world (RAS) mm (an optimal assignment,
  ``scipy.optimize.linear_sum_assignment``, of pairs closer than ``max_distance_mm``); a
  baseline target with no partner has disappeared (0 mm).  Categories, first match wins:

  - **CR**: every target lesion has disappeared;
  - **PD**: the follow-up sum is at least 20 % **and** at least 5 mm larger than the
    smallest sum on study (the nadir: the baseline sum, or a smaller ``nadir_mm`` given);
  - **PR**: the follow-up sum is at least 30 % smaller than the baseline sum;
  - **SD**: otherwise;
  - **NE**: no measurable target at baseline.

  This is the target-lesion response; follow-up lesions paired with no baseline lesion
  are listed as new lesions (RECIST makes an unequivocal new lesion PD: the reader judges).

Nothing here imports napari or Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..constants import RECIST_MEASURABLE_MM, RECIST_TARGETS_PER_ORGAN, RECIST_TARGETS_TOTAL

if TYPE_CHECKING:
    from .results import LesionStats

__all__ = [
    "PERPENDICULAR_TOLERANCE_DEG",
    "MEASURABLE_MM",
    "TargetRule",
    "Diameters",
    "slice_axis",
    "recist_diameters",
    "choose_targets",
    "mark_targets",
    "sum_of_diameters",
]

#: The short axis is perpendicular to the long axis within this angle (it is exact up to
#: floating point; the tests allow this much).
PERPENDICULAR_TOLERANCE_DEG = 1e-6
#: A lesion is measurable (can be a target) from this long axis on (RECIST 1.1, CT).
MEASURABLE_MM = RECIST_MEASURABLE_MM


@dataclass(frozen=True)
class TargetRule:
    """How target lesions are chosen: measurable from ``min_long_mm``, at most
    ``per_organ`` per organ (label class) and ``total`` in all, largest long axis first."""

    min_long_mm: float = MEASURABLE_MM
    per_organ: int = RECIST_TARGETS_PER_ORGAN
    total: int = RECIST_TARGETS_TOTAL


@dataclass(frozen=True)
class Diameters:
    """The two RECIST diameters of one lesion; end points in RAS+ mm."""

    long_mm: float
    short_mm: float
    #: Stored index of the slice along :func:`slice_axis`.
    slice_index: int
    long_ends: tuple[tuple[float, float, float], tuple[float, float, float]]
    short_ends: tuple[tuple[float, float, float], tuple[float, float, float]]


def slice_axis(affine: np.ndarray) -> int:
    """The stored axis of the acquisition's slices: its direction is closest to S.

    The affine column with the largest ``|z|`` after normalising each column (so the
    spacing does not decide it).
    """
    a = np.asarray(affine, float)[:3, :3]
    norms = np.linalg.norm(a, axis=0)
    return int(np.argmax(np.abs(a[2]) / np.where(norms > 0, norms, 1.0)))


def _plane_frame(affine: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(m2, e, inplane)``: in-plane index -> orthonormal 2D mm (``m2``, 2x2), the basis ``e`` (3x2)."""
    a = np.asarray(affine, float)[:3, :3]
    inplane = [i for i in range(3) if i != axis]
    ca, cb = a[:, inplane[0]], a[:, inplane[1]]
    e1 = ca / np.linalg.norm(ca)
    e2 = cb - (cb @ e1) * e1
    e2 = e2 / np.linalg.norm(e2)
    e = np.stack([e1, e2], axis=1)
    return e.T @ a[:, inplane], e, np.array(inplane)


def _hull(pts: np.ndarray) -> np.ndarray:
    """Vertices of the 2D convex hull of ``pts`` in counter-clockwise order (collinear: its two ends)."""
    from scipy.spatial import ConvexHull, QhullError

    if len(pts) >= 3:
        try:
            return pts[ConvexHull(pts).vertices]
        except (QhullError, ValueError):
            pass  # collinear
    if len(pts) == 1:
        return pts[:1]
    c = pts - pts.mean(axis=0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    t = c @ vt[0]
    return pts[[int(np.argmin(t)), int(np.argmax(t))]]


def _farthest_pairs(hull: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
    """The largest distance between two hull vertices and every pair (i < j) at it (ties: 1e-9 mm)."""
    from scipy.spatial.distance import pdist, squareform

    if len(hull) < 2:
        return 0.0, [(0, 0)]
    d = squareform(pdist(hull))
    top = float(d.max())
    ii, jj = np.nonzero(np.triu(d >= top - 1e-9, 1))
    return top, list(zip(ii.tolist(), jj.tolist()))


def _perpendicular_chord(hull: np.ndarray, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Longest chord of the convex polygon ``hull`` (ccw) perpendicular to unit ``u``: (length, end, end).

    The chord length along ``v`` is a concave function of the offset ``t = x . u``,
    piecewise linear between the vertices' offsets, so its maximum is at a vertex offset.
    """
    v = np.array([-u[1], u[0]])
    if len(hull) < 3:
        p = hull[0]
        return 0.0, p, p
    t, s = hull @ u, hull @ v
    t1, s1 = np.roll(t, -1), np.roll(s, -1)
    dt = t1 - t
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (t[:, None] - t[None, :]) / dt[None, :]  # [offset k, edge i]
    ok = (lam >= -1e-12) & (lam <= 1 + 1e-12) & (np.abs(dt)[None, :] > 1e-12)
    sv = np.where(ok, s[None, :] + np.clip(lam, 0, 1) * (s1 - s)[None, :], np.nan)
    vert = np.isclose(t[:, None], t[None, :], rtol=0, atol=1e-9)  # the vertices on the line itself
    sv = np.concatenate([sv, np.where(vert, s[None, :], np.nan)], axis=1)
    lo, hi = np.nanmin(sv, axis=1), np.nanmax(sv, axis=1)
    k = int(np.argmax(hi - lo))
    return float(hi[k] - lo[k]), t[k] * u + lo[k] * v, t[k] * u + hi[k] * v


def recist_diameters(mask: np.ndarray, affine: np.ndarray, offset=(0, 0, 0)) -> Diameters | None:
    """Long and short axis of one lesion (module docstring); None for an empty mask.

    Parameters
    ----------
    mask
        Boolean 3D array in stored order (typically a bounding-box crop of one component).
    affine
        The full volume's voxel-to-RAS+ affine.
    offset
        Stored index of ``mask[0, 0, 0]`` in the volume (the crop's origin), so that
        the end points and the slice index are the volume's.
    """
    from scipy import ndimage as ndi

    mask = np.asarray(mask, bool)
    if not mask.any():
        return None
    affine = np.asarray(affine, float)
    axis = slice_axis(affine)
    m2, _e, inplane = _plane_frame(affine, axis)
    # in-plane boundary: voxels with an in-plane face neighbour outside the lesion
    st = np.zeros((3, 3, 3), bool)
    st[1, 1, 1] = True
    for ax in inplane:
        idx = [1, 1, 1]
        for k in (0, 2):
            idx[ax] = k
            st[tuple(idx)] = True
    padded = np.pad(mask, 1)
    boundary = (padded & ~ndi.binary_erosion(padded, structure=st))[1:-1, 1:-1, 1:-1]
    slabs = np.moveaxis(boundary, axis, 0)
    per_slice = []  # (long, k, hull, a, b) of the slices that reach the best long axis so far
    best_long = -1.0
    for k in range(slabs.shape[0]):
        pts = np.argwhere(slabs[k])
        if not len(pts):
            continue
        lo, hi = pts.min(0), pts.max(0)
        corners = np.array([[lo[0], lo[1]], [lo[0], hi[1]], [hi[0], lo[1]], [hi[0], hi[1]]], float) @ m2.T
        bound = max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2]))
        if bound < best_long:
            continue  # this slice cannot reach the best long axis
        hull = _hull(pts.astype(float) @ m2.T)
        long_mm, pairs = _farthest_pairs(hull)
        if long_mm >= best_long - 1e-9:
            best_long = max(best_long, long_mm)
            per_slice.append((long_mm, k, hull, pairs))
    best = None  # (long, short, k, a, b, short_a, short_b)
    for long_mm, k, hull, pairs in per_slice:
        if long_mm < best_long - 1e-9:
            continue
        for i, j in pairs:  # equally long diameters: the one with the longest perpendicular
            a, b = hull[i], hull[j]
            if long_mm > 0:
                # the hull of the boundary voxel centres is that of all the slice's voxel centres
                short_mm, sa, sb = _perpendicular_chord(hull, (b - a) / long_mm)
            else:
                short_mm, sa, sb = 0.0, a, a
            if best is None or short_mm > best[1] + 1e-9:  # ties: the lower slice index, first pair
                best = (long_mm, short_mm, k, a, b, sa, sb)
    long_mm, short_mm, k, a, b, sa, sb = best
    inv = np.linalg.inv(m2)
    offset = np.asarray(offset, float)

    def ras(p2):
        ijk = np.zeros(3)
        ijk[axis] = k
        ijk[inplane] = inv @ p2
        ijk = ijk + offset
        return tuple(float(x) for x in affine[:3, :3] @ ijk + affine[:3, 3])

    return Diameters(
        long_mm=float(long_mm),
        short_mm=float(short_mm),
        slice_index=int(k + offset[axis]),
        long_ends=(ras(a), ras(b)),
        short_ends=(ras(sa), ras(sb)),
    )


# ---------------------------------------------------------------- targets
def choose_targets(lesions: Sequence[LesionStats], rule: TargetRule | None = None) -> tuple[int, ...]:
    """Ids of the target lesions by ``rule`` (module docstring), largest long axis first."""
    rule = rule or TargetRule()
    per: dict[int, int] = {}
    out: list[int] = []
    for les in sorted(lesions, key=lambda r: (-(r.long_axis_mm or 0.0), r.id)):
        if len(out) >= rule.total:
            break
        if (les.long_axis_mm or 0.0) < rule.min_long_mm:
            break
        if per.get(les.label, 0) >= rule.per_organ:
            continue
        per[les.label] = per.get(les.label, 0) + 1
        out.append(int(les.id))
    return tuple(out)


def mark_targets(lesions: Sequence[LesionStats], ids) -> tuple[LesionStats, ...]:
    """The lesions with ``target`` True exactly for ``ids`` (ValueError for an unknown id)."""
    ids = {int(i) for i in ids}
    unknown = sorted(ids - {int(r.id) for r in lesions})
    if unknown:
        raise ValueError(f"target lesion(s) {unknown} do not exist ({len(lesions)} lesions)")
    return tuple(replace(r, target=int(r.id) in ids) for r in lesions)


def sum_of_diameters(lesions: Sequence[LesionStats]) -> float | None:
    """Sum of the long axes of the target lesions (mm); None when there is no target."""
    t = [float(r.long_axis_mm) for r in lesions if r.target and r.long_axis_mm is not None]
    return float(sum(t)) if t else None
