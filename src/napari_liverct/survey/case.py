"""The survey of one case as a typed result: :class:`SurveyCase`, made once by
:func:`napari_liverct.survey.fingerprint.survey_case` and never edited afterwards.

``to_json()`` gives the keys of ``napari-liverct survey --format json`` (``cases``), in
that order, leaving out the groups a case does not have (the image fields when the image
could not be read, the label fields when there are no readable labels, ``grid_note``
when the labels need no reorientation, ``seconds`` of a case whose task failed, ``anomalies`` before the dataset summary gave
them); ``to_row()`` gives one flat CSV row.  The dataset summary
(:func:`napari_liverct.survey.summary.summarise_survey`) returns a new case with its
``anomalies`` (:func:`dataclasses.replace`), the input case stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from ..results.values import json_safe

__all__ = ["SurveyCase", "CSV_SCALARS", "CSV_STATS", "csv_columns"]

_IMAGE = (
    "shape",
    "spacing",
    "shape_ras",
    "spacing_ras",
    "orientation",
    "dtype",
    "affine",
    "affine_missing",
    "affine_identity",
)
_LABEL = (
    "label_shape",
    "label_orientation",
    "label_affine_missing",
    "label_affine_identity",
    "grids_equal",
    "grid_max_diff_mm",
    "label_values",
    "label_voxels",
    "volume_ml",
    "label_names_source",
    "lesion_labels",
    "lesion_count",
    "fg_voxels",
    "fg_p00_5",
    "fg_p50",
    "fg_p99_5",
    "fg_mean",
    "fg_std",
    "fg_min",
    "fg_max",
    "grids_equivalent",
)

CSV_SCALARS = ["id", "split", "image", "label", "error", "label_error", "orientation", "dtype"]
CSV_STATS = [
    "fg_voxels",
    "fg_p00_5",
    "fg_p50",
    "fg_p99_5",
    "fg_mean",
    "fg_std",
    "fg_min",
    "fg_max",
    "lesion_count",
    "grids_equal",
    "affine_missing",
    "affine_identity",
    "label_affine_missing",
    "label_affine_identity",
    "seconds",
]


def csv_columns(volume_values: Sequence[int]) -> list[str]:
    """The CSV columns of a survey whose cases hold these label values."""
    return (
        CSV_SCALARS
        + [f"shape_{i}" for i in range(3)]
        + [f"spacing_{i}" for i in range(3)]
        + [f"spacing_{a}" for a in "xyz"]
        + ["label_values"]
        + [f"volume_ml_{v}" for v in volume_values]
        + CSV_STATS
        + ["anomalies"]
    )


@dataclass(frozen=True)
class SurveyCase:
    """One case's fingerprint (nnU-Net's per-case fingerprint, plus labels and lesions).

    Lists are per stored axis (``shape``, ``spacing``, ``label_shape``) or in RAS axis
    order (``shape_ras``, ``spacing_ras``); ``label_voxels`` and ``volume_ml`` map the
    label value (as text) to voxels and mL; ``fg_*`` are foreground intensities.
    ``error`` holds the message when the image cannot be read, ``label_error`` (and
    ``label_error_kind``: ``missing`` / ``unreadable``) when only the labels cannot.
    """

    id: str
    split: str
    image: str
    label: str | None
    error: str | None = None
    label_error: str | None = None
    shape: list | None = None
    spacing: list | None = None
    shape_ras: list | None = None
    spacing_ras: list | None = None
    orientation: str | None = None
    dtype: str | None = None
    affine: list | None = None
    affine_missing: bool | None = None
    affine_identity: bool | None = None
    label_error_kind: str | None = None
    label_shape: list | None = None
    label_orientation: str | None = None
    label_affine_missing: bool | None = None
    label_affine_identity: bool | None = None
    grids_equal: bool | None = None
    grid_max_diff_mm: float | None = None
    label_values: list | None = None
    label_voxels: dict | None = None
    volume_ml: dict | None = None
    label_names_source: str | None = None
    lesion_labels: list | None = None
    lesion_count: int | None = None
    fg_voxels: int | None = None
    fg_p00_5: float | None = None
    fg_p50: float | None = None
    fg_p99_5: float | None = None
    fg_mean: float | None = None
    fg_std: float | None = None
    fg_min: float | None = None
    fg_max: float | None = None
    grids_equivalent: bool | None = None
    grid_note: str | None = None
    seconds: float | None = None
    anomalies: tuple[str, ...] | None = None

    @property
    def labels_read(self) -> bool:
        """True when the case has label fields (labels listed and read)."""
        return self.label_shape is not None

    def _present(self, name: str) -> bool:
        if name in _IMAGE:
            return self.error is None
        if name in _LABEL:
            return self.labels_read
        if name == "label_error_kind":
            return self.label_error is not None
        if name in ("grid_note", "seconds", "anomalies"):
            return getattr(self, name) is not None
        return True

    def to_json(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if self._present(f.name)}

    def to_row(self, volume_values: Sequence[int] = ()) -> dict:
        """One flat CSV row (:func:`csv_columns`; ``volume_ml_<v>`` for each of ``volume_values``)."""
        flat = {c: getattr(self, c) for c in CSV_SCALARS + CSV_STATS}
        for i in range(3):
            flat[f"shape_{i}"] = (self.shape or [None] * 3)[i]
            flat[f"spacing_{i}"] = (self.spacing or [None] * 3)[i]
            flat[f"spacing_{'xyz'[i]}"] = (self.spacing_ras or [None] * 3)[i]
        flat["label_values"] = " ".join(map(str, self.label_values)) if self.label_values is not None else None
        for v in volume_values:
            flat[f"volume_ml_{v}"] = self.volume_ml.get(str(v), 0.0) if self.volume_ml is not None else None
        flat["anomalies"] = " ".join(self.anomalies or [])
        return json_safe(flat)


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value
