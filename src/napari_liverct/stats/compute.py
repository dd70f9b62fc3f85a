"""The statistics of one image and its labels on one grid: :class:`StatsResult` (with a generator form for progress)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._engine import image_stats, label_histograms, label_stats
from .lesions import _check_connectivity, lesion_stats
from .results import StatsResult


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


def stats_on_grid(
    image: np.ndarray | None,
    labels: np.ndarray | None,
    affine: np.ndarray,
    names: dict[int, str] | None = None,
    connectivity: int = 26,
    *,
    organ_labels: Sequence[int] | None = None,
    lesion_labels: Sequence[int] | None = None,
    grid_note: str | None = None,
    files: dict | None = None,
    histograms: bool = False,
    targets: Sequence[int] | None = None,
    target_rule=None,
) -> StatsResult:
    """Image, per-label and per-lesion statistics of arrays on one grid: the one entry point
    of both faces (``napari-liverct stats`` through :func:`~napari_liverct.stats.stats_for_files`,
    and the Statistics widget).

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
        (:func:`napari_liverct.labels.tables.organ_label_ids`, ``lesion_label_ids``: classes
        whose name says liver, and tumour/lesion).  Never a guess: with no lesion
        class there is no lesion table and no burden.
    grid_note, files
        How the labels were put on the image grid, and which files they came from
        (kept in the result as they are).
    histograms
        Also compute the per-label intensity histograms the widget plots
        (``StatsResult.histograms``, not part of the JSON).
    targets, target_rule
        The RECIST target lesions (lesion ids), or None: chosen by ``target_rule``
        (:class:`~napari_liverct.stats.recist.TargetRule`; default >= 10 mm, 2 per organ, 5 in all).

    Returns
    -------
    StatsResult
        All ``centroid_mm`` are RAS+ mm.
    """
    steps = iter_stats_on_grid(
        image,
        labels,
        affine,
        names,
        connectivity,
        organ_labels=organ_labels,
        lesion_labels=lesion_labels,
        grid_note=grid_note,
        files=files,
        histograms=histograms,
        targets=targets,
        target_rule=target_rule,
    )
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


def iter_stats_on_grid(
    image: np.ndarray | None,
    labels: np.ndarray | None,
    affine: np.ndarray,
    names: dict[int, str] | None = None,
    connectivity: int = 26,
    *,
    organ_labels: Sequence[int] | None = None,
    lesion_labels: Sequence[int] | None = None,
    grid_note: str | None = None,
    files: dict | None = None,
    histograms: bool = False,
    targets: Sequence[int] | None = None,
    target_rule=None,
):
    """Generator form of :func:`stats_on_grid` for progress reporting.

    Yields ``(done, total, next_step_description)`` before each step and returns
    the same :class:`StatsResult` (``StopIteration.value``).
    """
    from ..labels.tables import lesion_label_ids, organ_label_ids

    _check_connectivity(connectivity)
    names = dict(names) if names else {}
    organ = tuple(sorted(int(v) for v in (organ_label_ids(names) if organ_labels is None else organ_labels)))
    lesion = tuple(sorted(int(v) for v in (lesion_label_ids(names) if lesion_labels is None else lesion_labels)))
    total = 4 if histograms else 3
    img = None
    rows: list = []
    lesions: list = []
    burden = None
    hist = None
    yield (0, total, "image statistics")
    if image is not None:
        img = image_stats(image, affine)
    if labels is not None:
        yield (1, total, "per-label statistics")
        rows = label_stats(image, labels, affine, names or {0: "background"})
        yield (2, total, "lesions")
        if lesion:
            lesions = lesion_stats(
                image,
                labels,
                affine,
                label=list(lesion),
                connectivity=connectivity,
                targets=targets,
                target_rule=target_rule,
            )
        counts = {r.label: r.voxels for r in rows}
        if organ and lesion:
            burden = burden_from_counts(sum(counts.get(v, 0) for v in organ), sum(counts.get(v, 0) for v in lesion))
        if histograms and image is not None:
            yield (3, total, "histograms")
            hist = label_histograms(image, labels)
    yield (total, total, "done")
    return StatsResult(
        image=img,
        labels=tuple(rows),
        lesions=tuple(lesions),
        connectivity=int(connectivity),
        organ_labels=organ,
        lesion_labels=lesion,
        tumour_burden=burden,
        files=files,
        grid_note=grid_note,
        histograms=hist,
    )
