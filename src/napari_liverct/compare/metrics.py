"""The one list of comparison metrics: every table, file and page column is derived from it.

Each :class:`Metric` says what a number is (name, unit, which direction is better),
where it lives (per class: a field of :class:`~.results.ClassMetrics`; per lesion
analysis: a field of :class:`~.results.LesionSummary`), how a dataset aggregates it and
how it is written.  Readers of the list:

* per class, in this order: the CSV columns (:data:`napari_liverct.compare.report.CLASS_COLUMNS`,
  also ``evaluate --format csv`` and the widget's export), the text report and the
  Compare widget's table (``"table"``; the widget adds the ``"widget"`` counts), the
  errors layer's features (``"map"``), the dataset aggregate of ``evaluate`` and the
  report (``aggregate``), the HTML report's per-case columns (``"column"``), its case
  section (``"table"``) and its summary (``"summary"``; the page embeds the list, and
  ``report.js`` draws the columns from it);
* per lesion analysis: the pooled sums of the dataset aggregate.

Adding a metric that follows from the voxel counts is one entry here (with its
``from_counts``) plus its field in :class:`~.results.ClassMetrics`; a surface metric
is computed in :func:`napari_liverct.compare.surface.surface_metrics` instead.

Aggregation rules (``aggregate``): ``"stats"`` = mean, median and population SD over
the cases where the value is finite, with ``n`` (finite), ``n_nan`` and ``n_inf``
counts, so nothing is silently dropped (nnU-Net's nanmean, and the infinite distances
of a case with one empty map are counted, not averaged); ``"sum"`` = the plain sum over
cases; ``"pooled"`` = recomputed from the pooled sums (lesion precision, recall, F1);
None = not aggregated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..results.values import format_value

__all__ = [
    "Metric",
    "VoxelCounts",
    "METRICS",
    "CLASS_METRICS",
    "LESION_METRICS",
    "metric",
    "class_metrics",
    "count_values",
    "metric_table",
]


class VoxelCounts(NamedTuple):
    """The voxel counts of one class in one case and the volume of a voxel in mL."""

    tp: int
    fp: int
    fn: int
    tn: int
    voxel_ml: float

    @property
    def n_ref(self) -> int:
        return self.tp + self.fn

    @property
    def n_pred(self) -> int:
        return self.tp + self.fp


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else math.nan


@dataclass(frozen=True)
class Metric:
    """One metric: what it is, where it is shown, how it is aggregated and written."""

    key: str  #: field of ClassMetrics / LesionSummary, CSV column and JSON key
    label: str  #: column header of tables
    unit: str = ""  #: "mm", "mL", "%", "voxels" or "" (a ratio)
    better: str | None = "higher"  #: "higher", "lower", "zero" (closest to 0) or None (a size, a count)
    scope: str = "class"  #: "class" (one value per class and case) or "lesion" (one per lesion analysis)
    aggregate: str | None = "stats"  #: "stats", "sum", "pooled" or None (module docstring)
    digits: int = 3  #: decimals in tables and pages
    show: frozenset[str] = frozenset()  #: "table", "widget", "map", "column", "summary" (module docstring)
    from_counts: Callable[[VoxelCounts], float] | None = None  #: the value from the counts (None: computed elsewhere)
    inf_when_one_empty: bool = False  #: +inf when exactly one of the two maps is empty (JSON writes null)
    doc: str = ""

    def format(self, value) -> str:
        """Table text of a value: ``digits`` decimals, nan / inf spelled out, None as ``-``."""
        if isinstance(value, bool):
            return "yes" if value else ""
        return format_value(value, self.digits)

    def to_json(self) -> dict:
        """What the report page needs to draw a column of this metric."""
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "better": self.better,
            "digits": self.digits,
            "inf_when_one_empty": self.inf_when_one_empty,
        }


_T, _W, _M, _C, _S = "table", "widget", "map", "column", "summary"


def _show(*views: str) -> frozenset[str]:
    return frozenset(views)


#: Every metric, per class first (in the CSV's column order), then per lesion analysis.
METRICS: tuple[Metric, ...] = (
    Metric(
        "dice",
        "Dice",
        show=_show(_T, _M, _C, _S),
        from_counts=lambda c: _div(2 * c.tp, 2 * c.tp + c.fp + c.fn),
        doc="2TP / (2TP + FP + FN) (nnU-Net's compute_metrics)",
    ),
    Metric(
        "iou",
        "IoU",
        show=_show(_T, _M),
        from_counts=lambda c: _div(c.tp, c.tp + c.fp + c.fn),
        doc="TP / (TP + FP + FN)",
    ),
    Metric("sensitivity", "sens", show=_show(_T), from_counts=lambda c: _div(c.tp, c.n_ref), doc="TP / (TP + FN)"),
    Metric("precision", "prec", show=_show(_T), from_counts=lambda c: _div(c.tp, c.n_pred), doc="TP / (TP + FP)"),
    Metric("tp", "TP", "voxels", None, aggregate="sum", show=_show(_W), from_counts=lambda c: c.tp),
    Metric("fp", "FP", "voxels", None, aggregate="sum", show=_show(_W), from_counts=lambda c: c.fp),
    Metric("fn", "FN", "voxels", None, aggregate="sum", show=_show(_W), from_counts=lambda c: c.fn),
    Metric("tn", "TN", "voxels", None, aggregate=None, from_counts=lambda c: c.tn),
    Metric(
        "gt_ml",
        "gt mL",
        "mL",
        None,
        digits=2,
        show=_show(_T),
        from_counts=lambda c: c.n_ref * c.voxel_ml,
        doc="ground-truth volume: voxels x |det(affine)| / 1000",
    ),
    Metric("pred_ml", "pred mL", "mL", None, digits=2, show=_show(_T), from_counts=lambda c: c.n_pred * c.voxel_ml),
    Metric(
        "volume_diff_ml",
        "dV mL",
        "mL",
        "zero",
        digits=2,
        from_counts=lambda c: c.n_pred * c.voxel_ml - c.n_ref * c.voxel_ml,
        doc="pred - gt",
    ),
    Metric(
        "volume_diff_pct",
        "dV %",
        "%",
        "zero",
        digits=1,
        show=_show(_T),
        from_counts=lambda c: 100.0 * _div(c.n_pred - c.n_ref, c.n_ref),
        doc="100 x (pred - gt) / gt",
    ),
    Metric(
        "ravd",
        "RAVD",
        "",
        "zero",
        from_counts=lambda c: _div(c.n_pred - c.n_ref, c.n_ref),
        doc="(pred - gt) / gt, signed (LiTS)",
    ),
    Metric(
        "vs",
        "VS",
        show=_show(_T),
        from_counts=lambda c: 1.0 - _div(abs(c.fn - c.fp), 2 * c.tp + c.fp + c.fn),
        doc="volumetric similarity 1 - |FN - FP| / (2TP + FP + FN) (Taha & Hanbury 2015)",
    ),
    Metric("hd", "HD mm", "mm", "lower", digits=2, show=_show(_T), inf_when_one_empty=True, doc="Hausdorff (MONAI)"),
    Metric(
        "hd95",
        "HD95 mm",
        "mm",
        "lower",
        digits=2,
        show=_show(_T, _M, _C, _S),
        inf_when_one_empty=True,
        doc="HD, 95th percentile",
    ),
    Metric(
        "assd",
        "ASSD mm",
        "mm",
        "lower",
        digits=2,
        show=_show(_T, _M, _S),
        inf_when_one_empty=True,
        doc="average symmetric surface distance",
    ),
    Metric("nsd", "NSD", show=_show(_T, _M, _S), doc="normalised surface Dice at the tolerance"),
    # per lesion analysis (LesionSummary), in its field order
    *(
        Metric(k, k, "lesions", None, scope="lesion", aggregate="sum")
        for k in ("n_gt", "n_pred", "tp", "fn", "fp", "tp_pred")
    ),
    *(Metric(k, k, scope="lesion", aggregate="pooled") for k in ("precision", "recall", "f1")),
    *(Metric(k, k, "lesions", None, scope="lesion", aggregate="sum") for k in ("merges", "splits")),
    Metric("pq", "PQ", scope="lesion", aggregate="stats"),
    Metric("sq", "SQ", scope="lesion", aggregate=None),
    Metric("rq", "RQ", scope="lesion", aggregate=None),
    *(Metric(k, k, "lesions", None, scope="lesion", aggregate="sum") for k in ("tp_iou50", "fp_iou50", "fn_iou50")),
)
CLASS_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.scope == "class")
LESION_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.scope == "lesion")
_BY_KEY = {m.key: m for m in CLASS_METRICS}


def metric(key: str) -> Metric:
    """The per-class metric named ``key``."""
    return _BY_KEY[key]


def class_metrics(view: str | None = None, aggregate: str | None = None) -> tuple[Metric, ...]:
    """Per-class metrics shown in ``view`` and/or aggregated by ``aggregate``, in the list's order."""
    return tuple(
        m for m in CLASS_METRICS if (view is None or view in m.show) and (aggregate is None or m.aggregate == aggregate)
    )


def metric_table() -> list[Metric]:
    """The Compare widget's columns: the text report's metrics, then its counts."""
    return [*class_metrics("table"), *class_metrics("widget")]


def count_values(counts: VoxelCounts) -> dict[str, float]:
    """Every per-class metric that follows from the voxel counts, by key."""
    return {m.key: m.from_counts(counts) for m in CLASS_METRICS if m.from_counts is not None}
