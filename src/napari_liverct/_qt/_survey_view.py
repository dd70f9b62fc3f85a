"""Survey table and plots of the dataset widget (Qt table filling, matplotlib drawing)."""

from __future__ import annotations

import numpy as np
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QTableWidget, QTableWidgetItem

from ..results.values import format_value

__all__ = ["TABLE_COLUMNS", "fill_table", "plot_survey", "fmt"]

#: Boxes in the label-volume plot; more classes show the largest (by median volume).
MAX_BOXES = 8

TABLE_COLUMNS = [
    "id",
    "split",
    "orientation",
    "shape",
    "spacing x, y, z (mm)",
    "foreground HU p50",
    "lesions",
    "anomalies",
    "error",
]


def plot_survey(fig, report: dict) -> None:
    """Draw the spacing histogram and the label volume distribution on ``fig``."""
    fig.clear()
    rows = [r for r in report["cases"] if not r.error]
    ax1, ax2 = fig.subplots(1, 2)
    if rows:
        per_axis = [[r.spacing_ras[i] for r in rows] for i in range(3)]
        ax1.hist(per_axis, bins=min(20, max(4, len(rows))), label=["x", "y", "z"])
    ax1.set_xlabel("spacing (mm)")
    ax1.set_ylabel("cases")
    ax1.set_title("voxel spacing", fontsize=9)
    ax1.legend(fontsize=7)
    names = report["summary"].get("label_names") or {}
    values = sorted({int(v) for r in rows for v in (r.volume_ml or {})})
    data = [[(r.volume_ml or {}).get(str(v), 0.0) for r in rows if r.volume_ml is not None] for v in values]
    title = "label volume per case"
    if len(values) > MAX_BOXES:
        # many classes (61 in a TotalSegmentator map) cannot be labelled legibly side
        # by side: show the largest ones and say so
        order = sorted(range(len(values)), key=lambda i: -float(np.median(data[i])) if data[i] else 0.0)
        keep = sorted(order[:MAX_BOXES])
        title = f"label volume per case\n({MAX_BOXES} largest of {len(values)} labels)"
        values, data = [values[i] for i in keep], [data[i] for i in keep]
    if data:
        ax2.boxplot(data, showfliers=True)
        ax2.set_xticks(
            range(1, len(values) + 1),
            [_short(names.get(str(v), str(v))) for v in values],
            rotation=40,
            ha="right",
            rotation_mode="anchor",
            fontsize=7,
        )
    ax2.set_ylabel("volume (mL)")
    ax2.set_title(title, fontsize=9)
    if fig.get_layout_engine() is None:  # the widget's figure lays itself out at each draw
        fig.tight_layout()


def _short(name: str, n: int = 14) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def fill_table(table: QTableWidget, report: dict) -> None:
    """One row per case; cases with anomalies are tinted, their messages in the tooltip."""
    msgs: dict = {}
    for a in report["anomalies"]:
        msgs.setdefault(a.case, []).append(f"{a.kind}: {a.message}")
    table.setRowCount(len(report["cases"]))
    for i, r in enumerate(report["cases"]):
        cells = [
            r.id,
            r.split,
            r.orientation,
            fmt(r.shape, 0),
            fmt(r.spacing_ras),
            fmt(r.fg_p50, 0),
            r.lesion_count,
            " ".join(r.anomalies or []),
            r.error,
        ]
        for j, val in enumerate(cells):
            item = QTableWidgetItem("" if val is None else str(val))
            if r.anomalies:
                item.setBackground(QColor(120, 40, 40))
                item.setToolTip("\n".join(msgs.get(r.id, [])))
            table.setItem(i, j, item)
    table.resizeColumnsToContents()


def fmt(values, digits: int = 2) -> str:
    """Numbers (or a list of them) as short text; None as empty."""
    return format_value(values, digits, none="", sep=" × ")
