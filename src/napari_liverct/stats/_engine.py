"""Fast exact image and per-label intensity statistics (pure numpy).

Design
------
For integer images the per-label statistics come from one joint histogram of
``(label, value)`` built with ``np.bincount`` over a combined key
``label * n_bins + (value - vmin)``, slice by slice (so the temporaries stay in
cache), and only inside the bounding box of the labelled voxels (everything
outside it is background).  From each label's histogram row, count, mean, std,
min, max, median and any percentile are **exact** (no sort).  Bounding boxes and
centroids come from per-label projections of the same crop.  Float images (or
integer images with an enormous value range) fall back to per-label masks and
``np.percentile``.

Percentiles use numpy's default ``linear`` method, so they equal
``np.percentile(values, q)``; ``std`` is the population standard deviation
(``ddof=0``, numpy's default).
"""

from __future__ import annotations

import numpy as np
from nibabel.affines import voxel_sizes

from ..constants import ROBUST_PERCENTILES, ROBUST_RANGE
from ..geometry.grids import nonzero_box
from ._summaries import _summary_from_hist, _summary_from_values, hist_percentiles
from .results import ImageStats, LabelStats

__all__ = [
    "PERCENTILES_IMAGE",
    "PERCENTILES_LABEL",
    "voxel_volume_ml",
    "hist_percentiles",
    "image_stats",
    "label_stats",
    "label_histograms",
]

#: Image percentiles reported (those of nnU-Net's dataset fingerprint).
PERCENTILES_IMAGE = ROBUST_PERCENTILES
#: Per-label percentiles reported: p05, median, p95.
PERCENTILES_LABEL = (5.0, 50.0, 95.0)
#: Largest joint histogram (rows x bins) before falling back to masks.
MAX_BINS = 1 << 25


def voxel_volume_ml(affine: np.ndarray) -> float:
    """Volume of one voxel in mL (|det| of the affine's 3x3 part, mm^3 / 1000)."""
    return float(abs(np.linalg.det(np.asarray(affine, float)[:3, :3])) / 1000.0)


def _spacing(affine: np.ndarray) -> list[float]:
    return [float(v) for v in voxel_sizes(np.asarray(affine, float))]


def _chunk_axis(arr: np.ndarray) -> tuple[int, str]:
    """The slowest-varying axis in memory and the matching order for scratch arrays.

    Decided from the strides, so crops and flipped views of a Fortran-ordered
    (NIfTI) volume are still walked slab by slab along their last axis.
    """
    st = np.abs(np.asarray(arr.strides[:3], dtype=np.int64))
    return (2, "F") if st[2] > st[0] else (0, "C")


