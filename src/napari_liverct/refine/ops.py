"""Corrections at a point: add, delete, split, merge and relabel lesions.

Each function takes the CT (HU, stored order; None where the operation does not look at
it), its voxel-to-RAS affine and the labels (same grid), and points in RAS mm; it returns an
:class:`~.result.EditResult` with new labels (the input is never modified).  Components are
26-connected, as the statistics count lesions.
"""

from __future__ import annotations

import time

import cc3d
import numpy as np
from scipy import ndimage

from .grid import CONNECTIVITY, SNAP_MM, canonical_grid, component_at, fill_from_surroundings, grow_box
from .result import EditResult

__all__ = ["add_lesion", "delete_lesion", "split_lesion", "merge_lesions", "relabel"]

_S26 = ndimage.generate_binary_structure(3, 3)


def _check_value(v, what: str) -> int:
    v = int(v)
    if v < 0:
        raise ValueError(f"{what} must be a label number of at least 0, not {v}")
    return v


def add_lesion(
    ct,
    affine,
    labels,
    point_ras_mm,
    *,
    threshold: float = 0.5,
    liver: int = 1,
    lesion: int = 2,
    threads: int | None = None,
    probability=None,
) -> EditResult:
    """Run the lesion network on one tile centred on the point and add, as ``lesion``, the
    component of probability > ``threshold`` under the point (or the nearest one within
    10 mm).  The network sees the liver of the current labels joined with a 30 mm ball around
    the point, so a point outside the liver mask works.  ``probability`` (a
    :class:`~napari_liverct.segment.tile.TileProbability` of an earlier call at the same point)
    skips the network: a new threshold costs no second run."""
    from ..segment.tile import lesion_probability_at

    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"the threshold is a probability between 0 and 1, not {threshold}")
    t0 = time.perf_counter()
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"the labels must be a 3D volume, got shape {labels.shape}")
    if probability is None:
        probability = lesion_probability_at(ct, affine, point_ras_mm, np.isin(labels, [liver, lesion]), threads=threads)
    # everything happens in the box the tile's probabilities cover (stored order): the
    # component of probability > threshold cannot leave it, and a new threshold costs
    # milliseconds whatever the size of the CT
    box = probability.box
    start = np.array([b.start for b in box], float)
    box_affine = np.asarray(affine, float) @ np.r_[np.c_[np.eye(3), start], [[0, 0, 0, 1]]]
    hit_box = (np.asarray(probability.probability) > float(threshold)).astype(np.uint8)
    grid = canonical_grid(None, box_affine, labels[box])
    p_max = float(probability.probability.max()) if probability.probability.size else 0.0
    details = {
        "threshold": float(threshold),
        "max_probability": round(p_max, 4),
        "network_seconds": round(probability.seconds, 3),
    }
    try:
        idx = grid.index(point_ras_mm)
        hit = canonical_grid(None, box_affine, hit_box).labels
        comp = component_at(hit, [1], idx, grid.spacing, snap_mm=SNAP_MM, what="lesion probability")
    except ValueError:
        return EditResult.between(
            "add_lesion",
            labels,
            labels.copy(),
            f"nothing above {threshold:g} within {SNAP_MM:g} mm of the point (highest probability in the tile "
            f"{p_max:.2f})",
            **details,
        )
    new = grid.labels
    new[comp.mask] = lesion
    out = labels.copy()
    out[box] = grid.stored(new)
    details.update(component_voxels=comp.voxels, distance_mm=round(comp.distance_mm, 2))
    details["seconds"] = round(time.perf_counter() - t0, 3)
    res = EditResult.within("add_lesion", labels, out, box, "", **details)
    res.summary = f"added a lesion of {comp.voxels} voxels ({res.changed} new) at threshold {threshold:g}"
    return res


