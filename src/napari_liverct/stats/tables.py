"""Render a :class:`~napari_liverct.stats.StatsResult` as CSV, JSON or tables.

Shared by the command line (``napari-liverct stats``) and the widget's CSV export, so
both write the same columns.  No napari / Qt import.
"""

from __future__ import annotations

import csv
import io
import json

from .results import AXIS_SUFFIXES, StatsResult, flatten_row

__all__ = [
    "flatten_row",
    "stats_rows",
    "stats_to_csv",
    "stats_to_json",
    "print_stats_table",
    "lesion_classes",
    "AXIS_SUFFIXES",
]


def stats_rows(result: StatsResult) -> list[dict]:
    """One flat row per image / label / lesion, with a leading ``kind`` column."""
    return result.to_rows()


def stats_to_csv(result: StatsResult) -> str:
    """CSV text: the union of all columns, one row per image / label / lesion."""
    rows = stats_rows(result)
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    return rows_to_csv(columns, rows)


def rows_to_csv(columns: list[str], rows: list[dict]) -> str:
    """CSV text of dict rows under ``columns``; None becomes an empty cell; file names
    that are not valid UTF-8 are written as :func:`napari_liverct.outputs.pathtext.path_text` says."""
    from ..outputs.pathtext import path_text

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else path_text(v) if isinstance(v, str) else v) for k, v in r.items()})
    return buf.getvalue()


def stats_to_json(result: StatsResult) -> str:
    """JSON text (NaN/inf become null so the output is strict JSON)."""

    from ..results.values import json_safe

    return json.dumps(json_safe(result.to_json()), indent=2, allow_nan=False)


def _fmt(v, digits: int = 1) -> str:
    from ..results.values import format_value

    return f"({format_value(v, digits)})" if isinstance(v, (list, tuple)) else format_value(v, digits)


def lesion_classes(result: StatsResult) -> str:
    """The lesion classes of a statistics result by name, e.g. ``"liver tumor (label 2)"``; never a guess."""
    values = [int(v) for v in result.lesion_labels]
    if not values:
        return "no lesion class"
    names = result.label_names()
    return " + ".join(f"{names.get(v) or f'label {v}'} (label {v})" if names.get(v) else f"label {v}" for v in values)


def print_stats_table(result: StatsResult, file=None) -> None:
    """Print image, labels and lesions as rich tables (RAS+ mm centroids)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file, width=200)
    img = result.image.to_json() if result.image is not None else None
    if img:
        t = Table(title=f"Image {(result.files or {}).get('image') or ''}".strip())
        for key in ("shape", "spacing_mm", "dtype", "min", "max", "mean", "std", "p00_5", "p50", "p99_5"):
            t.add_column(key, justify="right")
        t.add_row(
            *(
                _fmt(img[k], 3 if k == "spacing_mm" else 1)
                for k in ("shape", "spacing_mm", "dtype", "min", "max", "mean", "std", "p00_5", "p50", "p99_5")
            )
        )
        console.print(t)
    if result.labels:
        t = Table(title="Labels (intensities in stored units, HU for CT; centroid RAS+ mm)")
        cols = (
            "label",
            "name",
            "voxels",
            "volume_ml",
            "share",
            "mean",
            "std",
            "min",
            "max",
            "median",
            "p05",
            "p95",
            "bbox_min",
            "bbox_max",
            "centroid_mm",
        )
        for c in cols:
            t.add_column(c, justify="left" if c == "name" else "right")
        for row in result.labels:
            r = row.to_json()
            t.add_row(*(_fmt(r[c], 3 if c in ("volume_ml", "share") else 1) for c in cols))
        console.print(t)
    lesions = [r.to_json() for r in result.lesions]
    t = Table(title=f"Lesions ({lesion_classes(result)}, {result.connectivity}-connectivity): {len(lesions)}")
    cols = ("id", "voxels", "volume_ml", "max_diameter_mm", "long_axis_mm", "short_axis_mm", "recist_slice")
    cols += ("target", "centroid_mm", "mean", "slice_range")
    heads = {"long_axis_mm": "long axis mm", "short_axis_mm": "short axis mm", "recist_slice": "axial slice"}
    for c in cols:
        t.add_column(heads.get(c, c), justify="right")
    for r in lesions:
        t.add_row(
            *(
                "yes" if c == "target" and r[c] else "" if c == "target" else _fmt(r[c], 3 if c == "volume_ml" else 1)
                for c in cols
            )
        )
    if result.labels or lesions:
        console.print(t)
    if lesions:
        total = result.sum_of_diameters_mm
        ids = ", ".join(str(r["id"]) for r in lesions if r["target"]) or "none"
        console.print(f"Sum of diameters (RECIST 1.1, targets {ids}): " + ("-" if total is None else f"{total:.1f} mm"))
    if result.tumour_burden is not None:
        console.print(f"Tumour burden (tumour / whole liver volume): {100 * result.tumour_burden:.2f} %")
