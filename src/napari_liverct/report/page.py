"""The data embedded in the report page: columns, one entry per case, the summary.

Values are copied from the survey report (``survey.json``) and the evaluation JSON
unchanged; the page only formats them (the full value is in each cell's tooltip), so
the page and the JSON files cannot disagree.  Non-finite numbers: NaN is ``null``
(shown as an empty cell), an infinite distance is the string ``"inf"``.
"""

from __future__ import annotations

import math
import time

from ..compare.metrics import class_metrics
from ..results.anomaly import Anomaly

__all__ = ["page_data", "class_info", "LABEL_COLUMNS", "LESION_COLUMNS", "MAX_LESION_ROWS"]

#: Keys of a label-table row shown per case (napari_liverct.stats label rows).
LABEL_COLUMNS = ("label", "name", "voxels", "volume_ml", "mean", "std", "median", "p05", "p95", "min", "max")
LESION_COLUMNS = (
    "id",
    "label",
    "volume_ml",
    "max_diameter_mm",
    "long_axis_mm",
    "short_axis_mm",
    "recist_slice",
    "target",
    "mean",
    "centroid_mm",
)
MAX_LESION_ROWS = 25
#: per-class metrics of a case's evaluation table and of the evaluation summary (compare.metrics)
_TABLE_KEYS = tuple(m.key for m in class_metrics("table"))
_SUMMARY_KEYS = tuple(m.key for m in class_metrics("summary"))


