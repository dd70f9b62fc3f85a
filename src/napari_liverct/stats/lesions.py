"""Lesions: connected components of the lesion classes, their volumes, HU, RAS+ centroids and diameters."""

from __future__ import annotations

import numpy as np
from nibabel.affines import apply_affine

from ..constants import CONNECTIVITIES
from ..geometry.grids import nonzero_box
from ._engine import voxel_volume_ml
from .results import LesionStats


def _check_connectivity(connectivity: int) -> int:
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"connectivity must be 6 or 26, not {connectivity}")
    return int(connectivity)


def lesion_components(labels: np.ndarray, label=2, connectivity: int = 26) -> tuple[np.ndarray, int]:
    """Connected components of one label value (or of the union of several).

    Parameters
    ----------
    labels
        Integer label volume (3D).
    label
        The label value whose components are wanted, or a sequence of values.
    connectivity
        26 (faces, edges, corners) or 6 (faces only).

    Returns
    -------
    (components, n)
        uint32 volume with 1..n per component (0 elsewhere) and the count n.
        Component ids follow cc3d's raster order of the array as given.
    """
    import cc3d

    _check_connectivity(connectivity)
    mask = _label_mask(labels, label)
    cc, n = cc3d.connected_components(mask, connectivity=connectivity, return_N=True)
    return cc, int(n)


def si_axis(affine: np.ndarray) -> int:
    """Stored axis closest to superior-inferior: the normalised affine column with the largest |z|
    (:func:`napari_liverct.stats.recist.slice_axis`, the axis of the acquisition's slices)."""
    from .recist import slice_axis

    return slice_axis(affine)


def _diameter_of_points(pts: np.ndarray) -> float:
    """Largest pairwise Euclidean distance of points (N, 3), exact."""
    from scipy.spatial.distance import pdist

    if len(pts) < 2:
        return 0.0
    if len(pts) > 1500:
        from scipy.spatial import ConvexHull, QhullError

        centred = pts - pts.mean(axis=0)
        try:
            hull = ConvexHull(centred)
            pts = pts[hull.vertices]
        except (QhullError, ValueError):
            # Flat (coplanar/collinear) set: project on its principal plane, 2D hull.
            _, sv, vt = np.linalg.svd(centred, full_matrices=False)
            rank = int(np.sum(sv > 1e-9 * max(sv[0], 1e-300)))
            if rank <= 1:
                t = centred @ vt[0]
                pts = pts[[int(np.argmin(t)), int(np.argmax(t))]]
            else:
                hull = ConvexHull(centred @ vt[:2].T)
                pts = pts[hull.vertices]
    return float(np.sqrt(pdist(pts, "sqeuclidean").max()))


def max_diameter_mm(mask: np.ndarray, affine: np.ndarray) -> float:
    """Largest 3D distance (mm) between the centres of two voxels of ``mask``.

    Only boundary voxels (those with a face neighbour outside the mask) can be
    extreme points, and the maximum is reached between convex-hull vertices, so
    the result is exact while comparing few points.

    Parameters
    ----------
    mask
        Boolean 3D array (typically a bounding-box crop of one component).
    affine
        Voxel-to-RAS affine (only its 3x3 linear part is used, so a crop's
        offset does not matter).
    """
    from scipy import ndimage as ndi

    mask = np.asarray(mask, bool)
    if mask.sum() < 2:
        return 0.0
    padded = np.pad(mask, 1)
    inner = ndi.binary_erosion(padded, structure=ndi.generate_binary_structure(3, 1))
    boundary = (padded & ~inner)[1:-1, 1:-1, 1:-1]
    pts = np.argwhere(boundary).astype(float) @ np.asarray(affine, float)[:3, :3].T
    return _diameter_of_points(pts)


def _to_ras(affine: np.ndarray, ijk) -> list[float]:
    return [float(v) for v in apply_affine(np.asarray(affine, float), np.asarray(ijk, float))]


def _label_mask(labels: np.ndarray, label) -> np.ndarray:
    """``labels == label`` for one value, ``isin`` for several (lesions of several classes)."""
    if np.ndim(label) == 0:
        return np.asarray(labels) == int(label)
    values = [int(v) for v in label]
    if len(values) == 1:
        return np.asarray(labels) == values[0]
    return np.isin(np.asarray(labels), values)


def _sorted_components(labels: np.ndarray, label, connectivity: int):
    """Components of ``labels == label`` inside its bounding box, largest first.

    Returns None when the label is absent, else ``(box, cc, order, counts, boxes,
    centroids)``: ``cc`` labels the crop ``box`` with cc3d ids 1..n, ``order[r]``
    is the cc3d index (id - 1) of the lesion ranked ``r`` (ties keep cc3d's raster
    order); ``boxes`` (inclusive, x0,x1,y0,y1,z0,z1) and ``centroids`` are in crop
    voxel indices.
    """
    import cc3d

    _check_connectivity(connectivity)
    mask = _label_mask(labels, label)
    box = nonzero_box(mask)
    if box is None:
        return None
    # label only inside the bounding box of the lesion label
    cc, n = cc3d.connected_components(mask[box], connectivity=connectivity, return_N=True)
    del mask
    st = cc3d.statistics(cc, no_slice_conversion=True)
    counts = np.asarray(st["voxel_counts"][1 : n + 1], dtype=np.int64)
    boxes = np.asarray(st["bounding_boxes"][1 : n + 1], dtype=np.int64)
    cents = np.asarray(st["centroids"][1 : n + 1], dtype=float)
    return box, cc, np.argsort(-counts, kind="stable"), counts, boxes, cents