def _slab(arr: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    sl = [slice(None)] * 3
    sl[axis] = slice(start, stop)
    return arr[tuple(sl)]


def _key_buffer(buf: np.ndarray | None, shape: tuple, order: str) -> np.ndarray:
    """An intp scratch array of ``shape`` (reusing ``buf``'s memory when large enough)."""
    n = int(np.prod(shape))
    if buf is None or buf.size < n:
        buf = np.empty(n, np.intp)
    return buf[:n].reshape(shape, order=order)


def _value_hist(image: np.ndarray, vmin: int, nb: int) -> np.ndarray:
    """Histogram of an integer image over ``vmin .. vmin + nb - 1``, slab by slab."""
    axis, order = _chunk_axis(image)
    n_slab = max(1, (1 << 20) // max(1, image.size // max(1, image.shape[axis])))
    hist = np.zeros(nb, np.int64)
    buf = None
    for s in range(0, image.shape[axis], n_slab):
        a = _slab(image, axis, s, s + n_slab)
        key = _key_buffer(buf, a.shape, order)
        buf = key.reshape(-1, order=order)
        # ufuncs on strided views iterate in memory order; the key buffer is contiguous
        np.subtract(a, vmin, out=key, casting="unsafe")
        hist += np.bincount(key.reshape(-1, order=order), minlength=nb)
    return hist


def _joint_hist(image: np.ndarray, labels: np.ndarray, rows: int, vmin: int, nb: int) -> np.ndarray:
    """Joint histogram ``hist[label, value - vmin]`` of two same-shape arrays."""
    axis, order = _chunk_axis(labels)
    per_slice = max(1, labels.size // max(1, labels.shape[axis]))
    n_slab = max(1, min(labels.shape[axis], max(2 * rows * nb, 1 << 18) // per_slice))
    hist = np.zeros(rows * nb, np.int64)
    buf = None
    for s in range(0, labels.shape[axis], n_slab):
        lab = _slab(labels, axis, s, s + n_slab)
        key = _key_buffer(buf, lab.shape, order)
        buf = key.reshape(-1, order=order)
        np.multiply(lab, nb, out=key, dtype=np.intp, casting="unsafe")
        np.add(key, _slab(image, axis, s, s + n_slab), out=key, casting="unsafe")
        key -= vmin
        hist += np.bincount(key.reshape(-1, order=order), minlength=rows * nb)
    return hist.reshape(rows, nb)


def _foreground_box(labels: np.ndarray) -> tuple[tuple[slice, ...], int] | None:
    """Bounding box (slices) of ``labels != 0`` and the largest label, None if empty."""
    box = nonzero_box(labels)
    if box is None:
        return None
    return box, int(np.asarray(labels[box]).max())


def image_stats(image: np.ndarray, affine: np.ndarray) -> ImageStats:
    """Whole-image statistics: shape, spacing (mm), dtype, min, max, mean, std, percentiles.

    Percentiles 0.5, 50 and 99.5 (keys ``p00_5``, ``p50``, ``p99_5``) are those of
    nnU-Net's dataset fingerprint; exact for integer images (histogram, no sort).
    """
    image = np.asarray(image)
    res = _image_summary(image)
    return ImageStats(
        shape=tuple(int(s) for s in image.shape),
        spacing_mm=tuple(_spacing(affine)),
        dtype=str(image.dtype),
        voxels=int(image.size),
        volume_ml=float(image.size * voxel_volume_ml(affine)),
        min=res["min"],
        max=res["max"],
        mean=res["mean"],
        std=res["std"],
        p00_5=res["q"][0],
        p50=res["q"][1],
        p99_5=res["q"][2],
    )


def _int_range(arr: np.ndarray) -> tuple[int, int] | None:
    """(vmin, number of bins) when ``arr`` is integer with a modest value range."""
    if arr.dtype.kind not in "iub" or arr.size == 0:
        return None
    vmin, vmax = int(arr.min()), int(arr.max())
    nb = vmax - vmin + 1
    return (vmin, nb) if nb <= MAX_BINS else None


def _image_summary(image: np.ndarray) -> dict:
    rng = _int_range(image)
    if rng is None:
        return _summary_from_values(image.ravel(), PERCENTILES_IMAGE)
    vmin, nb = rng
    return _summary_from_hist(_value_hist(image, vmin, nb), np.arange(vmin, vmin + nb), PERCENTILES_IMAGE)


def _label_geometry(lab: np.ndarray, value: int, offset) -> tuple[int, list, list, list]:
    """Count, inclusive bbox and voxel centroid of one label inside a crop."""
    axis, _ = _chunk_axis(lab)
    m = lab == value
    others = tuple(a for a in range(3) if a != axis)
    # 2D counts over the other axes: summing whole planes is vectorised; uint16 is
    # exact while the axis is shorter than 65536 and much faster than int64.
    acc = np.uint16 if lab.shape[axis] < 65536 else np.int64
    proj = np.add.reduce(m.view(np.uint8), axis=axis, dtype=acc).astype(np.int64)
    prof_axis = m.sum(axis=others, dtype=np.int64)
    profiles = [None, None, None]
    profiles[axis] = prof_axis
    profiles[others[0]] = proj.sum(axis=1)
    profiles[others[1]] = proj.sum(axis=0)
    n = int(prof_axis.sum())
    lo, hi, cen = [], [], []
    for a in range(3):
        p = profiles[a]
        nz = np.flatnonzero(p)
        lo.append(int(nz[0]) + int(offset[a]))
        hi.append(int(nz[-1]) + int(offset[a]))
        cen.append(float(np.dot(p, np.arange(p.size, dtype=np.float64))) / n + float(offset[a]))
    return n, lo, hi, cen


def label_stats(
    image: np.ndarray | None,
    labels: np.ndarray,
    affine: np.ndarray,
    names: dict[int, str] | None = None,
    include_background: bool = False,
) -> list[LabelStats]:
    """Per-label voxel count, volume, share and intensity statistics.

    Parameters
    ----------
    image
        Intensity volume in stored order, or None (intensity keys are then None).
    labels
        Integer label volume in stored order, same shape.
    affine
        Voxel-to-RAS+ affine of both arrays.
    names
        Label value -> name; missing names become ``"label N"``.
    include_background
        Also report label 0 (its ``share`` is None).

    Returns
    -------
    list of LabelStats
        One per label value present (ascending), with fields ``label, name, voxels,
        volume_ml, share`` (of all non-zero voxels), ``mean, std, min, max,
        median, p05, p95`` (population std; numpy's linear percentiles),
        ``bbox_min, bbox_max`` (inclusive stored-order indices),
        ``centroid_voxel`` and ``centroid_mm`` (RAS+ mm).
    """
    labels = np.asarray(labels)
    affine = np.asarray(affine, float)
    names = dict(names or {})
    if labels.ndim != 3:
        raise ValueError(f"labels must be 3D, got shape {labels.shape}")
    if labels.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if image is not None:
        image = np.asarray(image)
        if image.shape != labels.shape:
            raise ValueError(f"image shape {image.shape} differs from labels shape {labels.shape}")
    if labels.dtype.kind == "i" and labels.size and int(labels.min()) < 0:
        raise ValueError("labels must not be negative")
    fg = _foreground_box(labels)
    rows_out: list[LabelStats] = []
    if fg is None and not include_background:
        return rows_out
    box, maxlab = fg if fg is not None else ((slice(0, 0),) * 3, 0)
    lab_c = labels[box]
    img_c = image[box] if image is not None else None
    offset = [s.start for s in box]
    summaries: dict[int, dict] = {}
    rng = _int_range(image) if image is not None else None
    present: list[int]
    if img_c is not None and rng is not None and (maxlab + 1) * rng[1] <= MAX_BINS:
        vmin, nb = rng
        joint = _joint_hist(img_c, lab_c, maxlab + 1, vmin, nb)
        values = np.arange(vmin, vmin + nb)
        present = [int(v) for v in np.flatnonzero(joint.sum(axis=1)) if v != 0]
        for v in present:
            summaries[v] = _summary_from_hist(joint[v], values, PERCENTILES_LABEL)
        if include_background:
            total = _value_hist(image, vmin, nb)
            summaries[0] = _summary_from_hist(total - joint[1:].sum(axis=0), values, PERCENTILES_LABEL)
    else:
        present = [int(v) for v in np.unique(lab_c) if v != 0] if lab_c.size else []
        if img_c is not None:
            for v in present:
                summaries[v] = _summary_from_values(img_c[lab_c == v], PERCENTILES_LABEL)
            if include_background:
                summaries[0] = _summary_from_values(image[labels == 0], PERCENTILES_LABEL)
    geoms = {v: _label_geometry(lab_c, v, offset) for v in present}
    n_fg = sum(g[0] for g in geoms.values())
    if include_background:
        n0 = int(labels.size - n_fg)
        if n0 > 0:
            geoms[0] = _label_geometry(labels, 0, (0, 0, 0))
            present = [0, *present]
    vml = voxel_volume_ml(affine)
    for v in present:
        n, lo, hi, cen = geoms[v]
        s = summaries.get(v)
        q = s["q"] if s else [None] * 3
        rows_out.append(
            LabelStats(
                label=v,
                name=str(names.get(v, "background" if v == 0 else f"label {v}")),
                voxels=n,
                volume_ml=float(n * vml),
                share=None if v == 0 or n_fg == 0 else float(n / n_fg),
                mean=s["mean"] if s else None,
                std=s["std"] if s else None,
                min=s["min"] if s else None,
                max=s["max"] if s else None,
                median=q[1],
                p05=q[0],
                p95=q[2],
                bbox_min=tuple(lo),
                bbox_max=tuple(hi),
                centroid_voxel=tuple(cen),
                centroid_mm=tuple(float(x) for x in affine[:3, :3] @ np.asarray(cen) + affine[:3, 3]),
            )
        )
    return rows_out


def label_histograms(
    image: np.ndarray, labels: np.ndarray, n_bins: int = 200, value_range: tuple[float, float] | None = None
) -> tuple[np.ndarray, dict[int, np.ndarray], np.ndarray]:
    """Intensity histograms per non-zero label and of the whole image, on shared bins.

    Parameters
    ----------
    image, labels
        Same-shape arrays (labels integer).
    n_bins
        Number of bins (integer images never get bins narrower than one value).
    value_range
        (low, high) of the bins; default: the image's 0.5 and 99.5 percentiles
        widened to include every label's min and max.

    Returns
    -------
    (edges, per_label, whole)
        Bin edges, ``{label: counts}`` and the whole image's counts.  Values outside
        the range are not counted.
    """
    image, labels = np.asarray(image), np.asarray(labels)
    fg = _foreground_box(labels)
    rng = _int_range(image)
    if rng is not None:
        vmin, nb = rng
        whole_v = _value_hist(image, vmin, nb)
        values = np.arange(vmin, vmin + nb)
        joint = _joint_hist(image[fg[0]], labels[fg[0]], fg[1] + 1, vmin, nb) if fg else np.zeros((1, nb), np.int64)
        if value_range is None:
            lo, _, hi = hist_percentiles(whole_v, values, PERCENTILES_IMAGE)
            inside = np.flatnonzero(joint[1:].sum(axis=0))
            if inside.size:
                lo, hi = min(lo, float(values[inside[0]])), max(hi, float(values[inside[-1]]))
            value_range = (lo, hi)
        lo, hi = value_range
        width = max(1.0, np.ceil((hi - lo + 1) / n_bins))
        edges = np.arange(np.floor(lo) - 0.5, hi + 0.5 + width, width)

        def rebin(counts):
            return np.histogram(values, bins=edges, weights=counts)[0].astype(np.int64)

        per = {int(v): rebin(joint[v]) for v in np.flatnonzero(joint.sum(axis=1)) if v != 0}
        return edges, per, rebin(whole_v)
    finite = image[np.isfinite(image)]
    if value_range is None:
        value_range = tuple(float(x) for x in np.percentile(finite, ROBUST_RANGE)) if finite.size else (0.0, 1.0)
    edges = np.histogram_bin_edges(finite, bins=n_bins, range=value_range)
    present = [int(v) for v in np.unique(labels[fg[0]]) if v != 0] if fg else []
    per = {v: np.histogram(image[labels == v], bins=edges)[0] for v in present}
    return edges, per, np.histogram(finite, bins=edges)[0]