def _v(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if hasattr(x, "item") and getattr(x, "ndim", 1) == 0:
        return _v(x.item())
    if isinstance(x, (list, tuple)):
        return [_v(y) for y in x]
    if isinstance(x, dict):
        return {str(k): _v(y) for k, y in x.items()}
    return x


def _columns(survey: dict, evaluation: dict | None, info: dict | None = None) -> list[dict]:
    classes = {v: c for v, c in (survey["summary"].get("classes") or {}).items() if v != "0"}
    info = info or {}
    cols = [
        {"key": "id", "label": "case", "type": "text"},
        {"key": "split", "label": "split", "type": "text"},
        {"key": "orientation", "label": "orient.", "type": "text"},
        {"key": "shape", "label": "shape (stored)", "type": "text", "sort": "voxels"},
        {"key": "spacing_x", "label": "x mm", "type": "num", "digits": 3},
        {"key": "spacing_y", "label": "y mm", "type": "num", "digits": 3},
        {"key": "spacing_z", "label": "z mm", "type": "num", "digits": 3},
    ]
    for v, c in classes.items():
        name = c.get("name") or (info.get(v) or {}).get("name") or f"label {v}"
        cols.append({"key": f"volume_ml_{v}", "label": f"{name} mL", "type": "num", "digits": 1})
    cols += [
        {"key": "lesion_count", "label": "lesions", "type": "num", "digits": 0},
        {"key": "fg_p50", "label": "FG median", "type": "num", "digits": 0},
    ]
    if evaluation is not None:
        for lab, c in evaluation["summary"]["classes"].items():
            for m in class_metrics("column"):
                cols.append(
                    {"key": f"{m.key}_{lab}", "label": f"{c['name']} {m.label}", "type": "num", "digits": m.digits}
                )
        cols += [
            {"key": "missed", "label": "missed", "type": "num", "digits": 0},
            {"key": "false", "label": "false", "type": "num", "digits": 0},
        ]
    cols.append({"key": "anomalies", "label": "anomalies", "type": "text"})
    return cols


def _cells(row: dict, ev: dict | None, columns: list[dict]) -> dict:
    cells = {
        "id": row.id,
        "split": row.split,
        "orientation": row.orientation,
        "anomalies": " ".join(row.anomalies or []),
    }
    if row.shape:
        cells["shape"] = " × ".join(str(s) for s in row.shape)
        cells["voxels"] = int(math.prod(row.shape))
    for a, name in enumerate("xyz"):
        cells[f"spacing_{name}"] = (row.spacing_ras or [None] * 3)[a]
    vols = row.volume_ml
    for c in columns:
        if c["key"].startswith("volume_ml_"):
            cells[c["key"]] = vols.get(c["key"][len("volume_ml_") :], 0.0) if vols is not None else None
    cells["lesion_count"] = row.lesion_count
    cells["fg_p50"] = row.fg_p50
    if ev is not None and ev.get("classes"):
        for cl in ev["classes"]:
            lab = str(cl["label"])
            one_empty = (cl.get("gt_empty") or cl.get("pred_empty")) and not cl.get("both_empty")
            for m in class_metrics("column"):
                v = cl[m.key]
                if v is None and one_empty and m.inf_when_one_empty:
                    v = "inf"  # one map empty: infinite (Metrics Reloaded), null in the JSON
                cells[f"{m.key}_{lab}"] = v
        les = ev.get("lesions")
        if les:
            cells["missed"], cells["false"] = les["fn"], les["fp"]
    return _v(cells)


def _section(res: dict, ev: dict | None, folder: str) -> dict:
    row = res["row"]
    st = res.get("stats") or {}
    sec = {
        "dir": folder,
        "image": row.image,
        "label": row.label,
        "focus": res.get("focus_why"),
        "focus_ras": res.get("focus"),
        "pictures": res.get("pictures") or [],
        "notes": list(res.get("notes") or []),
        "labels": [{k: r.get(k) for k in LABEL_COLUMNS} for r in st.get("labels") or []],
        "lesions": [{k: r.get(k) for k in LESION_COLUMNS} for r in (st.get("lesions") or [])[:MAX_LESION_ROWS]],
        "n_lesions": len(st.get("lesions") or []),
        "targets": st.get("targets") or [],
        "sum_of_diameters_mm": st.get("sum_of_diameters_mm"),
        "tumour_burden": st.get("tumour_burden"),
        "colors": res.get("colors") or {},
        "image_stats": {k: (st.get("image") or {}).get(k) for k in ("min", "max", "mean", "p00_5", "p50", "p99_5")}
        if st.get("image")
        else None,
    }
    if ev is not None:
        les = ev.get("lesions") or {}
        sec["eval"] = {
            "pred": ev.get("pred"),
            "error": ev.get("error"),
            "error_kind": ev.get("error_kind"),
            "classes": [
                {k: cl.get(k) for k in ("label", "name", *_TABLE_KEYS, "gt_empty", "pred_empty", "both_empty")}
                for cl in ev.get("classes") or []
            ],
            "lesion_summary": {
                k: les.get(k)
                for k in ("n_gt", "n_pred", "tp", "fn", "fp", "precision", "recall", "f1", "merges", "splits")
            }
            if les
            else None,
            "lesions": [
                {k: r.get(k) for k in ("id", "status", "gt_ml", "pred_ml", "dice", "diameter_mm", "centroid_ras")}
                for r in les.get("lesions") or []
                if r.get("status") in ("FN", "FP")
            ],
            "notes": ev.get("notes") or [],
        }
    return _v(sec)


def class_info(results: list[dict]) -> dict[str, dict]:
    """Label value -> ``{"name", "color"}`` as the viewer's labels layers have them (first case that has
    the value), so plots and tables use the colours and names the napari layers show."""
    classes: dict[str, dict] = {}
    for res in results:
        for k, c in (res.get("colors") or {}).items():
            classes.setdefault(str(k), {"color": list(c), "name": (res.get("names") or {}).get(k)})
    return classes


def page_data(
    ds,
    survey: dict,
    results: list[dict],
    dirs: list[str],
    evaluation: dict | None,
    plots: list[dict],
    title: str | None = None,
) -> dict:
    """Everything the page shows, as one JSON-ready dict."""
    columns = _columns(survey, evaluation, class_info(results))
    ev_by_id = {c["id"]: c for c in (evaluation or {}).get("cases", [])}
    drafts = [a for r in results for a in r.get("anomalies") or []]  # offline drafts' flags (sidecars)
    anomalies = [_anomaly(a) for a in [*survey["anomalies"], *((evaluation or {}).get("anomalies") or []), *drafts]]
    # the dataset's own anomalies are in both the survey and the evaluation: listed once
    anomalies = list(dict.fromkeys(anomalies))
    # the failed cases the CLI lists (exit code 3): unreadable image or labels, failed evaluation
    failed = {str(f["case"]): f["error"] for f in survey.get("failed") or []}
    for e in (evaluation or {}).get("errors") or []:
        failed.setdefault(str(e["id"]), f"{e['kind']}: {e['error']}")
    messages: dict[str, list[str]] = {}
    kinds: dict[str, list[str]] = {}
    for a in anomalies:
        messages.setdefault(str(a.case), []).append(f"{a.kind}: {a.message}")
        kinds.setdefault(str(a.case), []).append(a.kind)
    for e in (evaluation or {}).get("errors") or []:  # a badge on the case's row too
        messages.setdefault(str(e["id"]), []).append(f"evaluation {e['kind']}: {e['error']}")
        kinds.setdefault(str(e["id"]), []).append(f"evaluation_{e['kind']}")
    cases = []
    for i, (row, res) in enumerate(zip(survey["cases"], results)):
        ev = ev_by_id.get(row.id) if evaluation is not None else None
        cases.append(
            {
                "i": i,
                "id": row.id,
                "error": row.error,
                "label_error": row.label_error,
                "failed": failed.get(str(row.id)),
                "cpu_seconds": res.get("cpu_seconds"),
                "anomalies": kinds.get(str(row.id), []),
                "messages": messages.get(str(row.id), []),
                "cells": _cells(row, ev, columns),
                "section": _section(res, ev, f"cases/{dirs[i]}"),
            }
        )
    s = survey["summary"]
    classes = class_info(results)
    ev_summary = None
    if evaluation is not None:
        es = evaluation["summary"]
        ev_summary = {
            "n_cases": es["n_cases"],
            "n_evaluated": es["n_evaluated"],
            "n_failed": es["n_failed"],
            "classes": {
                lab: {"name": c["name"], "global_dice": c["global_dice"], **{k: c[k] for k in _SUMMARY_KEYS}}
                for lab, c in es["classes"].items()
            },
            "lesions": es.get("lesions"),
            "errors": evaluation["errors"],
            "extra_predictions": evaluation["extra_predictions"],
            "predictions": evaluation["predictions"],
        }
    return _v(
        {
            "title": title or f"QC report: {ds.name or ds.root.name}",
            "generated": time.strftime("%Y-%m-%d %H:%M"),
            "dataset": s.get("dataset"),
            "summary": s,
            "anomalies": [a.to_json() for a in anomalies],
            "failed": [{"case": k, "error": v} for k, v in failed.items()],
            "plots": plots,
            "columns": columns,
            "cases": cases,
            "classes": classes,
            "evaluation": ev_summary,
            "metrics": {view: [m.to_json() for m in class_metrics(view)] for view in ("table", "summary")},
        }
    )


def _anomaly(a) -> Anomaly:
    """An anomaly of the survey (typed) or of the evaluation's JSON (a dict, as written)."""
    return a if isinstance(a, Anomaly) else Anomaly(a.get("case"), a["kind"], a["message"])
