"""Dataset-level summary, anomalies and CSV/JSON export of a survey (pure numpy).

Summary
-------
* ``spacing`` / ``shape``: median, min and max per axis in **RAS axis order**
  (x, y, z; for the usual NIfTI file this is the stored order), so files stored with
  permuted axes are compared axis by axis correctly.
* ``intensity``: percentiles 0.5 / 50 / 99.5 (and mean, std, min, max) of the pooled
  foreground samples (``N_SAMPLES`` per case, see :mod:`napari_liverct.survey`).
* ``classes``: per label value, the share of labelled cases containing it, the share
  of all labelled voxels (background included, so shares add up to 1) and the
  median / min / max volume in mL over labelled cases (0 when absent).

Anomalies (one dict ``{"case", "kind", "message"}`` each)
--------------------------------------------------------
``read_error``, ``label_read_error``, ``orientation`` (code differs from the strict
majority code), ``affine_missing`` (sform_code and qform_code are 0),
``affine_identity``, ``spacing_outlier`` (per RAS axis, outside median +- 3 x 1.4826
x MAD *and* more than a factor 1.5 from the median; needs >= 3 readable cases — the
factor stops a near-zero MAD of a homogeneous dataset from flagging 1 % deviations),
``grid_mismatch`` (image and labels differ in shape or affine by more than
``GRID_ATOL`` mm), ``missing_labels`` (a training or unlabelled case without labels),
``empty_labels`` (no voxel > 0), ``unknown_label_values`` (values not declared in
dataset.json's ``labels`` when it declares labels, else negative values); dataset.json
that disagrees with its folder (``duplicate_case``, ``count_mismatch``, ``unlisted_file``,
from :func:`napari_liverct.datasets.folder.dataset_issues`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import replace

import numpy as np

from ..constants import ROBUST_PERCENTILES
from ..outputs.pathtext import text_safe
from ..results.anomaly import Anomaly
from ..results.values import json_safe
from ..stats.tables import rows_to_csv
from .case import SurveyCase, csv_columns

__all__ = [
    "summarize",
    "summarise_survey",
    "failed_cases",
    "report_to_json",
    "report_to_csv",
    "SPACING_MAD_K",
    "SPACING_FACTOR",
]

SPACING_MAD_K = 3.0
SPACING_FACTOR = 1.5
_MAD_NORMAL = 1.4826


def _dist(vectors: list) -> dict | None:
    if not vectors:
        return None
    a = np.asarray(vectors, dtype=float)
    return {"median": np.median(a, axis=0).tolist(), "min": a.min(axis=0).tolist(), "max": a.max(axis=0).tolist()}


def _ok(rows: list[SurveyCase]) -> list[SurveyCase]:
    return [r for r in rows if r and not r.error]


def _labelled(rows: list[SurveyCase]) -> list[SurveyCase]:
    return [r for r in _ok(rows) if r.labels_read]


def summarize(rows: list[SurveyCase], samples: list, label_names: dict[int, str] | None = None) -> dict:
    """Dataset summary of survey rows and their foreground samples (see the module docstring)."""
    ok = _ok(rows)
    lab = _labelled(rows)
    pooled = np.concatenate([s for s in samples if s is not None and len(s)] or [np.zeros(0, np.float32)])
    intensity = None
    if pooled.size:
        p = np.percentile(pooled, ROBUST_PERCENTILES)
        intensity = {
            "p00_5": float(p[0]),
            "p50": float(p[1]),
            "p99_5": float(p[2]),
            "mean": float(pooled.mean(dtype=np.float64)),
            "std": float(pooled.std(dtype=np.float64)),
            "min": float(pooled.min()),
            "max": float(pooled.max()),
            "n_samples": int(pooled.size),
        }
    values = sorted({int(v) for r in lab for v in r.label_voxels} | set(label_names or {}))
    total_vox = sum(sum(r.label_voxels.values()) for r in lab)
    classes = {}
    for v in values:
        vols = [r.volume_ml.get(str(v), 0.0) for r in lab] if v != 0 else []
        classes[str(v)] = {
            "name": (label_names or {}).get(v),
            "cases_share": (sum(1 for r in lab if str(v) in r.label_voxels) / len(lab)) if lab else None,
            "voxel_share": (sum(r.label_voxels.get(str(v), 0) for r in lab) / total_vox) if total_vox else None,
            "volume_ml": _dist([[x] for x in vols]) if vols else None,
        }
    for c in classes.values():
        if c["volume_ml"]:
            c["volume_ml"] = {k: val[0] for k, val in c["volume_ml"].items()}
    lesions = [r.lesion_count for r in lab if r.lesion_count is not None]
    return {
        "n_cases": len(rows),
        "n_ok": len(ok),
        "n_failed": len(rows) - len(ok),
        "n_labelled": len(lab),
        "splits": dict(Counter(r.split for r in rows if r)),
        "axes": "RAS (x, y, z)",
        "spacing": _dist([r.spacing_ras for r in ok]),
        "shape": _dist([r.shape_ras for r in ok]),
        "orientations": dict(Counter(r.orientation for r in ok)),
        "intensity": intensity,
        "classes": classes,
        "lesions": {"total": int(sum(lesions)), "median": float(np.median(lesions)), "max": int(max(lesions))}
        if lesions
        else None,
        "label_names": {str(k): v for k, v in (label_names or {}).items()} or None,
    }


def _anomaly(row: SurveyCase, kind: str, message: str) -> Anomaly:
    return Anomaly(row.id, kind, message)


def _context(rows: list[SurveyCase], label_names: dict[int, str] | None) -> dict:
    """Dataset-wide facts the per-case rules compare against."""
    ok = _ok(rows)
    codes = Counter(r.orientation for r in ok).most_common()
    majority = codes[0][0] if codes and (len(codes) == 1 or codes[0][1] > codes[1][1]) else None
    bounds = None
    if len(ok) >= 3:
        sp = np.asarray([r.spacing_ras for r in ok], float)
        med = np.median(sp, axis=0)
        bounds = (med, np.median(np.abs(sp - med), axis=0) * _MAD_NORMAL)
    return {"majority": majority, "bounds": bounds, "declared": set(label_names) if label_names else None}


def _row_anomalies(r: SurveyCase, ctx: dict) -> list[Anomaly]:
    if r.error:
        return [_anomaly(r, "read_error", r.error)]
    out = []
    majority = ctx["majority"]
    if majority is not None and r.orientation != majority:
        out.append(_anomaly(r, "orientation", f"orientation {r.orientation}, most cases are {majority}"))
    for prefix, what in (("", "image"), ("label_", "labels")):
        if getattr(r, prefix + "affine_missing"):
            out.append(_anomaly(r, "affine_missing", f"{what}: sform_code and qform_code are 0 (no orientation)"))
        if getattr(r, prefix + "affine_identity"):
            out.append(_anomaly(r, "affine_identity", f"{what}: the affine is the identity (1 mm, no origin)"))
    if ctx["bounds"] is not None:
        med, mad = ctx["bounds"]
        for ax, name in enumerate("xyz"):
            s = r.spacing_ras[ax]
            far = abs(s - med[ax]) > SPACING_MAD_K * mad[ax]
            ratio = max(s / med[ax], med[ax] / s) if s > 0 and med[ax] > 0 else math.inf
            if far and ratio > SPACING_FACTOR:
                out.append(
                    _anomaly(r, "spacing_outlier", f"spacing {name} = {s:.3g} mm, dataset median {med[ax]:.3g} mm")
                )
    if r.label_error:
        kind = "missing_labels" if r.label_error_kind == "missing" else "label_read_error"
        out.append(_anomaly(r, kind, r.label_error))
    elif not r.label:
        if r.split in ("training", "unlabelled"):
            out.append(_anomaly(r, "missing_labels", "no label file for this case"))
    else:
        if r.grids_equal is False and r.grids_equivalent:
            out.append(
                _anomaly(
                    r,
                    "labels_axes_differ",
                    f"labels stored with other axis order/flips ({r.label_orientation}) than the image "
                    f"({r.orientation}); same grid, handled without resampling",
                )
            )
        elif r.grids_equal is False:
            out.append(
                _anomaly(
                    r,
                    "grid_mismatch",
                    f"image {r.shape} and labels {r.label_shape} are on different grids "
                    f"(largest affine difference {r.grid_max_diff_mm:.3g} mm)",
                )
            )
        values = r.label_values or []
        if not any(v > 0 for v in values):
            out.append(_anomaly(r, "empty_labels", "the label volume holds no foreground (all 0)"))
        declared = ctx["declared"]
        if declared is not None:
            extra = sorted(set(values) - declared)
            if extra:
                out.append(
                    _anomaly(
                        r, "unknown_label_values", f"label values {extra} are not in dataset.json ({sorted(declared)})"
                    )
                )
        elif any(v < 0 for v in values):
            neg = [v for v in values if v < 0]
            out.append(_anomaly(r, "unknown_label_values", f"negative label values {neg} (labels are 0, 1, 2...)"))
    return out


def summarise_survey(
    rows: list[SurveyCase],
    samples: list,
    label_names: dict[int, str] | None = None,
    dataset_anomalies: list[Anomaly] | None = None,
    *,
    dataset: dict | None = None,
) -> dict:
    """``{"cases": rows, "summary": ..., "anomalies": ..., "failed": ...}``.

    ``dataset`` (name, root, layout, dataset.json of a dataset's survey) becomes the
    summary's ``dataset`` block.

    ``cases`` are new :class:`~napari_liverct.survey.case.SurveyCase` with their
    ``anomalies`` (kinds); ``dataset_anomalies`` (where dataset.json and
    the folder disagree, :func:`napari_liverct.datasets.folder.dataset_issues`) come first in the
    list; ``failed`` lists ``{"case", "error"}`` for each case whose image or listed label
    file could not be read (:func:`failed_cases`).
    """
    ctx = _context(rows, label_names)
    cases, anomalies = [], list(dataset_anomalies or [])
    by_case: dict = {}
    for a in anomalies:
        by_case.setdefault(a.case, []).append(a.kind)
    for r in rows:
        found = _row_anomalies(r, ctx) if r else []
        if r:  # a new case with its anomalies: the input case stays as it was
            r = replace(r, anomalies=tuple(by_case.get(r.id, []) + [a.kind for a in found]))
        cases.append(r)
        anomalies += found
    summary = summarize(rows, samples, label_names)
    if dataset is not None:
        summary["dataset"] = dict(dataset)
    return {
        "cases": cases,
        "summary": summary,
        "anomalies": anomalies,
        "failed": failed_cases(rows),
    }


def failed_cases(rows: list[SurveyCase]) -> list[dict]:
    """``{"case", "error"}`` for each row whose image or listed label file could not be read."""
    out = []
    for r in rows:
        reason = r.error or r.label_error
        if reason:
            out.append({"case": r.id, "error": reason})
    return out


def report_to_json(report: dict) -> str:
    """The report as indented JSON text."""
    text = json.dumps(text_safe(json_safe(report)), indent=2, allow_nan=False)
    # numbers-only lists (shape, spacing, affine rows) on one line
    text = _NUM_LIST.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    return text + "\n"


_NUM_LIST = re.compile(r"\[\s*((?:-?[\d.eE+-]+|null)(?:,\s*(?:-?[\d.eE+-]+|null))*)\s*\]")


def report_rows(report: dict) -> tuple[list[str], list[dict]]:
    """Flat table of the cases: (column names, one dict per case)."""
    rows = report["cases"]
    values = sorted({int(v) for r in rows for v in (r.volume_ml or {})})
    return csv_columns(values), [r.to_row(values) for r in rows]


def report_to_csv(report: dict) -> str:
    """One CSV row per case (empty cells for missing values)."""
    cols, table = report_rows(report)
    return rows_to_csv(cols, table)
