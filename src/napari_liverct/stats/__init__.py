"""Per-label and per-lesion statistics in physical units (pure numpy / cc3d).

All arrays are in the order stored in the NIfTI file (``i, j, k``) and ``affine`` is
the file's voxel-to-RAS+ affine.  Every ``centroid_mm`` is in **RAS+ millimetres**
(the nibabel / 3D Slicer convention; napari world coordinates are obtained with
:func:`napari_liverct.geometry.ras_to_world`).  Voxel indices (``bbox_min``,
``bbox_max``, ``centroid_voxel``, ``slice_range``) index the stored array.

Nothing here imports napari, Qt, torch or MONAI.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from nibabel.affines import apply_affine

from ..geometry import grid_mismatch, nonzero_box
from ._engine import PERCENTILES_IMAGE, image_stats, label_stats, voxel_volume_ml

__all__ = [
    "lesion_components",
    "lesion_stats",
    "lesion_label_map",
    "max_diameter_mm",
    "tumour_burden",
    "image_stats",
    "label_stats",
    "voxel_volume_ml",
    "si_axis",
    "compute_stats",
    "iter_compute_stats",
    "grid_mismatch",
    "resample_labels_nearest",
    "burden_from_counts",
    "stats_for_files",
    "PERCENTILES_IMAGE",
]


def _check_connectivity(connectivity: int) -> int:
    if connectivity not in (6, 26):
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
    """Stored axis closest to superior-inferior: the affine column with the largest |z|."""
    return int(np.argmax(np.abs(np.asarray(affine, float)[2, :3])))


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
) -> list[dict]:
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
    list of dict
        Sorted by volume, largest first; ``id`` is 1..n in that order.  Keys:
        ``label, id, voxels, volume_ml, max_diameter_mm`` (largest distance between
        voxel centres, mm), ``centroid_mm`` (RAS+ mm: the affine applied to
        ``centroid_voxel``), ``centroid_voxel`` (stored-order index), ``mean``
        (image mean over the lesion, or None), ``bbox_min, bbox_max`` (inclusive,
        stored order) and ``slice_range`` ([first, last] index along the stored
        axis closest to superior-inferior, see :func:`si_axis`).
    """
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
        if img_box is not None:
            mean = float(np.sum(img_box[sl][crop], dtype=np.float64) / counts[idx])
        out.append(
            {
                "label": int(label) if np.ndim(label) == 0 else _dominant(labels, box, sl, crop),
                "id": new_id,
                "voxels": int(counts[idx]),
                "volume_ml": float(counts[idx] * vml),
                "max_diameter_mm": max_diameter_mm(crop, affine),
                "centroid_mm": _to_ras(affine, cents[idx]),
                "centroid_voxel": [float(v) for v in cents[idx]],
                "mean": mean,
                "bbox_min": [int(v) for v in lo],
                "bbox_max": [int(v) for v in hi],
                "slice_range": [int(lo[axis]), int(hi[axis])],
            }
        )
    return out


def _dominant(labels: np.ndarray, box, sl, crop) -> int:
    """The most frequent label value inside one lesion (lesions of several classes)."""
    vals = np.asarray(labels)[box][sl][crop]
    uniq, counts = np.unique(vals, return_counts=True)
    return int(uniq[np.argmax(counts)])


def tumour_burden(labels: np.ndarray, liver_label: int = 1, tumour_label: int = 2) -> float | None:
    """Tumour volume / whole-liver volume, or None when liver or tumour is absent.

    In MSD Task03 the tumour voxels are carved out of the liver label, so the liver
    volume here is liver + tumour voxels (the organ as a whole); the ratio is in
    [0, 1].  Both volumes are on the same grid, so the voxel volume cancels.
    """
    labels = np.asarray(labels)
    liver = int(np.count_nonzero(labels == liver_label))
    tumour = int(np.count_nonzero(labels == tumour_label))
    return burden_from_counts(liver, tumour)


def burden_from_counts(liver_voxels: int, tumour_voxels: int) -> float | None:
    """``tumour / (liver + tumour)`` from voxel counts, None if either is zero."""
    if liver_voxels <= 0 or tumour_voxels <= 0:
        return None
    return float(tumour_voxels) / float(liver_voxels + tumour_voxels)


def compute_stats(
    image: np.ndarray | None,
    labels: np.ndarray | None,
    affine: np.ndarray,
    names: dict[int, str] | None = None,
    connectivity: int = 26,
    *,
    organ_labels: Sequence[int] | None = None,
    lesion_labels: Sequence[int] | None = None,
) -> dict:
    """Image, per-label and per-lesion statistics in one JSON-ready dict.

    Parameters
    ----------
    image, labels
        Stored-order arrays on the same grid (either may be None).
    affine
        Their voxel-to-RAS+ affine.
    names
        Label value -> name.  None: every value is ``label N`` and nothing is a lesion.
    connectivity
        Lesion connectivity, 26 (default) or 6.
    organ_labels, lesion_labels
        The organ (for tumour burden) and lesion classes.  None: from the names
        (:func:`napari_liverct.labels.organ_label_ids`, ``lesion_label_ids``: classes
        whose name says liver, and tumour/lesion).  Never a guess: with no lesion
        class there is no lesion table and no burden.

    Returns
    -------
    dict
        ``{"image": image_stats or None, "labels": [label_stats rows],
        "lesions": [lesion_stats rows], "connectivity": ..., "organ_labels": [...],
        "lesion_labels": [...]}`` plus ``"tumour_burden"`` (lesion volume / (organ +
        lesion) volume) when both an organ class and a lesion class are present.
        All ``centroid_mm`` are RAS+ mm.
    """
    steps = iter_compute_stats(
        image, labels, affine, names, connectivity, organ_labels=organ_labels, lesion_labels=lesion_labels
    )
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


