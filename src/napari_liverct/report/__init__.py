"""``napari-liverct report``: a static, self-contained QC report of a dataset.

:func:`build_report` writes ``index.html`` (summary, plots, anomalies, a sortable and
filterable case table, a section per case with axial/coronal/sagittal overlays and the
label table, and with predictions the evaluation), ``survey.json``,
``evaluation.json`` and the pictures into a folder.  Per-case work runs as Dask tasks
(:func:`napari_liverct.report.case.report_case`) like the survey.  No napari or Qt import.
"""

from __future__ import annotations

from .build import build_report

__all__ = ["build_report"]
