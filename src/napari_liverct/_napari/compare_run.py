"""The napari-free half of the "Compare segmentations" widget: the worker body and the table columns.

:func:`run_comparison` runs in the widget's thread worker: the prediction brought
onto the ground truth's stored grid (:func:`napari_liverct.geometry.grids.conform_to_grid`),
then :func:`napari_liverct.compare.compare_arrays` (the function ``napari-liverct
compare`` calls, so the numbers equal the CLI's), then the errors maps and the
distance surface as LayerData (:mod:`~napari_liverct.compare.error_maps`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..compare import error_maps
from ..compare.metrics import metric, metric_table
from ..compare.report import CLASS_COLUMNS, LESION_COLUMNS
from ..compare.results import CaseComparison
from ..results.values import format_value

__all__ = [
    "CompareOutcome",
    "run_comparison",
    "summary_text",
    "CLASS_TABLE",
    "LESION_TABLE",
    "ERROR_MODES",
    "fmt_cell",
]

#: (header, key) of the tables: the class table is the text report's metrics and the counts (compare.metrics).
CLASS_TABLE = [
    ("label", "label"),
    ("name", "name"),
    ("pred", "pred_values"),
    *((m.label, m.key) for m in metric_table()),
]
LESION_TABLE = [
    ("lesion", "id"),
    ("status", "status"),
    ("matched", "matched"),
    ("gt mL", "gt_ml"),
    ("pred mL", "pred_ml"),
    ("Dice", "dice"),
    ("diam mm", "diameter_mm"),
    ("merge", "merged"),
    ("split", "split"),
]
ERROR_MODES = ("by voxel", "by lesion")
_CLASS_KEYS = {k for _, k in CLASS_TABLE[3:]}
assert all(k in CLASS_COLUMNS for _, k in CLASS_TABLE) and all(k in LESION_COLUMNS for _, k in LESION_TABLE)


def fmt_cell(key: str, v) -> str:
    """Table text of one value: a class metric as its :class:`~napari_liverct.compare.metrics.Metric`
    writes it, otherwise 3 decimals (mm 2); nan / inf spelled out."""
    if isinstance(v, bool):
        return "yes" if v else ""
    if key in _CLASS_KEYS:
        return metric(key).format(v)
    return format_value(v, 2 if key.endswith("_mm") else 3)


@dataclass
class CompareOutcome:
    """What the worker hands back to the widget (layers as napari-free LayerData)."""

    result: CaseComparison
    voxel_layer: tuple
    lesion_layer: tuple | None
    surface: error_maps.DistanceSurface | None
    residual: np.ndarray | None


def run_comparison(gt, gaff, pred, paff, names, opts, say, layer_names, residual):
    """Generator run in the worker thread: yields (done, total, message), returns a CompareOutcome."""
    from ..compare import compare_volumes

    total = 4
    yield (0, total, "grids and metrics")
    # the one core comparison the CLI's compare_files runs too
    res, pred_on_gt = compare_volumes(
        gt,
        gaff,
        pred,
        paff,
        resample=opts["resample"],
        files=opts["files"],
        grid_names=(f"'{layer_names[1]}' (prediction)", f"'{layer_names[0]}' (ground truth)"),
        hint="tick 'resample prediction' to resample it onto the ground truth (nearest neighbour)",
        mapping=opts["mapping"],
        foreground=opts["foreground"],
        names=names,
        lesion_labels=opts["lesion_labels"],
        connectivity=opts["connectivity"],
        match=opts["match"],
        tolerance_mm=opts["tolerance"],
        progress=say,
    )
    yield (2, total, "errors layer")
    gm, pm = error_maps.class_index_maps(gt, pred_on_gt, res)
    meta = {"comparison": res.to_json()}
    err, feats = error_maps.voxel_errors(gm, pm, res)
    name = f"errors ({layer_names[1]} vs {layer_names[0]})"
    voxel_ld = error_maps.error_layer_data(
        err,
        gaff,
        name=name,
        features=feats,
        colors=error_maps.voxel_colors(len(res.classes)),
        metadata={**meta, "errors_mode": "by voxel"},
    )
    lesion_ld = None
    if res.lesions is not None:
        lerr, lfeats, lcolors = error_maps.lesion_errors(gm, pm, res)
        lesion_ld = error_maps.error_layer_data(
            lerr, gaff, name=name, features=lfeats, colors=lcolors, metadata={**meta, "errors_mode": "by lesion"}
        )
    yield (3, total, "surface distance")
    surf = None
    label = opts["surface_label"]
    if res.mode == "foreground":
        label = 1
    if label is not None and opts.get("surface", True):
        # an organ's surface encloses its lesions (no cavities around the tumours)
        lesions = [] if res.mode == "foreground" or label in opts["lesion_labels"] else opts["lesion_labels"]
        surf = error_maps.distance_surface(gm, pm, res, label, gaff, include=lesions)
    yield (4, total, "done")
    return CompareOutcome(res, voxel_ld, lesion_ld, surf, residual)


def summary_text(res: CaseComparison) -> str:
    """One paragraph over the tables: classes, mode, tolerance, the lesion counts, notes, time."""
    parts = [f"{len(res.classes)} class(es), {res.mode} mode; NSD at {res.tolerance_mm:g} mm"]
    les = res.lesions
    if les is not None:
        parts.append(
            f"lesions ({les.connectivity}-connected, {les.match}): {les.n_gt} true, {les.n_pred} "
            f"predicted; TP {les.tp}, missed {les.fn}, false {les.fp}; F1 {fmt_cell('f1', les.f1)}; "
            f"merges {les.merges}, splits {les.splits}; PQ {fmt_cell('pq', les.pq)}"
        )
    else:
        parts.append("no lesion classes: no lesion analysis")
    parts += [f"note: {n}" for n in res.notes]
    parts.append(f"{res.seconds:.2f} s")
    return "; ".join(parts)