def delete_lesion(ct, affine, labels, point_ras_mm, *, lesion: int = 2) -> EditResult:
    """Remove the lesion component under the point (or within 10 mm): each of its voxels takes
    the label of the nearest voxel around it that is not a lesion, so a lesion inside the liver
    becomes liver and one outside it background."""
    labels = np.asarray(labels)
    grid = canonical_grid(None, affine, labels)
    comp = component_at(grid.labels, [lesion], grid.index(point_ras_mm), grid.spacing)
    fill = fill_from_surroundings(grid.labels, comp.mask, [lesion], grid.spacing)
    new = grid.labels
    new[comp.mask] = fill
    counts = {int(v): int(c) for v, c in zip(*np.unique(fill, return_counts=True))}
    res = EditResult.between("delete_lesion", labels, grid.stored(new), "", component_voxels=comp.voxels, became=counts)
    res.summary = f"deleted a lesion of {comp.voxels} voxels; its voxels became " + ", ".join(
        f"{c} x label {v}" for v, c in counts.items()
    )
    return res


def _snap_into(mask: np.ndarray, idx, spacing) -> tuple[int, int, int]:
    if mask[idx]:
        return idx
    pts = np.argwhere(mask)
    d = (((pts - np.array(idx)) * np.asarray(spacing)) ** 2).sum(1)
    return tuple(int(v) for v in pts[int(np.argmin(d))])


def split_lesion(ct, affine, labels, points_ras_mm, *, parts: int | None = None, lesion: int = 2) -> EditResult:
    """Split the lesion under the first point into parts by a watershed of its distance map
    (``skimage.segmentation.watershed``), seeded at the points (two or more), or at the
    ``parts`` deepest maxima when only one point is given.  The parts are cut apart: the
    voxels of a part that touch (26-connected) a part seeded earlier take the label of their
    surroundings, so the statistics count one lesion per part."""
    from skimage.segmentation import watershed

    labels = np.asarray(labels)
    grid = canonical_grid(None, affine, labels)
    pts = np.asarray(points_ras_mm, dtype=float).reshape(-1, 3)
    if len(pts) == 0:
        raise ValueError("split needs a point on the lesion")
    comp = component_at(grid.labels, [lesion], grid.index(pts[0]), grid.spacing)
    box = grow_box(ndimage.find_objects(comp.mask.astype(np.uint8))[0], comp.mask.shape, 1)
    m = comp.mask[box]
    edt = ndimage.distance_transform_edt(m, sampling=grid.spacing)
    markers = np.zeros(m.shape, np.int32)
    off = np.array([b.start for b in box])
    if len(pts) >= 2:
        seeds = [_snap_into(comp.mask, grid.index(p), grid.spacing) for p in pts]
        if len(set(seeds)) < len(seeds):
            raise ValueError("two split points fall on the same voxel of the lesion")
        for k, s in enumerate(seeds, start=1):
            markers[tuple(np.array(s) - off)] = k
    else:
        from skimage.feature import peak_local_max

        n = int(parts or 2)
        if n < 2:
            raise ValueError(f"a split needs at least 2 parts, not {n}")
        peaks = peak_local_max(edt, labels=m.astype(np.int32), num_peaks=n, exclude_border=False, min_distance=2)
        if len(peaks) < n:
            raise ValueError(f"the lesion has only {len(peaks)} distinct centre(s); click the parts instead")
        for k, p in enumerate(peaks, start=1):
            markers[tuple(p)] = k
    ws = watershed(-edt, markers, mask=m)
    cut = np.zeros(m.shape, bool)
    for k in range(2, int(ws.max()) + 1):
        lower = (ws > 0) & (ws < k)
        cut |= (ws == k) & ndimage.binary_dilation(lower, structure=_S26)
    full_cut = np.zeros(comp.mask.shape, bool)
    full_cut[box] = cut
    new = grid.labels
    new[full_cut] = fill_from_surroundings(new, full_cut, [lesion], grid.spacing)
    sizes = [int(((ws == k) & ~cut).sum()) for k in range(1, int(ws.max()) + 1)]
    after = cc3d.connected_components(comp.mask & ~full_cut, connectivity=CONNECTIVITY)
    res = EditResult.between(
        "split_lesion",
        labels,
        grid.stored(new),
        "",
        component_voxels=comp.voxels,
        part_voxels=sizes,
        cut_voxels=int(cut.sum()),
        components_after=int(after.max()),
    )
    res.summary = (
        f"split a lesion of {comp.voxels} voxels into {len(sizes)} parts ({', '.join(map(str, sizes))} voxels; "
        f"{int(cut.sum())} voxels on the cut)"
    )
    return res


