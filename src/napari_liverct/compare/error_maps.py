"""napari-free layer building for the "Compare segmentations" widget.

Everything here is numpy / scipy / scikit-image on the ground truth's *stored* grid
(the arrays :func:`napari_liverct.compare.compare_arrays` measured), turned into
LayerData tuples with the one factory :func:`napari_liverct.display.layers.array_to_layer_data`,
so the new layers overlay the source layers exactly.

Errors layer, by voxel
    Each evaluated class ``c`` (1..n, the order of ``CaseComparison.classes``) owns
    four values ``4 (c - 1) + kind``:

    ====  ===============  ======================================================
    kind  name             voxels
    ====  ===============  ======================================================
    1     agreement        ground truth c and prediction (mapped to) c
    2     missed (FN)      ground truth c, prediction background
    3     extra (FP)       prediction c, ground truth background
    4     missed, other    ground truth c, prediction another evaluated class
          class predicted  (a tumour predicted as liver is a missed tumour)
    ====  ===============  ======================================================

    A class's FN count is kind 2 + kind 4 of that class, its FP count kind 3 + the
    kind-4 voxels of the other classes that the prediction calls ``c``.  The colour
    depends on the kind only (kind 4 a darker shade of the FN colour); the class
    shows on hover (``features``).

Errors layer, by lesion
    Value ``r + 1`` paints lesion row ``r`` of the comparison (``G<n>`` rows, then
    ``P<n>`` rows), coloured by status: matched (the true lesion and the predicted
    lesions matched to it), missed, false.  Missed lesions are painted last, so they
    stay visible where an unmatched prediction overlaps them (IoU rule).

Surface distance
    The prediction's surface of one class (marching cubes,
    :func:`napari_liverct.display.mesh.mask_surface`) in world mm, each vertex carrying its
    signed distance to the ground-truth surface of that class (:func:`signed_surface_distance`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..display.layers import array_to_layer_data
from ..geometry.grids import ras_to_world
from .classes import relabel
from .metrics import class_metrics
from .results import CaseComparison

__all__ = [
    "ERROR_KINDS",
    "KIND_COLORS",
    "STATUS_COLORS",
    "STATUS_NAMES",
    "DISTANCE_COLORMAP",
    "class_index_maps",
    "voxel_errors",
    "lesion_errors",
    "error_layer_data",
    "signed_surface_distance",
    "distance_surface",
    "DistanceSurface",
]

#: kind -> name of the by-voxel errors layer
ERROR_KINDS = {1: "agreement", 2: "missed (FN)", 3: "extra (FP)", 4: "missed (FN), other class predicted"}
#: Three clearly different colours: green agreement, orange missed, blue extra (orange
#: and blue stay apart for red-green colour vision); a missed voxel that the
#: prediction gave another class is a crimson shade of "missed".
KIND_COLORS = {
    1: (0.20, 0.78, 0.30, 0.45),  # see-through: the CT under agreement stays readable
    2: (1.00, 0.55, 0.00, 1.0),
    3: (0.10, 0.45, 1.00, 1.0),
    4: (0.85, 0.05, 0.30, 1.0),
}
STATUS_NAMES = {"TP": "matched", "FN": "missed", "FP": "false"}
STATUS_COLORS = {"TP": KIND_COLORS[1], "FN": KIND_COLORS[2], "FP": KIND_COLORS[3]}
#: Diverging colour map of the distance surface: blue inside the truth, red outside.
DISTANCE_COLORMAP = "RdBu_r"
_TRANSPARENT = (0.0, 0.0, 0.0, 0.0)
#: per-class metrics each value of the by-voxel errors layer carries in its features (compare.metrics "map")
_MAP_METRICS = tuple(m.key for m in class_metrics("map"))
#: Taubin smoothing passes of both surfaces of the distance view.
SMOOTH_ITERATIONS = 10


# ------------------------------------------------------------------ classes
def class_index_maps(gt: np.ndarray, pred: np.ndarray, res: CaseComparison) -> tuple[np.ndarray, np.ndarray]:
    """Both maps relabelled to the class indices 1..n of ``res.classes`` (0 = not evaluated).

    Follows :mod:`napari_liverct.compare.classes`: identity / map modes compare the
    prediction values ``pred_values`` of class ``label``; the foreground mode any
    non-zero value with any non-zero value.
    """
    n = len(res.classes)
    if res.mode == "foreground":
        return (np.asarray(gt) != 0).astype(np.uint8), (np.asarray(pred) != 0).astype(np.uint8)
    gt_lut = {int(c.label): i for i, c in enumerate(res.classes, start=1)}
    pred_lut = {int(v): i for i, c in enumerate(res.classes, start=1) for v in c.pred_values}
    return relabel(gt, gt_lut, n + 1), relabel(pred, pred_lut, n + 1)


def voxel_errors(gm: np.ndarray, pm: np.ndarray, res: CaseComparison) -> tuple[np.ndarray, dict]:
    """By-voxel errors map (module docstring) and its ``features`` columns (one row per value)."""
    from .surface import mask_box

    n = len(res.classes)
    dtype = np.uint8 if 4 * n < 255 else np.uint16
    out = np.zeros(gm.shape, dtype)
    box = mask_box((gm > 0) | (pm > 0))  # all temporaries in the joint box only
    counts = np.zeros(4 * n + 1, np.int64)
    if box is not None:
        g, p = gm[box], pm[box]
        cls = np.where(g > 0, g, p).astype(dtype)  # the class a voxel is reported under
        kind = np.zeros(g.shape, dtype)
        gpos, ppos = g > 0, p > 0
        kind[gpos & (p == g)] = 1
        kind[gpos & ~ppos] = 2
        kind[~gpos & ppos] = 3
        kind[gpos & ppos & (p != g)] = 4
        on = kind > 0
        vals = (4 * (cls[on].astype(np.int64) - 1) + kind[on]).astype(dtype)
        kind[on] = vals
        out[box] = kind
        counts += np.bincount(vals, minlength=4 * n + 1)
    err = out
    feats: dict[str, list] = {
        k: []
        for k in (
            "index",
            "name",
            "class_label",
            "class_name",
            "kind",
            "voxels",
            "volume_ml",
            *_MAP_METRICS,
        )
    }
    feats["index"].append(0)
    feats["name"].append("background / both empty")
    for key in list(feats)[2:]:
        feats[key].append(math.nan if key not in ("class_name", "kind") else "")
    feats["class_label"][0] = 0
    for c, cm in enumerate(res.classes, start=1):
        for k, kname in ERROR_KINDS.items():
            v = 4 * (c - 1) + k
            feats["index"].append(v)
            feats["name"].append(f"{cm.name}: {kname}")
            feats["class_label"].append(int(cm.label))
            feats["class_name"].append(cm.name)
            feats["kind"].append(kname)
            feats["voxels"].append(int(counts[v]))
            feats["volume_ml"].append(float(counts[v] * res.voxel_ml))
            for key in _MAP_METRICS:
                feats[key].append(float(getattr(cm, key)))
    return err, feats


def _lesion_components(gm, pm, res: CaseComparison):
    """Lesion ids of both maps inside the lesions' joint box: ``(box, gcc, pcc)`` (box None: no lesion)."""
    from ..stats import lesion_label_map
    from .surface import mask_box

    les = res.lesions
    idx = [i for i, c in enumerate(res.classes, start=1) if int(c.label) in set(les.labels)]
    gmask, pmask = np.isin(gm, idx), np.isin(pm, idx)
    box = mask_box(gmask | pmask)
    if box is None:
        return None, None, None
    # the same numbering as compare_lesions (largest first, cc3d raster order on ties;
    # cropping keeps that order)
    gcc, ng = lesion_label_map(gmask[box].view(np.uint8), label=1, connectivity=les.connectivity)
    pcc, npr = lesion_label_map(pmask[box].view(np.uint8), label=1, connectivity=les.connectivity)
    if (ng, npr) != (les.n_gt, les.n_pred):
        raise RuntimeError(
            f"lesion components differ from the comparison's ({ng}, {npr}) vs ({les.n_gt}, {les.n_pred})"
        )
    return box, gcc, pcc


