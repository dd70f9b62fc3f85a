"""Text, CSV and JSON output of comparisons, and ``napari-liverct compare``.

The CSV columns are the ``to_row()`` keys of :class:`~.results.ClassMetrics` and
:class:`~.results.LesionRow`; the widget's export writes the same files.
"""

from __future__ import annotations

import csv
import io
import json
import math

from ..results.values import format_value
from .metrics import CLASS_METRICS, class_metrics
from .results import CaseComparison

__all__ = ["CLASS_COLUMNS", "LESION_COLUMNS", "comparison_to_csv", "comparison_to_json", "format_table", "rows_to_csv"]

#: CSV columns of a class row: its identity, every per-class metric (compare.metrics), the tolerance and the empty flags.
CLASS_COLUMNS = [
    "label",
    "name",
    "pred_values",
    *(m.key for m in CLASS_METRICS),
    "tolerance_mm",
    "gt_empty",
    "pred_empty",
    "both_empty",
]
LESION_COLUMNS = [
    "id",
    "status",
    "gt_id",
    "pred_id",
    "matched",
    "gt_ml",
    "pred_ml",
    "dice",
    "iou",
    "diameter_mm",
    "centroid_r",
    "centroid_a",
    "centroid_s",
    "merged",
    "split",
]


def _cell(v):
    return format_value(v, none="")


def rows_to_csv(columns: list[str], rows: list[dict]) -> str:
    """CSV text of dict rows under ``columns``; NaN and infinity are written ``nan`` / ``inf``;
    file names that are not valid UTF-8 as :func:`napari_liverct.outputs.pathtext.path_text` writes them."""
    from ..outputs.pathtext import text_safe

    rows = text_safe(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _cell(r.get(k)) for k in columns})
    return buf.getvalue()


def comparison_to_csv(res: CaseComparison) -> str:
    """Per-class rows, then (after an empty line) per-lesion rows when there are lesion classes."""
    text = rows_to_csv(CLASS_COLUMNS, res.class_rows())
    if res.lesions is not None:
        text += "\n" + rows_to_csv(LESION_COLUMNS, res.lesion_rows())
    return text


def comparison_to_json(res: CaseComparison) -> str:
    """Strict JSON (NaN/inf become null; the ``*_empty`` flags say why; non-UTF-8 file
    names as :func:`napari_liverct.outputs.pathtext.path_text` writes them)."""
    from ..outputs.pathtext import text_safe

    return json.dumps(text_safe(res.to_json()), indent=2, allow_nan=False)


def _f(v, digits=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf"
        return f"{v:.{digits}f}"
    return str(v)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def format_table(res: CaseComparison) -> str:
    """Human-readable report: per-class metrics, the lesion summary and the lesion list."""
    from ..outputs.pathtext import path_text

    parts = []
    if res.gt_file:
        parts.append(f"ground truth: {path_text(res.gt_file)}\nprediction:   {path_text(str(res.pred_file))}")
    parts.extend(f"note: {path_text(n)}" for n in res.notes)
    sp = " x ".join(f"{s:.4g}" for s in res.spacing_mm)
    parts.append(
        f"grid {res.shape[0]} x {res.shape[1]} x {res.shape[2]}, spacing {sp} mm; "
        f"classes: {res.mode}; NSD tolerance {res.tolerance_mm:g} mm"
    )
    if res.both_empty:
        parts.append("both maps are empty: no labelled voxel in the ground truth or the prediction")
    shown = class_metrics("table")
    rows = []
    for c in res.classes:
        flag = "both empty" if c.both_empty else ("gt empty" if c.gt_empty else ("pred empty" if c.pred_empty else ""))
        rows.append([str(c.label), c.name, *(m.format(getattr(c, m.key)) for m in shown), flag])
    if rows:
        parts.append(_table(["label", "name", *(m.label for m in shown), ""], rows))
    les = res.lesions
    if les is not None:
        parts.append(
            f"lesions (classes {list(les.labels)}, {les.connectivity}-connected, match {les.match}): "
            f"{les.n_gt} true, {les.n_pred} predicted; TP {les.tp}, missed {les.fn}, invented {les.fp}; "
            f"precision {_f(les.precision)}, recall {_f(les.recall)}, F1 {_f(les.f1)}; "
            f"merges {les.merges}, splits {les.splits}; PQ {_f(les.pq)} = SQ {_f(les.sq)} x RQ {_f(les.rq)}"
        )
        lrows = [
            [
                r.id,
                r.status,
                " ".join(map(str, r.matched)),
                _f(r.gt_ml, 3),
                _f(r.pred_ml, 3),
                _f(r.dice),
                _f(r.diameter_mm, 1),
                ", ".join(f"{v:.1f}" for v in r.centroid_ras),
                ("merge " if r.merged else "") + ("split" if r.split else ""),
            ]
            for r in les.lesions
        ]
        if lrows:
            parts.append(
                _table(
                    ["lesion", "status", "matched", "gt mL", "pred mL", "Dice", "diam mm", "centroid RAS mm", ""], lrows
                )
            )
    parts.append(f"({res.seconds:.2f} s)")
    return "\n\n".join(p for p in parts if p) + "\n"