def _line_voxels(a, b) -> np.ndarray:
    """Voxels on the segment between two voxel indices (a 26-connected chain)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = int(np.ceil(np.abs(b - a).max() * 4)) + 1
    t = np.linspace(0.0, 1.0, n)[:, None]
    return np.unique(np.floor(a + (b - a) * t + 0.5).astype(int), axis=0)


def merge_lesions(ct, affine, labels, points_ras_mm, *, lesion: int = 2, bridge_mm: float = 2.0) -> EditResult:
    """Join the lesions under the points into one: each is bridged to those before it by a
    tube of radius ``bridge_mm`` along the shortest segment between them (its voxels become
    ``lesion``)."""
    from scipy.spatial import cKDTree

    labels = np.asarray(labels)
    grid = canonical_grid(None, affine, labels)
    pts = np.asarray(points_ras_mm, dtype=float).reshape(-1, 3)
    if len(pts) < 2:
        raise ValueError("merge needs points on two lesions or more")
    comps = []
    for p in pts:
        c = component_at(grid.labels, [lesion], grid.index(p), grid.spacing)
        if not any((c.mask & o.mask).any() for o in comps):
            comps.append(c)
    new = grid.labels
    if len(comps) < 2:
        return EditResult.between(
            "merge_lesions", labels, labels.copy(), "the points are on one lesion: nothing to merge"
        )
    sp = np.asarray(grid.spacing)
    union = comps[0].mask.copy()
    shape = grid.labels.shape  # canonical, not the stored order
    bridge = np.zeros(shape, bool)
    reach = np.ceil(float(bridge_mm) / sp).astype(int)
    for c in comps[1:]:
        a_pts = np.argwhere(union & ~ndimage.binary_erosion(union, structure=_S26))
        b_pts = np.argwhere(c.mask & ~ndimage.binary_erosion(c.mask, structure=_S26))
        d, j = cKDTree(b_pts * sp).query(a_pts * sp)
        i = int(np.argmin(d))
        line = _line_voxels(a_pts[i], b_pts[int(j[i])])
        tube = np.zeros(shape, bool)
        tube[tuple(line.T)] = True
        lo = np.maximum(line.min(0) - reach - 1, 0)
        hi = np.minimum(line.max(0) + reach + 2, np.array(shape))
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        if bridge_mm > 0:
            dist = ndimage.distance_transform_edt(~tube[box], sampling=sp)
            tube[box] = dist <= float(bridge_mm)
        bridge |= tube
        union |= c.mask | tube
    added = bridge & (new != lesion)
    new[bridge] = lesion
    res = EditResult.between(
        "merge_lesions",
        labels,
        grid.stored(new),
        "",
        component_voxels=[c.voxels for c in comps],
        bridge_voxels=int(added.sum()),
    )
    res.summary = (
        f"merged {len(comps)} lesions ({', '.join(str(c.voxels) for c in comps)} voxels) with a bridge of "
        f"{int(added.sum())} voxels"
    )
    return res


def relabel(ct, affine, labels, point_ras_mm, to: int, *, snap_mm: float = 0.0) -> EditResult:
    """Give the component under the point (of whatever non-zero label it has) the label ``to``
    (liver to lesion or back)."""
    to = _check_value(to, "the new label")
    labels = np.asarray(labels)
    grid = canonical_grid(None, affine, labels)
    idx = grid.index(point_ras_mm)
    here = int(grid.labels[idx])
    if here == 0:
        raise ValueError("there is no label under the point to relabel (background)")
    comp = component_at(grid.labels, [here], idx, grid.spacing, snap_mm=snap_mm, what=f"label {here}")
    new = grid.labels
    if new.dtype.kind in "iu" and np.iinfo(new.dtype).max < to:
        raise ValueError(f"label {to} does not fit the labels' data type {new.dtype}")
    new[comp.mask] = to
    res = EditResult.between("relabel", labels, grid.stored(new), "", component_voxels=comp.voxels, was=here)
    res.summary = f"relabelled {comp.voxels} voxels from {here} to {to}"
    return res