def lesion_errors(gm: np.ndarray, pm: np.ndarray, res: CaseComparison) -> tuple[np.ndarray, dict, dict]:
    """By-lesion errors map, its ``features`` and its colours (``{value: RGBA}``).

    Returns an all-zero map when the comparison has no lesion analysis.
    """
    les = res.lesions
    rows = les.lesions if les is not None else []
    dtype = np.uint16 if len(rows) < 65535 else np.uint32
    err = np.zeros(gm.shape, dtype)
    feats: dict[str, list] = {"index": [0], "name": ["background"]}
    colors: dict = {0: _TRANSPARENT, None: _TRANSPARENT}
    if not rows:
        return err, feats, colors
    box, gcc, pcc = _lesion_components(gm, pm, res)
    if box is None:
        return err, feats, colors
    # one look-up per side instead of a pass per lesion: a true lesion's voxels show its
    # row (matched or missed); elsewhere a predicted lesion shows its own row (false) or
    # the row of the true lesion it is matched with
    g_val = np.zeros(les.n_gt + 1, dtype)
    p_val = np.zeros(les.n_pred + 1, dtype)
    for r, row in enumerate(rows, start=1):
        if row.status == "FP":
            p_val[row.pred_id] = r
        else:
            g_val[row.gt_id] = r
    for r, row in enumerate(rows, start=1):
        if row.status == "TP":
            for p in row.matched:
                if p_val[p] == 0:
                    p_val[p] = r
    err[box] = np.where(gcc > 0, g_val[gcc], p_val[pcc])
    table = [row.to_row() for row in rows]
    feats = {"index": [0], "name": ["background"], **{key: [None] for key in table[0]}}
    for r, (row, t) in enumerate(zip(rows, table), start=1):
        feats["index"].append(r)
        feats["name"].append(f"{row.id}: {STATUS_NAMES.get(row.status, row.status)}")
        for key, val in t.items():
            feats[key].append(val)
        colors[r] = STATUS_COLORS.get(row.status, (0.8, 0.8, 0.8, 1.0))
    return err, feats, colors


