"""Compare one prediction with its ground truth: arrays (:func:`compare_arrays`) or files."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..constants import CONNECTIVITIES, DEFAULT_TOLERANCE_MM
from ..geometry.grids import GridMismatchError
from ..labels.kind import NotALabelMapError
from .classes import parse_map, plan_classes, relabel
from .lesions import MATCH_RULES, compare_lesions
from .metrics import VoxelCounts, count_values
from .results import CaseComparison, ClassMetrics
from .surface import mask_box, surface_distances, surface_metrics

__all__ = [
    "GridMismatchError",
    "NotALabelMapError",
    "compare_arrays",
    "compare_files",
    "compare_volumes",
    "DEFAULT_TOLERANCE_MM",
]

_CHUNK = 1 << 22  # voxels per joint-histogram chunk (bounds the intp temporary to 32 MB)


def _spacing_and_linear(affine: np.ndarray):
    lin = np.asarray(affine, float)[:3, :3]
    spacing = np.linalg.norm(lin, axis=0)
    gram = lin.T @ lin
    off = np.abs(gram - np.diag(np.diag(gram))).max()
    # orthogonal axes (any rotation/flip): spacing alone gives the exact distances
    return tuple(float(s) for s in spacing), (None if off <= 1e-6 * gram.max() else lin)


def _joint_counts(g: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """``J[a, b]`` = voxels with ground-truth class a and predicted class b (chunked bincount)."""
    total = np.zeros(k * k, np.int64)
    g2 = g.reshape(g.shape[0], -1)
    p2 = p.reshape(p.shape[0], -1)
    step = max(1, _CHUNK // max(1, g2.shape[1]))
    for s in range(0, g2.shape[0], step):
        idx = g2[s : s + step].astype(np.intp) * k
        idx += p2[s : s + step]
        total += np.bincount(idx.ravel(), minlength=k * k)
    return total.reshape(k, k)


def _values(arr: np.ndarray) -> list[int]:
    """Values present in ``arr`` (few small labels: one vectorised compare each, no copy)."""
    a = np.asarray(arr)
    if a.size == 0:
        return []
    if a.dtype == bool:
        return [0, 1]
    lo, hi = int(a.min()), int(a.max())
    if lo >= 0 and hi < 64:
        return [v for v in range(lo, hi + 1) if v in (lo, hi) or bool((a == v).any())]
    return [int(v) for v in np.unique(a)]


def compare_arrays(
    gt: np.ndarray,
    pred: np.ndarray,
    affine: np.ndarray,
    *,
    mapping: dict[int, int] | Sequence[str] | None = None,
    foreground: bool = False,
    names: dict[int, str] | None = None,
    lesion_labels: Sequence[int] | None = None,
    connectivity: int = 26,
    match: str = "overlap",
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    surface: bool = True,
    progress: Callable[[str], None] | None = None,
    files: tuple[str | None, str | None] = (None, None),
    grid_note: str | None = None,
) -> CaseComparison:
    """Voxel, surface and lesion metrics of ``pred`` against ``gt`` on one grid.

    Parameters
    ----------
    gt, pred
        Integer label arrays of the same shape, in the stored order of the file.
    affine
        Their voxel-to-RAS affine (spacing for mm, voxel volume for mL, centroids).
    mapping, foreground, names
        Class mapping (see :mod:`napari_liverct.compare.classes`); ``mapping`` is
        ``{pred: gt}`` or ``["P:G", ...]``.
    lesion_labels
        Ground-truth classes whose connected components are lesions.  None: the
        classes whose name says tumour/lesion (:func:`napari_liverct.labels.tables.lesion_label_ids`
        on ``names``); an empty list or no such class skips the lesion analysis.
    connectivity, match
        Lesion components (6 or 26) and matching rule (``"overlap"`` or ``"iou50"``).
    tolerance_mm
        Normalised surface Dice tolerance tau.
    surface
        Compute HD, HD95, ASSD and NSD (the slowest part).
    progress
        Called with a short message before each step.
    files, grid_note
        The ground-truth and prediction files, and how the prediction was put on the
        ground-truth grid (first note; ``resampled`` when it says so), kept in the result.

    Returns
    -------
    CaseComparison
        One :class:`ClassMetrics` per evaluated class (definitions in the package
        docstring), and the :class:`LesionSummary` when there are lesion classes.
    """
    from ..labels.tables import lesion_label_ids
    from ..stats import voxel_volume_ml

    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise GridMismatchError(f"ground truth and prediction differ in shape: {gt.shape} vs {pred.shape}")
    if gt.ndim != 3:
        raise ValueError(f"expected 3D label arrays, got shape {gt.shape}")
    if match not in MATCH_RULES:
        raise ValueError(f"match must be one of {MATCH_RULES}, not {match!r}")
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"connectivity must be 6 or 26, not {connectivity}")
    if not (tolerance_mm >= 0 and math.isfinite(tolerance_mm)):
        raise ValueError(f"tolerance must be a finite number >= 0 mm, not {tolerance_mm}")
    for what, arr in (("ground truth", gt), ("prediction", pred)):
        if arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0):
            raise ValueError(f"{what}: labels are not whole numbers")
        if arr.dtype.kind in "if" and arr.size and arr.min() < 0:
            raise ValueError(f"{what}: labels must not be negative")  # as stats says it
    mapping = mapping if isinstance(mapping, dict) else parse_map(mapping)
    names = dict(names or {})
    say("classes")
    box = mask_box((gt != 0) | (pred != 0))  # everything outside is background in both
    both_empty = box is None
    if both_empty:
        box = tuple(slice(0, 0) for _ in range(3))
    plan = plan_classes(_values(gt[box]), _values(pred[box]), mapping=mapping, foreground=foreground, names=names)
    k = len(plan.labels) + 1
    spacing, linear = _spacing_and_linear(affine)
    vml = voxel_volume_ml(affine)
    gm = relabel(gt[box], plan.gt_lut, k)
    pm = relabel(pred[box], plan.pred_lut, k)
    say("voxel metrics")
    joint = _joint_counts(gm, pm, k) if gm.size else np.zeros((k, k), np.int64)
    total = int(gt.size)
    classes = []
    for c, (label, name, pvals) in enumerate(zip(plan.labels, plan.names, plan.pred_values), start=1):
        say(f"class {label} ({name})")
        tp = int(joint[c, c])
        n_ref, n_pred = int(joint[c, :].sum()), int(joint[:, c].sum())
        counts = VoxelCounts(tp=tp, fp=n_pred - tp, fn=n_ref - tp, tn=total - n_ref - n_pred + tp, voxel_ml=vml)
        cm = ClassMetrics(
            label=int(label),
            name=name,
            pred_values=tuple(int(v) for v in pvals),
            **count_values(counts),  # every metric of the voxel counts (compare.metrics)
            tolerance_mm=float(tolerance_mm),
            gt_empty=n_ref == 0,
            pred_empty=n_pred == 0,
            both_empty=n_ref == 0 and n_pred == 0,
        )
        if surface and not cm.both_empty:
            sd = surface_distances(gm == c, pm == c, spacing, linear)
            for key, val in surface_metrics(sd, tolerance_mm).items():
                setattr(cm, key, val)
        classes.append(cm)
    if lesion_labels is None:
        lesion_labels = lesion_label_ids(names) if plan.mode != "foreground" else []
    lesion_idx = [plan.index_of(v) for v in lesion_labels if int(v) in plan.labels]
    missing = [int(v) for v in lesion_labels if int(v) not in plan.labels]
    notes = []
    if missing:
        notes.append(f"lesion classes {missing} are not among the evaluated classes {list(plan.labels)}")
    lesions = None
    if lesion_idx:
        say("lesions")
        lut = np.zeros(k, bool)
        lut[lesion_idx] = True
        lesions = compare_lesions(
            lut[gm],
            lut[pm],
            affine,
            offset=[b.start for b in box],
            labels=tuple(int(plan.labels[i - 1]) for i in lesion_idx),
            connectivity=connectivity,
            match=match,
        )
    return CaseComparison(
        classes=classes,
        lesions=lesions,
        spacing_mm=spacing,
        shape=tuple(int(s) for s in gt.shape),
        voxel_ml=vml,
        mode=plan.mode,
        tolerance_mm=float(tolerance_mm),
        notes=([grid_note] if grid_note else []) + notes,
        seconds=time.perf_counter() - t0,
        both_empty=both_empty,
        gt_file=files[0],
        pred_file=files[1],
        resampled=bool(grid_note and "resampled" in grid_note),
    )


def _read_labels(path, force_labels: bool = False, vol=None):
    """A 3D label volume, its affine and header; refused (naming the file) when its content
    says image by the reader's rule (:func:`napari_liverct.labels.tables.content_verdict`) unless
    ``force_labels``, and always when it holds negative values."""
    from ..labels.tables import checked_label_map
    from ..volumes.dispatch import read_volume

    vol = read_volume(path) if vol is None else vol  # ``vol``: already read by the caller
    data = np.asarray(vol.data)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3D label volume, got shape {data.shape}")
    data = checked_label_map(data, str(path), force_labels)
    return data, vol.affine, vol.header


def compare_volumes(
    gt: np.ndarray,
    gt_affine: np.ndarray,
    pred: np.ndarray,
    pred_affine: np.ndarray,
    *,
    resample: bool = False,
    files: tuple[str | None, str | None] = (None, None),
    grid_names: tuple[str, str] | None = None,
    hint: str = "use --resample to resample the prediction onto the ground truth (nearest neighbour)",
    **kwargs,
) -> tuple[CaseComparison, np.ndarray]:
    """The one comparison of a ground truth and a prediction each on its own grid, for
    :func:`compare_files` (the CLI, evaluate, report) and the Compare widget.

    The prediction is put on the ground-truth grid (as is; a zero-copy view when only
    axis flips/permutations differ; nearest-neighbour resampling when ``resample``;
    otherwise :class:`GridMismatchError` naming ``grid_names`` = (prediction, ground
    truth) and giving ``hint``), then measured by :func:`compare_arrays` (``kwargs``).

    Returns
    -------
    (CaseComparison, numpy.ndarray)
        The result (``gt_file``/``pred_file`` from ``files``, ``resampled`` and ``notes``
        saying what was done to the grid) and the prediction on the ground-truth grid.
    """
    from ..geometry.grids import conform_to_grid

    gt_file, pred_file = files
    if grid_names is None:
        grid_names = (
            f"{pred_file or 'the prediction'} (prediction)",
            f"{gt_file or 'the ground truth'} (ground truth)",
        )
    # same grid: as is; same voxel centres up to axis flips/permutations: a zero-copy view;
    # otherwise an error naming both, or nearest-neighbour resampling when asked
    pred_on_gt, note = conform_to_grid(
        pred, pred_affine, gt.shape, gt_affine, resample=resample, names=grid_names, hint=hint
    )
    res = compare_arrays(gt, pred_on_gt, gt_affine, files=(gt_file, pred_file), grid_note=note, **kwargs)
    return res, pred_on_gt


def compare_files(
    gt_path,
    pred_path,
    *,
    resample: bool = False,
    names: dict[int, str] | None = None,
    force_labels: bool = False,
    volumes: tuple | None = None,
    **kwargs,
) -> CaseComparison:
    """:func:`compare_volumes` on two NIfTI label files (``volumes``: their
    :class:`~napari_liverct.volumes.nifti.NiftiVolume` pair when the caller has read them already).

    Class names (and hence the default lesion classes) come from the ground truth by
    :func:`napari_liverct.labels.tables.label_table_for` (its sidecar, its own label table,
    a dataset.json near it...), as the reader names the layers the widget compares,
    unless ``names`` is given.

    Raises
    ------
    NotALabelMapError
        (a ValueError) naming the file, when either file's content says image by the
        reader's rule (thousands of distinct values, as a CT) and ``force_labels`` is
        False; a ValueError "labels must not be negative" (as ``stats``) when either
        holds negative values.
    GridMismatchError
        (:class:`napari_liverct.geometry.grids.GridMismatchError`, a ValueError) when the two
        files are not on the same grid, naming both, and ``resample`` is False; with
        ``resample`` the prediction is resampled onto the ground-truth grid by nearest
        neighbour and the result's ``resampled`` and ``notes`` say so.  A prediction
        stored with flipped or permuted axes but the same voxel centres is viewed on
        the ground-truth grid without resampling (noted in ``notes``).
    """
    from ..labels.tables import label_table_for

    gvol, pvol = volumes or (None, None)
    gt, gaff, gheader = _read_labels(gt_path, force_labels, gvol)
    pred, paff, _ = _read_labels(pred_path, force_labels, pvol)
    if names is None:
        names = label_table_for(gt_path, gheader).names
    res, _ = compare_volumes(
        gt, gaff, pred, paff, resample=resample, files=(str(gt_path), str(pred_path)), names=names, **kwargs
    )
    return res
