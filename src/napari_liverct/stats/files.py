"""Statistics of NIfTI files: read, put the labels on the image grid, compute."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .compute import stats_on_grid
from .lesions import _check_connectivity
from .results import StatsResult


def resample_labels_nearest(labels: np.ndarray, labels_affine: np.ndarray, shape, affine: np.ndarray) -> np.ndarray:
    """Resample a label volume onto another grid by nearest neighbour (0 outside);
    see :func:`napari_liverct.geometry.grids.resample_nearest`."""
    from ..geometry.grids import resample_nearest

    return resample_nearest(labels, labels_affine, shape, affine)


def stats_for_files(
    image_path,
    labels_path=None,
    connectivity: int = 26,
    resample_labels: bool = False,
    *,
    organ_labels: Sequence[int] | None = None,
    lesion_labels: Sequence[int] | None = None,
    label_names: dict[int, str] | None = None,
    targets: Sequence[int] | None = None,
    target_rule=None,
    force_labels: bool = False,
) -> StatsResult:
    """:func:`~napari_liverct.stats.stats_on_grid` for NIfTI files (intensities after scl_slope/scl_inter).

    Labels stored with axes flipped or permuted relative to the image are viewed on
    the image grid (no resampling) and ``"grid_note"`` says so.  The labels must be a label
    map by the rule ``compare`` uses (:func:`napari_liverct.labels.tables.checked_label_map`;
    ``force_labels`` lifts the content rule).

    Raises
    ------
    GridMismatchError
        When image and labels are on really different grids (naming both files)
        and ``resample_labels`` is False; unreadable files raise NiftiReadError.
    """
    from ..geometry.grids import conform_to_grid
    from ..labels.tables import checked_label_map, label_names_for
    from ..volumes.dispatch import read_volume

    _check_connectivity(connectivity)
    img = read_volume(image_path)
    if img.data.ndim != 3:
        raise ValueError(f"{image_path}: expected a 3D image, got shape {img.data.shape}")
    labels = None
    names = None
    note = None
    if labels_path is not None:
        lab = read_volume(labels_path)
        labels = lab.data
        if labels.ndim != 3:
            raise ValueError(f"{labels_path}: expected a 3D label volume, got shape {labels.shape}")
        labels = checked_label_map(labels, str(labels_path), force_labels)
        labels, note = conform_to_grid(
            labels,
            lab.affine,
            img.data.shape,
            img.affine,
            resample=resample_labels,
            names=(str(labels_path), str(image_path)),
            hint="use --resample-labels to resample the labels onto the image grid (nearest neighbour)",
        )
        # no volume for label_names_for: the engine names every value it counts "label N"
        # in its one pass when no name source exists (a second pass cost 1 s on int32 labels)
        names = dict(label_names) if label_names else label_names_for(labels_path, lab.header)
    try:
        return stats_on_grid(
            img.data,
            labels,
            img.affine,
            names=names,
            connectivity=connectivity,
            organ_labels=organ_labels,
            lesion_labels=lesion_labels,
            grid_note=note,
            files={"image": str(image_path), "labels": str(labels_path) if labels_path else None},
            targets=targets,
            target_rule=target_rule,
        )
    except ValueError as exc:  # e.g. negative label values: say which file
        raise ValueError(f"{labels_path or image_path}: {exc}") from exc


def lesions_for_file(
    labels_path,
    *,
    lesion_labels: Sequence[int] | None = None,
    label_names: dict[int, str] | None = None,
    connectivity: int = 26,
    targets: Sequence[int] | None = None,
    target_rule=None,
    force_labels: bool = False,
):
    """The lesions (:func:`~napari_liverct.stats.lesion_stats`, RECIST diameters, RAS mm) of one label file.

    The lesion classes are ``lesion_labels`` or those whose name (``label_names``, else the
    file's label table / sidecar) says tumour/lesion; none: ValueError naming the file.
    """
    from ..labels.tables import checked_label_map, label_names_for, lesion_label_ids
    from ..volumes.dispatch import read_volume
    from .lesions import lesion_stats

    _check_connectivity(connectivity)
    vol = read_volume(labels_path)
    if vol.data.ndim != 3:
        raise ValueError(f"{labels_path}: expected a 3D label volume, got shape {vol.data.shape}")
    labels = checked_label_map(vol.data, str(labels_path), force_labels)  # the rule compare uses
    if lesion_labels is None:
        names = dict(label_names) if label_names else label_names_for(labels_path, vol.header)
        lesion_labels = lesion_label_ids(names)
        if not lesion_labels:
            raise ValueError(
                f"{labels_path}: no class is named tumour/lesion; say which label values are lesions (--lesion V)"
            )
    try:
        return lesion_stats(
            None,
            labels,
            vol.affine,
            label=list(lesion_labels),
            connectivity=connectivity,
            targets=targets,
            target_rule=target_rule,
        )
    except ValueError as exc:
        raise ValueError(f"{labels_path}: {exc}") from exc


def response_for_files(
    baseline_path,
    followup_path,
    *,
    lesion_labels: Sequence[int] | None = None,
    label_names: dict[int, str] | None = None,
    connectivity: int = 26,
    targets: Sequence[int] | None = None,
    target_rule=None,
    nadir_mm: float | None = None,
    max_distance_mm: float = 20.0,
    force_labels: bool = False,
):
    """RECIST 1.1 response (:func:`~napari_liverct.stats.recist.recist_response`) of two label files.

    Each file is measured on its own grid; lesions are paired by their centroids in RAS mm.
    """
    from .response import recist_response

    base, follow = (
        lesions_for_file(
            p,
            lesion_labels=lesion_labels,
            label_names=label_names,
            connectivity=connectivity,
            force_labels=force_labels,
        )
        for p in (baseline_path, followup_path)
    )
    try:
        return recist_response(
            base, follow, targets=targets, rule=target_rule, nadir_mm=nadir_mm, max_distance_mm=max_distance_mm
        )
    except ValueError as exc:
        raise ValueError(f"{baseline_path}: {exc}") from exc