def voxel_colors(n_classes: int) -> dict:
    """``{value: RGBA}`` of the by-voxel errors map: the colour of each value's kind."""
    colors: dict = {0: _TRANSPARENT, None: _TRANSPARENT}
    for c in range(n_classes):
        for k, rgba in KIND_COLORS.items():
            colors[4 * c + k] = rgba
    return colors


def error_layer_data(
    err: np.ndarray, affine: np.ndarray, *, name: str, features: dict, colors: dict, metadata: dict | None = None
) -> tuple:
    """LayerData of an errors map (stored order of the ground truth, its RAS ``affine``)."""
    names = {int(i): str(n) for i, n in zip(features["index"], features["name"]) if int(i) != 0}
    ld = array_to_layer_data(
        err, affine, kind="labels", name=name, label_names=names, extra_metadata=dict(metadata or {})
    )
    kwargs = ld[1]
    kwargs["colormap"] = colors
    kwargs["features"] = features
    kwargs["opacity"] = 0.75
    return ld


# ------------------------------------------------------------------ surface distance
def signed_surface_distance(
    points_ras: np.ndarray, gt_mask: np.ndarray, affine: np.ndarray, smooth_iterations: int = 0
) -> np.ndarray:
    """Signed distance in mm from each point to the surface of ``gt_mask``.

    The surface is the marching-cubes iso-surface (level 0.5) of the mask, the same
    construction as the prediction's surface (with the same Taubin smoothing when
    ``smooth_iterations`` > 0), in RAS mm.  The distance is to the
    nearest of its vertices and triangle centroids (KD-tree), so it over-estimates
    the true point-to-surface distance by at most about a quarter of a voxel on a
    voxel staircase (0 where the surfaces coincide).  The sign is negative inside
    the ground truth (trilinear value of the mask > 0.5 at the point), positive
    outside.  An empty ground truth gives +inf everywhere.
    """
    from scipy.ndimage import map_coordinates
    from scipy.spatial import cKDTree

    from ..display.mesh import mask_surface
    from .surface import mask_box

    pts = np.asarray(points_ras, float).reshape(-1, 3)
    if len(pts) == 0:
        return np.zeros(0)
    verts, faces = mask_surface(np.asarray(gt_mask, bool), affine, smooth_iterations=int(smooth_iterations))
    if len(verts) == 0:
        return np.full(len(pts), np.inf)
    samples = np.vstack([verts, verts[faces].mean(axis=1)])
    dist, _ = cKDTree(samples).query(pts, workers=1)
    aff = np.asarray(affine, float)
    vox = (pts - aff[:3, 3]) @ np.linalg.inv(aff[:3, :3]).T
    box = mask_box(np.asarray(gt_mask, bool))  # interpolate in the mask's box only (memory)
    lo = np.array([max(b.start - 1, 0) for b in box])
    crop = np.asarray(gt_mask[tuple(slice(a, b.stop + 1) for a, b in zip(lo, box))], np.float32)
    inside = map_coordinates(crop, (vox - lo).T, order=1, mode="constant", cval=0.0) > 0.5
    return np.where(inside, -dist, dist)