def lesion_label_map(labels: np.ndarray, label=2, connectivity: int = 26) -> tuple[np.ndarray, int]:
    """Volume (stored order) where lesion ``id`` of :func:`lesion_stats` has value ``id``.

    Returns ``(map, n)``; the map is uint16 when n < 65535, else uint32, 0 elsewhere.
    """
    labels = np.asarray(labels)
    comp = _sorted_components(labels, label, connectivity)
    if comp is None:
        return np.zeros(labels.shape, np.uint16), 0
    box, cc, order, *_ = comp
    n = len(order)
    dtype = np.uint16 if n < 65535 else np.uint32
    lut = np.zeros(n + 1, dtype)
    lut[order + 1] = np.arange(1, n + 1, dtype=dtype)
    out = np.zeros(labels.shape, dtype, order="F" if labels.flags.f_contiguous else "C")
    out[box] = lut[cc]
    return out, n


def lesion_stats(
    image: np.ndarray | None,
    labels: np.ndarray,
    affine: np.ndarray,
    label=2,
    connectivity: int = 26,
    *,
    targets=None,
    target_rule=None,
) -> list[LesionStats]:
    """Measure every connected component (lesion) of one label, or of several together.

    Parameters
    ----------
    image
        Intensity volume in stored order (or None: ``mean`` is then None).
    labels
        Integer label volume in stored order, same shape as ``image``.
    affine
        4x4 voxel-to-RAS+ affine shared by both arrays.
    label
        Label value of the lesions, or a sequence of values whose union is labelled
        (for example every class whose name says tumour).
    connectivity
        26 (default) or 6.

    Returns
    -------
    list of LesionStats
        Sorted by volume, largest first; ``id`` is 1..n in that order.  Fields:
        ``label, id, voxels, volume_ml, max_diameter_mm`` (largest distance between
        voxel centres, mm), ``centroid_mm`` (RAS+ mm: the affine applied to
        ``centroid_voxel``), ``centroid_voxel`` (stored-order index), ``mean``
        (image mean over the lesion, or None), ``bbox_min, bbox_max`` (inclusive,
        stored order) and ``slice_range`` ([first, last] index along the stored
        axis closest to superior-inferior, see :func:`si_axis`), and the RECIST 1.1
        diameters (:func:`napari_liverct.stats.recist.recist_diameters`: ``long_axis_mm``,
        ``short_axis_mm``, ``recist_slice``, end points in RAS+ mm) with ``target`` set for
        ``targets`` (lesion ids) or, when None, by ``target_rule``
        (:func:`~napari_liverct.stats.recist.choose_targets`: >= 10 mm, 2 per organ, 5 in all).
    """
    from .recist import choose_targets, mark_targets, recist_diameters

    labels = np.asarray(labels)
    affine = np.asarray(affine, float)
    if labels.ndim != 3:
        raise ValueError(f"labels must be 3D, got shape {labels.shape}")
    if image is not None and np.shape(image) != labels.shape:
        raise ValueError(f"image shape {np.shape(image)} differs from labels shape {labels.shape}")
    comp = _sorted_components(labels, label, connectivity)
    if comp is None:
        return []
    box, cc, order, counts, boxes, cents = comp
    origin = np.array([b.start for b in box])
    cents = cents + origin
    img_box = None if image is None else np.asarray(image)[box]
    vml = voxel_volume_ml(affine)
    axis = si_axis(affine)
    out = []
    for new_id, idx in enumerate(order, start=1):
        lo, hi = boxes[idx][0::2], boxes[idx][1::2]
        sl = tuple(slice(int(a), int(b) + 1) for a, b in zip(lo, hi))
        crop = cc[sl] == idx + 1
        lo, hi = lo + origin, hi + origin
        mean = None
        rec = recist_diameters(crop, affine, lo)
        if img_box is not None:
            mean = float(np.sum(img_box[sl][crop], dtype=np.float64) / counts[idx])
        out.append(
            LesionStats(
                label=int(label) if np.ndim(label) == 0 else _dominant(labels, box, sl, crop),
                id=new_id,
                voxels=int(counts[idx]),
                volume_ml=float(counts[idx] * vml),
                max_diameter_mm=max_diameter_mm(crop, affine),
                centroid_mm=tuple(_to_ras(affine, cents[idx])),
                centroid_voxel=tuple(float(v) for v in cents[idx]),
                mean=mean,
                bbox_min=tuple(int(v) for v in lo),
                bbox_max=tuple(int(v) for v in hi),
                slice_range=(int(lo[axis]), int(hi[axis])),
                long_axis_mm=rec.long_mm,
                short_axis_mm=rec.short_mm,
                recist_slice=rec.slice_index,
                long_axis_start_mm=rec.long_ends[0],
                long_axis_end_mm=rec.long_ends[1],
                short_axis_start_mm=rec.short_ends[0],
                short_axis_end_mm=rec.short_ends[1],
            )
        )
    return list(mark_targets(out, choose_targets(out, target_rule) if targets is None else targets))


def _dominant(labels: np.ndarray, box, sl, crop) -> int:
    """The most frequent label value inside one lesion (lesions of several classes)."""
    vals = np.asarray(labels)[box][sl][crop]
    uniq, counts = np.unique(vals, return_counts=True)
    return int(uniq[np.argmax(counts)])
