"""The statistics of one image and its labels in one JSON-ready dict (with a generator form for progress)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._engine import image_stats, label_stats
from .lesions import _check_connectivity, lesion_stats


def tumour_burden(labels: np.ndarray, liver_label: int = 1, tumour_label: int = 2) -> float | None:
    """Tumour volume / whole-liver volume, or None when liver or tumour is absent.

    In MSD Task03 the tumour voxels are carved out of the liver label, so the liver
    volume here is liver + tumour voxels (the organ as a whole); the ratio is in
    [0, 1].  Both volumes are on the same grid, so the voxel volume cancels.
    """
    labels = np.asarray(labels)
    liver = int(np.count_nonzero(labels == liver_label))
    tumour = int(np.count_nonzero(labels == tumour_label))
    return burden_from_counts(liver, tumour)


def burden_from_counts(liver_voxels: int, tumour_voxels: int) -> float | None:
    """``tumour / (liver + tumour)`` from voxel counts, None if either is zero."""
    if liver_voxels <= 0 or tumour_voxels <= 0:
        return None
    return float(tumour_voxels) / float(liver_voxels + tumour_voxels)


def compute_stats(
    image: np.ndarray | None,
    labels: np.ndarray | None,
    affine: np.ndarray,
    names: dict[int, str] | None = None,
    connectivity: int = 26,
    *,
    organ_labels: Sequence[int] | None = None,
    lesion_labels: Sequence[int] | None = None,
) -> dict:
    """Image, per-label and per-lesion statistics in one JSON-ready dict.

    Parameters
    ----------
    image, labels
        Stored-order arrays on the same grid (either may be None).
    affine
        Their voxel-to-RAS+ affine.
    names
        Label value -> name.  None: every value is ``label N`` and nothing is a lesion.
    connectivity
        Lesion connectivity, 26 (default) or 6.
    organ_labels, lesion_labels
        The organ (for tumour burden) and lesion classes.  None: from the names
        (:func:`napari_liverct.labels.organ_label_ids`, ``lesion_label_ids``: classes
        whose name says liver, and tumour/lesion).  Never a guess: with no lesion
        class there is no lesion table and no burden.

    Returns
    -------
    dict
        ``{"image": image_stats or None, "labels": [label_stats rows],
        "lesions": [lesion_stats rows], "connectivity": ..., "organ_labels": [...],
        "lesion_labels": [...]}`` plus ``"tumour_burden"`` (lesion volume / (organ +
        lesion) volume) when both an organ class and a lesion class are present.
        All ``centroid_mm`` are RAS+ mm.
    """
    steps = iter_compute_stats(
        image, labels, affine, names, connectivity, organ_labels=organ_labels, lesion_labels=lesion_labels
    )
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


def iter_compute_stats(
    image: np.ndarray | None,
    labels: np.ndarray | None,
    affine: np.ndarray,
    names: dict[int, str] | None = None,
    connectivity: int = 26,
    *,
    organ_labels: Sequence[int] | None = None,
    lesion_labels: Sequence[int] | None = None,
):
    """Generator form of :func:`compute_stats` for progress reporting.

    Yields ``(done, total, next_step_description)`` before each step and returns
    the same dict as :func:`compute_stats` (``StopIteration.value``).
    """
    from ..labels import lesion_label_ids, organ_label_ids

    _check_connectivity(connectivity)
    names = dict(names) if names else {}
    organ = sorted(int(v) for v in (organ_label_ids(names) if organ_labels is None else organ_labels))
    lesion = sorted(int(v) for v in (lesion_label_ids(names) if lesion_labels is None else lesion_labels))
    total = 3
    out: dict = {
        "image": None,
        "labels": [],
        "lesions": [],
        "connectivity": int(connectivity),
        "organ_labels": organ,
        "lesion_labels": lesion,
    }
    yield (0, total, "image statistics")
    if image is not None:
        out["image"] = image_stats(image, affine)
    if labels is not None:
        yield (1, total, "per-label statistics")
        if not names:
            names = {0: "background"}
        out["labels"] = label_stats(image, labels, affine, names)
        yield (2, total, "lesions")
        if lesion:
            out["lesions"] = lesion_stats(image, labels, affine, label=lesion, connectivity=connectivity)
        counts = {r["label"]: r["voxels"] for r in out["labels"]}
        if organ and lesion:
            burden = burden_from_counts(sum(counts.get(v, 0) for v in organ), sum(counts.get(v, 0) for v in lesion))
            if burden is not None:
                out["tumour_burden"] = burden
    yield (total, total, "done")
    return out