@dataclass
class DistanceSurface:
    """The prediction's surface with signed distances (RAS mm vertices)."""

    label: int
    name: str
    vertices_ras: np.ndarray
    faces: np.ndarray
    distances: np.ndarray

    @property
    def limit(self) -> float:
        """Half-range of the symmetric colour scale: 99th percentile of |d|, at least 1 mm."""
        d = np.abs(self.distances[np.isfinite(self.distances)])
        if d.size == 0:
            return 1.0
        return float(max(1.0, np.ceil(np.percentile(d, 99) * 2) / 2))

    def layer_data(self, residual=None, layer_name: str | None = None) -> tuple:
        """Surface LayerData in napari world (S, P, L) mm, diverging colours symmetric around 0."""
        lim = self.limit
        values = np.clip(np.nan_to_num(self.distances, posinf=lim, neginf=-lim), -lim, lim)
        verts = ras_to_world(self.vertices_ras, residual) if len(self.vertices_ras) else np.zeros((0, 3))
        d = self.distances[np.isfinite(self.distances)]
        meta = {
            "label": self.label,
            "class_name": self.name,
            "limit_mm": lim,
            "distance_mm": {
                "min": float(d.min()) if d.size else math.nan,
                "max": float(d.max()) if d.size else math.nan,
                "mean_abs": float(np.abs(d).mean()) if d.size else math.nan,
            },
        }
        kwargs = {
            "name": layer_name or f"surface distance mm ({self.name})",
            "colormap": DISTANCE_COLORMAP,
            "contrast_limits": (-lim, lim),
            "metadata": meta,
            "shading": "smooth",
        }
        return ((verts, self.faces, values.astype(np.float32)), kwargs, "surface")


def distance_surface(
    gm: np.ndarray,
    pm: np.ndarray,
    res: CaseComparison,
    label: int,
    affine: np.ndarray,
    *,
    include=(),
    smooth_iterations: int = SMOOTH_ITERATIONS,
    step_size: int | None = None,
) -> DistanceSurface | None:
    """The prediction's surface of ground-truth class ``label``, coloured by signed distance.

    ``include``: more ground-truth classes whose voxels count as part of ``label`` on
    both sides (the liver's outer surface encloses its tumours, so the widget passes
    the lesion classes for an organ).  Both surfaces get ``smooth_iterations`` Taubin
    passes (volume-preserving; removes the voxel staircase).  None when the class is
    not evaluated; an empty surface when the prediction is empty.  ``step_size``
    (marching cubes) defaults to 1, or 2 for masks of more than 8 M voxels.
    """
    from ..display.mesh import mask_surface
    from .surface import mask_box

    labels = [int(c.label) for c in res.classes]
    if int(label) not in labels:
        return None
    c = labels.index(int(label)) + 1
    name = res.classes[c - 1].name
    idx = [c] + [labels.index(int(v)) + 1 for v in include if int(v) in labels and int(v) != int(label)]
    pmask, gmask = np.isin(pm, idx), np.isin(gm, idx)
    if len(idx) > 1:
        name += " + " + " + ".join(res.classes[i - 1].name for i in idx[1:])
    if step_size is None:
        box = mask_box(pmask)
        n = 0 if box is None else int(np.prod([s.stop - s.start for s in box]))
        step_size = 2 if n > 8_000_000 else 1
    verts, faces = mask_surface(pmask, affine, step_size=int(step_size), smooth_iterations=int(smooth_iterations))
    dist = signed_surface_distance(verts, gmask, affine, smooth_iterations) if len(verts) else np.zeros(0)
    return DistanceSurface(int(label), name, verts, faces, dist)


# ------------------------------------------------------------------ class mapping
