"""Typed statistics results: the image, one label row, one lesion row, the whole result.

Each is a small frozen dataclass with ``to_json()`` (a JSON-ready dict: the keys of
``napari-liverct stats --format json``, in that order) and ``to_row()`` (one flat CSV
row: 3-vectors split into ``_x/_y/_z`` or ``_i/_j/_k`` columns, a leading ``kind``).
Centroids are stored once, in **RAS+ mm** (``centroid_mm``); the napari face turns them
into world positions through :func:`napari_liverct._napari.layer_utils.world_position`.
Voxel indices (``bbox_min``, ``bbox_max``, ``centroid_voxel``, ``slice_range``) index
the array as stored in the file.  Nothing here imports napari or Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

__all__ = ["AXIS_SUFFIXES", "flatten_row", "ImageStats", "LabelStats", "LesionStats", "StatsResult"]

#: Suffixes used when a 3-vector is split into CSV columns.
AXIS_SUFFIXES = {
    "centroid_mm": ("x", "y", "z"),  # RAS+ mm
    "spacing_mm": ("i", "j", "k"),
    "shape": ("i", "j", "k"),
    "bbox_min": ("i", "j", "k"),
    "bbox_max": ("i", "j", "k"),
    "centroid_voxel": ("i", "j", "k"),
    "slice_range": ("first", "last"),
    "long_axis_start_mm": ("x", "y", "z"),  # RAS+ mm
    "long_axis_end_mm": ("x", "y", "z"),
    "short_axis_start_mm": ("x", "y", "z"),
    "short_axis_end_mm": ("x", "y", "z"),
}


def flatten_row(row: dict) -> dict:
    """Split list values into one column each (``bbox_min_i``, ``centroid_mm_x`` ...)."""
    flat: dict = {}
    for key, value in row.items():
        if isinstance(value, (list, tuple)):
            suffixes = AXIS_SUFFIXES.get(key, tuple(str(i) for i in range(len(value))))
            for suffix, v in zip(suffixes, value):
                flat[f"{key}_{suffix}"] = v
        else:
            flat[key] = value
    return flat


class _Record:
    """``to_json`` (field order, lists for tuples) and ``to_row`` (flat, with ``kind``)."""

    KIND = ""

    def to_json(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def to_row(self) -> dict:
        return {"kind": self.KIND, **flatten_row(self.to_json())}


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class ImageStats(_Record):
    """Whole-image statistics (percentiles 0.5/50/99.5 as nnU-Net's fingerprint)."""

    KIND = "image"
    shape: tuple[int, ...]
    spacing_mm: tuple[float, ...]
    dtype: str
    voxels: int
    volume_ml: float
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    p00_5: float | None
    p50: float | None
    p99_5: float | None


@dataclass(frozen=True)
class LabelStats(_Record):
    """One label value: count, volume, share of the foreground, intensities, box, centroid (RAS+ mm)."""

    KIND = "label"
    label: int
    name: str
    voxels: int
    volume_ml: float
    share: float | None
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    median: float | None
    p05: float | None
    p95: float | None
    bbox_min: tuple[int, int, int]
    bbox_max: tuple[int, int, int]
    centroid_voxel: tuple[float, float, float]
    centroid_mm: tuple[float, float, float]


@dataclass(frozen=True)
class LesionStats(_Record):
    """One lesion (connected component): id 1 = largest, volume, diameter, centroid (RAS+ mm),
    and its RECIST 1.1 diameters (:mod:`napari_liverct.stats.recist`): ``long_axis_mm`` and
    ``short_axis_mm`` on the axial slice ``recist_slice`` (stored index along the slice
    axis), their end points in RAS+ mm, and whether it is a ``target`` lesion."""

    KIND = "lesion"
    label: int
    id: int
    voxels: int
    volume_ml: float
    max_diameter_mm: float
    centroid_mm: tuple[float, float, float]
    centroid_voxel: tuple[float, float, float]
    mean: float | None
    bbox_min: tuple[int, int, int]
    bbox_max: tuple[int, int, int]
    slice_range: tuple[int, int]
    long_axis_mm: float | None = None
    short_axis_mm: float | None = None
    recist_slice: int | None = None
    long_axis_start_mm: tuple[float, float, float] | None = None
    long_axis_end_mm: tuple[float, float, float] | None = None
    short_axis_start_mm: tuple[float, float, float] | None = None
    short_axis_end_mm: tuple[float, float, float] | None = None
    target: bool = False


@dataclass(frozen=True)
class StatsResult:
    """Everything ``napari-liverct stats`` and the Statistics widget show, complete when made.

    ``tumour_burden`` (lesion / (organ + lesion) volume) is None unless both an organ and
    a lesion class are present; ``files`` and ``grid_note`` are set by the file entry
    point (which files, and how the labels were put on the image grid).
    """

    image: ImageStats | None
    labels: tuple[LabelStats, ...]
    lesions: tuple[LesionStats, ...]
    connectivity: int
    organ_labels: tuple[int, ...]
    lesion_labels: tuple[int, ...]
    tumour_burden: float | None = None
    files: dict | None = None
    grid_note: str | None = None
    #: ``(edges, {label: counts}, whole image counts)`` when asked for (the widget's plot); not in the JSON.
    histograms: tuple | None = field(default=None, compare=False, repr=False)

    @property
    def sum_of_diameters_mm(self) -> float | None:
        """RECIST sum of the target lesions' long axes (mm), None without targets."""
        from .recist import sum_of_diameters

        return sum_of_diameters(self.lesions)

    def with_targets(self, ids) -> StatsResult:
        """The same result with exactly the lesions ``ids`` as RECIST targets."""
        from dataclasses import replace

        from .recist import mark_targets

        return replace(self, lesions=mark_targets(self.lesions, ids))

    def label_names(self) -> dict[int, str]:
        """Label value -> name of the rows."""
        return {r.label: r.name for r in self.labels}

    def to_json(self) -> dict:
        """The JSON of ``napari-liverct stats --format json`` (optional keys only when set)."""
        out = {
            "image": self.image.to_json() if self.image is not None else None,
            "labels": [r.to_json() for r in self.labels],
            "lesions": [r.to_json() for r in self.lesions],
            "connectivity": self.connectivity,
            "organ_labels": list(self.organ_labels),
            "lesion_labels": list(self.lesion_labels),
        }
        if self.tumour_burden is not None:
            out["tumour_burden"] = self.tumour_burden
        if self.lesions:
            out["targets"] = [r.id for r in self.lesions if r.target]
            out["sum_of_diameters_mm"] = self.sum_of_diameters_mm
        if self.files is not None:
            out["files"] = dict(self.files)
        if self.grid_note:
            out["grid_note"] = self.grid_note
        return out

    def to_rows(self) -> list[dict]:
        """One flat row per image / label / lesion (``kind`` first), then the tumour burden."""
        rows = [self.image.to_row()] if self.image is not None else []
        rows += [r.to_row() for r in self.labels] + [r.to_row() for r in self.lesions]
        if self.tumour_burden is not None:
            rows.append({"kind": "tumour_burden", "value": self.tumour_burden})
        if self.lesions:
            rows.append({"kind": "sum_of_diameters_mm", "value": self.sum_of_diameters_mm})
        return rows
