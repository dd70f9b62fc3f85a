"""Corrections from strokes: grow from seeds (GrowCut) and fill between slices.

Both run 3D Slicer's own algorithms from their ITK Python packages: ``itk-growcut``
(``itk.FastGrowCut``, Slicer's "Grow from seeds") and
``itk-morphologicalcontourinterpolation`` (``itk.MorphologicalContourInterpolator``, Slicer's
"Fill between slices", the interpolation OHIF adopted), on the canonical (RAS) view of the
box around the strokes.  Strokes are lists of RAS mm points, one per painted voxel.
"""

from __future__ import annotations

import numpy as np

from .grid import bbox, canonical_grid, grow_box
from .result import EditResult

__all__ = ["grow", "interpolate", "AXES", "growcut_box", "interpolate_box"]

#: Axis names of the canonical (RAS) grid: a slice "along S" is an axial slice.
AXES = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}
#: Margin (mm) around the strokes of the box GrowCut works in.
GROW_MARGIN_MM = 15.0


def itk_module():
    """ITK, with the DeprecationWarning its SWIG bindings raise while their modules load
    ("builtin type SwigPyObject has no __module__ attribute") silenced: it is ITK's own,
    harmless, and napari would show it to the user as a notification on the first Grow."""
    import warnings

    warnings.filterwarnings("ignore", message=r"builtin type \w+ has no __module__", category=DeprecationWarning)
    import itk

    return itk


def _to_itk(arr: np.ndarray, spacing):
    """An ITK image whose index (x, y, z) is the array's (0, 1, 2)."""
    itk = itk_module()

    img = itk.image_from_array(np.ascontiguousarray(np.transpose(arr, (2, 1, 0))))
    img.SetSpacing([float(s) for s in spacing])
    return img


def _from_itk(img) -> np.ndarray:
    itk = itk_module()

    return np.ascontiguousarray(np.transpose(itk.array_from_image(img), (2, 1, 0)))


def growcut_box(ct: np.ndarray, seeds: np.ndarray, spacing) -> np.ndarray:
    """``itk.FastGrowCut`` on a box: ``seeds`` holds 0 (unknown) and one value per segment;
    returns the segment value of every voxel."""
    itk = itk_module()

    image = _to_itk(np.asarray(ct, dtype=np.float32), spacing)
    seed = _to_itk(np.asarray(seeds, dtype=np.uint8), spacing)
    filt = itk.FastGrowCut[type(image), type(seed)].New()
    filt.SetInput(image)
    filt.SetSeedImage(seed)
    filt.Update()
    return _from_itk(filt.GetOutput())


def interpolate_box(drawn: np.ndarray, axis: int, spacing) -> np.ndarray:
    """``itk.MorphologicalContourInterpolator`` of a 0/1 mask along ``axis`` (0, 1, 2)."""
    itk = itk_module()

    image = _to_itk(np.asarray(drawn, dtype=np.uint8), spacing)
    # one thread, set before the filter exists (its multi-threader takes the default then):
    # with several, the filter corrupted the heap on pyradiomics' lung2 label and glibc
    # aborted the process at exit (ITK 5.4.7, itk-morphologicalcontourinterpolation 2.1.2)
    threads = itk.MultiThreaderBase.GetGlobalDefaultNumberOfThreads()
    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)
    try:
        filt = itk.MorphologicalContourInterpolator[type(image)].New()
        filt.SetInput(image)
        filt.SetAxis(int(axis))
        filt.SetLabel(1)
        filt.SetNumberOfWorkUnits(1)
        filt.Update()
    finally:
        itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(threads)
    return _from_itk(filt.GetOutput()) > 0


def grow(
    ct,
    affine,
    labels,
    label: int,
    foreground_ras_mm,
    background_ras_mm=(),
    *,
    margin_mm: float = GROW_MARGIN_MM,
) -> EditResult:
    """Grow ``label`` from foreground strokes against background strokes with GrowCut, in the
    box around the strokes grown by ``margin_mm``; without background strokes the box's outer
    shell is the background.  Voxels GrowCut gives to the foreground become ``label``; voxels
    of ``label`` under a background stroke become 0 (nothing else is taken away)."""
    if ct is None:
        raise ValueError("grow needs the CT")
    label = int(label)
    labels = np.asarray(labels)
    grid = canonical_grid(ct, affine, labels)
    fg = grid.indices(foreground_ras_mm, "foreground stroke")
    bg = grid.indices(background_ras_mm, "background stroke")
    if len(fg) == 0:
        raise ValueError("grow needs a foreground stroke")
    both = np.vstack([fg, bg])
    reach = np.ceil(float(margin_mm) / grid.spacing).astype(int)
    box = grow_box(tuple(slice(int(a), int(b) + 1) for a, b in zip(both.min(0), both.max(0))), grid.labels.shape, reach)
    off = np.array([b.start for b in box])
    seeds = np.full(tuple(b.stop - b.start for b in box), 2, np.uint8)
    seeds[1:-1, 1:-1, 1:-1] = 0  # the shell
    if len(bg):
        seeds[tuple((bg - off).T)] = 2
    seeds[tuple((fg - off).T)] = 1
    seg = growcut_box(grid.ct[box], seeds, grid.spacing)
    new = grid.labels
    sub = new[box]
    removed = np.zeros(seeds.shape, bool)
    if len(bg):
        removed[tuple((bg - off).T)] = True
    removed &= (sub == label) & (seeds == 2)
    sub[removed] = 0
    sub[seg == 1] = label
    res = EditResult.between(
        "grow", labels, grid.stored(new), "", grown_voxels=int((seg == 1).sum()), box_shape=list(seeds.shape)
    )
    res.summary = f"grew label {label} over {int((seg == 1).sum())} voxels ({res.changed} changed)"
    return res


def interpolate(ct, affine, labels, label: int, drawn_ras_mm, *, axis: str = "S") -> EditResult:
    """Fill between the slices drawn (``drawn_ras_mm``, the painted voxels) along ``axis``
    (R/L, A/P or S/I) with morphological contour interpolation; the drawn voxels and the
    interpolated ones become ``label``."""
    if str(axis).upper() not in AXES:
        raise ValueError(f"axis must be one of R, A, S (or L, P, I), not {axis!r}")
    ax = AXES[str(axis).upper()]
    label = int(label)
    labels = np.asarray(labels)
    grid = canonical_grid(None, affine, labels)
    pts = grid.indices(drawn_ras_mm, "drawn")
    if len(pts) == 0:
        raise ValueError("fill between slices needs a label drawn on two slices or more")
    n_slices = len(np.unique(pts[:, ax]))
    if n_slices < 2:
        raise ValueError(f"fill between slices needs drawings on two slices or more along {axis}, got {n_slices}")
    drawn = np.zeros(grid.labels.shape, bool)  # canonical order
    drawn[tuple(pts.T)] = True
    box = grow_box(bbox(drawn), drawn.shape, 1)
    filled = interpolate_box(drawn[box], ax, grid.spacing) | drawn[box]
    new = grid.labels
    new[box][filled] = label
    res = EditResult.between(
        "interpolate", labels, grid.stored(new), "", drawn_slices=n_slices, filled_voxels=int(filled.sum())
    )
    res.summary = f"filled label {label} between {n_slices} slices along {axis}: {int(filled.sum())} voxels"
    return res
