"""Typed results of a comparison: one class, one lesion, the lesion summary, one case.

Each is a small dataclass with ``to_row()`` (a flat dict of scalars: the CLI's table
and CSV columns, the widget's tables) and ``to_json()`` (strict-JSON values: NaN and
infinity become ``null``; the ``*_empty`` flags say why a value is missing or infinite).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from ..results.values import json_safe

__all__ = ["ClassMetrics", "LesionRow", "LesionSummary", "CaseComparison", "json_safe"]


@dataclass
class ClassMetrics:
    """Voxel and surface metrics of one (ground-truth) class.

    Voxel counts and Dice/IoU follow nnU-Net's ``compute_metrics``; surface metrics
    follow MONAI (edge voxels by 6-neighbour erosion, exact Euclidean distances in
    mm between edge-voxel centres); see :mod:`napari_liverct.compare`.
    """

    label: int
    name: str
    pred_values: tuple[int, ...]
    tp: int
    fp: int
    fn: int
    tn: int
    dice: float
    iou: float
    sensitivity: float
    precision: float
    gt_ml: float
    pred_ml: float
    volume_diff_ml: float
    volume_diff_pct: float
    ravd: float
    vs: float = math.nan
    hd: float = math.nan
    hd95: float = math.nan
    assd: float = math.nan
    nsd: float = math.nan
    tolerance_mm: float = 2.0
    gt_empty: bool = False
    pred_empty: bool = False
    both_empty: bool = False

    @property
    def n_ref(self) -> int:
        return self.tp + self.fn

    @property
    def n_pred(self) -> int:
        return self.tp + self.fp

    def to_row(self) -> dict:
        row = asdict(self)
        row["pred_values"] = " ".join(str(v) for v in self.pred_values)
        return row

    def to_json(self) -> dict:
        out = json_safe(asdict(self))
        out["pred_values"] = list(self.pred_values)
        return out

    def nnunet_metrics(self) -> dict:
        """The per-class dict of nnU-Net's ``summary.json`` (Dice, IoU, FP, TP, FN, TN, n_pred, n_ref)."""
        return {
            "Dice": self.dice,
            "IoU": self.iou,
            "FP": self.fp,
            "TP": self.tp,
            "FN": self.fn,
            "TN": self.tn,
            "n_pred": self.n_pred,
            "n_ref": self.n_ref,
        }


@dataclass
class LesionRow:
    """One lesion: a ground-truth lesion (``G<n>``) or an unmatched predicted one (``P<n>``).

    ``status`` is ``"TP"`` (detected), ``"FN"`` (missed) or ``"FP"`` (invented).  ``gt_id``
    and ``pred_id`` number components 1..n by decreasing size (the statistics' lesion
    ids); ``matched`` lists the other side's ids it is paired with (overlap rule: every
    overlapping one).  ``diameter_mm`` and ``centroid_ras`` describe the ground-truth
    lesion of a G row and the predicted lesion of a P row.
    """

    id: str
    status: str
    gt_id: int | None
    pred_id: int | None
    matched: tuple[int, ...]
    gt_ml: float
    pred_ml: float
    dice: float
    iou: float
    diameter_mm: float
    centroid_ras: tuple[float, float, float]
    merged: bool = False
    split: bool = False

    def to_row(self) -> dict:
        row = asdict(self)
        row["matched"] = " ".join(str(v) for v in self.matched)
        cx, cy, cz = self.centroid_ras
        del row["centroid_ras"]
        row.update(centroid_r=cx, centroid_a=cy, centroid_s=cz)
        return row

    def to_json(self) -> dict:
        out = json_safe(asdict(self))
        out["matched"] = list(self.matched)
        return out


@dataclass
class LesionSummary:
    """Lesion detection of one case (see :func:`napari_liverct.compare.lesions.compare_lesions`)."""

    labels: tuple[int, ...]
    connectivity: int
    match: str
    n_gt: int
    n_pred: int
    tp: int
    fn: int
    fp: int
    tp_pred: int
    precision: float
    recall: float
    f1: float
    merges: int
    splits: int
    pq: float
    sq: float
    rq: float
    tp_iou50: int
    fp_iou50: int
    fn_iou50: int
    lesions: list[LesionRow] = field(default_factory=list)

    def to_row(self) -> dict:
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "lesions"}
        row["labels"] = " ".join(str(v) for v in self.labels)
        return row

    def to_json(self) -> dict:
        out = json_safe({f.name: getattr(self, f.name) for f in fields(self) if f.name != "lesions"})
        out["labels"] = list(self.labels)
        out["lesions"] = [r.to_json() for r in self.lesions]
        return out


@dataclass
class CaseComparison:
    """Everything :func:`napari_liverct.compare.compare_arrays` measured on one pair."""

    classes: list[ClassMetrics]
    lesions: LesionSummary | None
    spacing_mm: tuple[float, float, float]
    shape: tuple[int, int, int]
    voxel_ml: float
    mode: str
    tolerance_mm: float
    gt_file: str | None = None
    pred_file: str | None = None
    resampled: bool = False
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    both_empty: bool = False  # no labelled voxel in either map

    def class_rows(self) -> list[dict]:
        return [c.to_row() for c in self.classes]

    def lesion_rows(self) -> list[dict]:
        return [r.to_row() for r in self.lesions.lesions] if self.lesions else []

    def nnunet_case(self) -> dict:
        """One ``metric_per_case`` entry of nnU-Net's summary.json (keys are class labels)."""
        return {
            "reference_file": self.gt_file,
            "prediction_file": self.pred_file,
            "metrics": {str(c.label): c.nnunet_metrics() for c in self.classes},
        }

    def to_row(self) -> dict:
        return {
            "gt_file": self.gt_file,
            "pred_file": self.pred_file,
            "mode": self.mode,
            "resampled": self.resampled,
            "seconds": self.seconds,
        }

    def to_json(self) -> dict:
        return json_safe(
            {
                "gt_file": self.gt_file,
                "pred_file": self.pred_file,
                "shape": list(self.shape),
                "spacing_mm": list(self.spacing_mm),
                "voxel_ml": self.voxel_ml,
                "mode": self.mode,
                "tolerance_mm": self.tolerance_mm,
                "resampled": self.resampled,
                "both_empty": self.both_empty,
                "notes": list(self.notes),
                "seconds": self.seconds,
                "classes": [c.to_json() for c in self.classes],
                "lesions": self.lesions.to_json() if self.lesions else None,
                "nnunet": self.nnunet_case(),
            }
        )
