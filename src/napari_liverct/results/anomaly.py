"""One anomaly: odd but readable content of a dataset or a case, listed and never a failure.

Made by the dataset.json check (:func:`napari_liverct.datasets.folder.dataset_issues`), the
survey's per-case rules (:mod:`napari_liverct.survey.summary`) and the evaluation's label
check (:func:`napari_liverct.compare.aggregate.label_anomalies`); written to JSON by
:func:`napari_liverct.results.values.json_safe` (which calls ``to_json``).  ``case`` is None for
an anomaly of the dataset as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Anomaly"]


@dataclass(frozen=True)
class Anomaly:
    """``kind`` (``duplicate_case``, ``orientation``, ``unexpected_labels``...) and what it is about."""

    case: str | None
    kind: str
    message: str

    def to_json(self) -> dict:
        return {"case": self.case, "kind": self.kind, "message": self.message}

    def to_row(self) -> dict:
        return self.to_json()
