"""Dataset summary of evaluated cases, and the per-case label anomalies of an evaluation.

:func:`summarise` aggregates over the **union** of the classes of all evaluated cases
(a class that only a later case has is never lost), and, as nnU-Net's
``compute_metrics_on_folder`` does, evaluates every class in every case: a class
absent from both maps of a case counts there with TP = FP = FN = 0, TN = all voxels
and Dice/IoU NaN (``both_empty``).  So the count means (TP, FP, FN, TN, n_pred,
n_ref) and the Dice/IoU nanmeans equal nnU-Net's (tested against nnunetv2 itself).
Each class carries ``n_cases`` (evaluated cases, all of which count) and
``n_present`` (cases where the class is in the ground truth or the prediction).

:func:`label_anomalies` flags label values a case should not have (values that
dataset.json does not declare, negative values); they are measured like any class
and reported as anomalies, never as a failure.

No napari, Qt, torch or MONAI import here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..results.anomaly import Anomaly
from .metrics import LESION_METRICS, VoxelCounts, class_metrics, count_values
from .results import ClassMetrics

__all__ = ["summarise", "EvaluationSummary", "label_anomalies", "absent_class", "AGGREGATED_METRICS"]

#: Per-class metrics summarised by mean / median / SD over the cases (compare.metrics, aggregate "stats").
AGGREGATED_METRICS = tuple(m.key for m in class_metrics(aggregate="stats"))
_LESION_SUMS = tuple(m.key for m in LESION_METRICS if m.aggregate == "sum")
_LESION_STATS = tuple(m.key for m in LESION_METRICS if m.aggregate == "stats")


def _stats(values: list[float]) -> dict:
    arr = np.asarray(values, float)
    fin = arr[np.isfinite(arr)]
    out = {"n": int(fin.size), "n_nan": int(np.isnan(arr).sum()), "n_inf": int(np.isinf(arr).sum())}
    if fin.size:
        out.update(mean=float(fin.mean()), median=float(np.median(fin)), sd=float(fin.std()))
    else:
        out.update(mean=math.nan, median=math.nan, sd=math.nan)
    return out


def _nanmean(values) -> float:
    """``np.nanmean`` without its "Mean of empty slice" warning (NaN when all are NaN)."""
    arr = np.asarray(values, float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def _div(a, b):
    return a / b if b else math.nan


def absent_class(label: int, name: str, n_voxels: int, tolerance_mm: float = 2.0) -> ClassMetrics:
    """A class absent from both maps of a case of ``n_voxels`` voxels (nnU-Net's counts)."""
    return ClassMetrics(
        label=int(label),
        name=name,
        pred_values=(),
        **count_values(VoxelCounts(tp=0, fp=0, fn=0, tn=int(n_voxels), voxel_ml=1.0)),
        tolerance_mm=float(tolerance_mm),
        gt_empty=True,
        pred_empty=True,
        both_empty=True,
    )


def _filled(results: list) -> tuple[list[int], dict[int, str], list[dict[int, ClassMetrics]]]:
    """Union of the classes (sorted) with names, and every case's classes over that union."""
    names: dict[int, str] = {}
    for res in results:
        for c in res.classes:
            names.setdefault(int(c.label), c.name)
    labels = sorted(names)
    per_case = []
    for res in results:
        have = {int(c.label): c for c in res.classes}
        n_vox = int(np.prod(res.shape))
        per_case.append(
            {lab: have.get(lab) or absent_class(lab, names[lab], n_vox, res.tolerance_mm) for lab in labels}
        )
    return labels, names, per_case


def _lesion_summary(les: list) -> dict | None:
    if not les:
        return None
    s = {k: sum(getattr(x, k) for x in les) for k in _LESION_SUMS}
    precision, recall = _div(s["tp_pred"], s["n_pred"]), _div(s["tp"], s["n_gt"])
    if s["n_gt"] == 0 and s["n_pred"] == 0:
        f1 = math.nan
    elif s["n_gt"] == 0 or s["n_pred"] == 0 or precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {
        **s,
        "match": les[0].match,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "rq_pooled": _div(s["tp_iou50"], s["tp_iou50"] + 0.5 * s["fp_iou50"] + 0.5 * s["fn_iou50"]),
        **{k: _stats([getattr(x, k) for x in les]) for k in _LESION_STATS},
        "f1_per_case": _stats([x.f1 for x in les]),
    }


@dataclass(frozen=True)
class EvaluationSummary:
    """The dataset summary of an evaluation (see the module docstring), complete when made.

    ``classes`` maps each class (as a string) to its counts, ``global_dice`` and the
    statistics of every metric in :data:`AGGREGATED_METRICS`; ``lesions`` pools the
    lesion detection (None without lesion classes); ``metric_per_case``, ``mean`` and
    ``foreground_mean`` are nnU-Net's ``summary.json`` entries.
    """

    n_cases: int
    n_evaluated: int
    n_failed: int
    classes: dict[str, dict]
    lesions: dict | None
    metric_per_case: list[dict]
    mean: dict[str, dict]
    foreground_mean: dict[str, float]

    def to_json(self) -> dict:
        """The ``summary`` block of ``napari-liverct evaluate``'s JSON."""
        return {
            "n_cases": self.n_cases,
            "n_evaluated": self.n_evaluated,
            "n_failed": self.n_failed,
            "classes": self.classes,
            "lesions": self.lesions,
        }

    def nnunet_json(self) -> dict:
        """nnU-Net's ``summary.json`` keys, at the top level of the evaluate JSON."""
        return {"metric_per_case": self.metric_per_case, "mean": self.mean, "foreground_mean": self.foreground_mean}

    def to_row(self) -> dict:
        """One flat row: the case counts, the foreground mean Dice (nnU-Net's) and the pooled lesion F1."""
        return {
            "n_cases": self.n_cases,
            "n_evaluated": self.n_evaluated,
            "n_failed": self.n_failed,
            "foreground_mean_dice": self.foreground_mean.get("Dice"),
            "lesion_f1": (self.lesions or {}).get("f1"),
        }


def summarise(rows: list[dict]) -> EvaluationSummary:
    """Dataset summary of evaluated rows (see the module docstring and
    :mod:`napari_liverct.compare.evaluate`)."""
    results = [r["result"] for r in rows if r and r.get("result") is not None]
    labels, names, per_case = _filled(results)
    classes: dict[str, dict] = {}
    for lab in labels:
        cms = [case[lab] for case in per_case]
        tp, fp, fn = (sum(getattr(c, k) for c in cms) for k in ("tp", "fp", "fn"))
        entry = {
            "name": names[lab],
            "n_cases": len(cms),
            "n_present": sum(1 for c in cms if not c.both_empty),
            "global_dice": _div(2 * tp, 2 * tp + fp + fn),
        }
        # compare.metrics: the summed counts, then the statistics of the metrics, in the list's order
        entry.update({m.key: sum(getattr(c, m.key) for c in cms) for m in class_metrics(aggregate="sum")})
        entry.update({m.key: _stats([getattr(c, m.key) for c in cms]) for m in class_metrics(aggregate="stats")})
        classes[str(lab)] = entry
    # nnU-Net's summary.json: every class in every case, nanmean per class, mean of those
    metric_per_case = [
        {
            "reference_file": res.gt_file,
            "prediction_file": res.pred_file,
            "metrics": {str(lab): case[lab].nnunet_metrics() for lab in labels},
        }
        for res, case in zip(results, per_case)
    ]
    keys = ("Dice", "IoU", "FP", "TP", "FN", "TN", "n_pred", "n_ref")
    mean = {
        str(lab): {k: _nanmean([c["metrics"][str(lab)][k] for c in metric_per_case]) for k in keys} for lab in labels
    }
    fg = [m for lab, m in mean.items() if lab != "0"]
    foreground_mean = {k: float(np.mean([m[k] for m in fg])) for k in keys} if fg else {}
    return EvaluationSummary(
        n_cases=len(rows),
        n_evaluated=len(results),
        n_failed=len(rows) - len(results),
        classes=classes,
        lesions=_lesion_summary([res.lesions for res in results if res.lesions is not None]),
        metric_per_case=metric_per_case,
        mean=mean,
        foreground_mean=foreground_mean,
    )


def label_anomalies(case_id: str, result, names: dict[int, str] | None) -> list[Anomaly]:
    """Label values of one evaluated case that should not be there (never a failure).

    ``unexpected_labels``: a value in the ground truth or the prediction that
    dataset.json does not declare (when it declares labels), or a negative value.
    Only the identity class mode looks at raw values (a class map or ``--foreground``
    says which values count).
    """
    if result is None or result.mode != "identity":
        return []
    declared = {int(k) for k in names} if names else None
    out = []
    for side, present in (
        ("ground truth", sorted(c.label for c in result.classes if c.n_ref)),
        ("prediction", sorted(c.label for c in result.classes if c.n_pred)),
    ):
        odd = [v for v in present if v < 0 or (declared is not None and v not in declared)]
        if odd:
            why = f"not in dataset.json ({sorted(declared)})" if declared is not None else "negative"
            out.append(
                Anomaly(
                    case_id,
                    "unexpected_labels",
                    f"{side} has label values {odd}: {why}; measured as classes of their own",
                )
            )
    return out