def iter_compute_stats(
    image: np.ndarray | None,
    labels: np.ndarray | None,
    affine: np.ndarray,
    names: dict[int, str] | None = None,
    connectivity: int = 26,
    *,
    organ_labels: Sequence[int] | None = None,
    lesion_labels: Sequence[int] | None = None,
):
    """Generator form of :func:`compute_stats` for progress reporting.

    Yields ``(done, total, next_step_description)`` before each step and returns
    the same dict as :func:`compute_stats` (``StopIteration.value``).
    """
    from ..labels import lesion_label_ids, organ_label_ids

    _check_connectivity(connectivity)
    names = dict(names) if names else {}
    organ = sorted(int(v) for v in (organ_label_ids(names) if organ_labels is None else organ_labels))
    lesion = sorted(int(v) for v in (lesion_label_ids(names) if lesion_labels is None else lesion_labels))
    total = 3
    out: dict = {
        "image": None,
        "labels": [],
        "lesions": [],
        "connectivity": int(connectivity),
        "organ_labels": organ,
        "lesion_labels": lesion,
    }
    yield (0, total, "image statistics")
    if image is not None:
        out["image"] = image_stats(image, affine)
    if labels is not None:
        yield (1, total, "per-label statistics")
        if not names:
            names = {0: "background"}
        out["labels"] = label_stats(image, labels, affine, names)
        yield (2, total, "lesions")
        if lesion:
            out["lesions"] = lesion_stats(image, labels, affine, label=lesion, connectivity=connectivity)
        counts = {r["label"]: r["voxels"] for r in out["labels"]}
        if organ and lesion:
            burden = burden_from_counts(sum(counts.get(v, 0) for v in organ), sum(counts.get(v, 0) for v in lesion))
            if burden is not None:
                out["tumour_burden"] = burden
    yield (total, total, "done")
    return out


def resample_labels_nearest(labels: np.ndarray, labels_affine: np.ndarray, shape, affine: np.ndarray) -> np.ndarray:
    """Resample a label volume onto another grid by nearest neighbour (0 outside);
    see :func:`napari_liverct.geometry.resample_nearest`."""
    from ..geometry import resample_nearest

    return resample_nearest(labels, labels_affine, shape, affine)


def stats_for_files(
    image_path,
    labels_path=None,
    connectivity: int = 26,
    resample_labels: bool = False,
    *,
    organ_labels: Sequence[int] | None = None,
    lesion_labels: Sequence[int] | None = None,
    label_names: dict[int, str] | None = None,
) -> dict:
    """:func:`compute_stats` for NIfTI files (intensities after scl_slope/scl_inter).

    Labels stored with axes flipped or permuted relative to the image are viewed on
    the image grid (no resampling) and ``"grid_note"`` says so.

    Raises
    ------
    GridMismatchError
        When image and labels are on really different grids (naming both files)
        and ``resample_labels`` is False; unreadable files raise NiftiReadError.
    """
    from ..geometry import conform_to_grid
    from ..labels import integral_labels, label_names_for
    from ..nifti import read_nifti

    _check_connectivity(connectivity)
    img = read_nifti(image_path)
    if img.data.ndim != 3:
        raise ValueError(f"{image_path}: expected a 3D image, got shape {img.data.shape}")
    labels = None
    names = None
    note = None
    if labels_path is not None:
        lab = read_nifti(labels_path)
        labels = lab.data
        if labels.ndim != 3:
            raise ValueError(f"{labels_path}: expected a 3D label volume, got shape {labels.shape}")
        labels = integral_labels(labels, str(labels_path))
        labels, note = conform_to_grid(
            labels,
            lab.affine,
            img.data.shape,
            img.affine,
            resample=resample_labels,
            names=(str(labels_path), str(image_path)),
            hint="use --resample-labels to resample the labels onto the image grid (nearest neighbour)",
        )
        names = dict(label_names) if label_names else label_names_for(labels_path, lab.header, labels)
    try:
        out = compute_stats(
            img.data,
            labels,
            img.affine,
            names=names,
            connectivity=connectivity,
            organ_labels=organ_labels,
            lesion_labels=lesion_labels,
        )
    except ValueError as exc:  # e.g. negative label values: say which file
        raise ValueError(f"{labels_path or image_path}: {exc}") from exc
    out["files"] = {"image": str(image_path), "labels": str(labels_path) if labels_path else None}
    if note:
        out["grid_note"] = note
    return out
