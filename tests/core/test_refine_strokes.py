"""Grow from strokes and fill between slices (issue 24) on pyradiomics' real chest CT
(``lung2``: NRRD, 512 x 512 x 61, 5 mm slices, a tumour label over 11 slices).

Strokes and slices come from the tumour label itself (a person would draw them there); the
result is compared with (1) ITK's own filters, ``itk.FastGrowCut`` and
``itk.MorphologicalContourInterpolator``, run here directly on the files as ``itk.imread``
reads them (LPS, stored order), and (2) the tumour label (Dice, printed for N slices).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_liverct.refine import grow, interpolate
from realdata import LUNG2_IMAGE, LUNG2_LABEL, read_nrrd_ras, real

itk = pytest.importorskip("itk")


def dice(a, b) -> float:
    return 2.0 * (a & b).sum() / max(1, a.sum() + b.sum())


@pytest.fixture(scope="module")
def lung():
    ct, aff = read_nrrd_ras(real(LUNG2_IMAGE))
    lab, _ = read_nrrd_ras(real(LUNG2_LABEL))
    tumour = lab > 0
    zs = np.unique(np.argwhere(tumour)[:, 2])
    return {"ct": ct, "affine": aff, "tumour": tumour, "zs": zs}


def _ras(aff, idx):
    idx = np.asarray(idx, float).reshape(-1, 3)
    return (aff @ np.c_[idx, np.ones(len(idx))].T).T[:, :3]


def _pick(zs, n):
    return sorted({int(zs[round(i)]) for i in np.linspace(0, len(zs) - 1, n)})


def _strokes(tumour, slices):
    """Foreground: the tumour eroded by 3 voxels in-plane; background: a ring 4-8 voxels
    outside it; on the given axial slices (every 3rd voxel, as a brush would leave them)."""
    fg, bg = [], []
    disk = ndimage.generate_binary_structure(2, 1)
    for k in slices:
        sl = tumour[:, :, k]
        inner = ndimage.binary_erosion(sl, disk, iterations=3)
        ring = ndimage.binary_dilation(sl, disk, iterations=8) & ~ndimage.binary_dilation(sl, disk, iterations=4)
        for mask, out in ((inner if inner.any() else sl, fg), (ring, bg)):
            ij = np.argwhere(mask)[::3]
            out.append(np.c_[ij, np.full(len(ij), k)])
    return np.vstack(fg), np.vstack(bg)


@pytest.mark.slow  # the ITK filter on a real CT and tumour label: out of the fast lane
def test_grow_is_itk_fastgrowcut_and_finds_the_tumour(lung):
    ct, aff, tumour = lung["ct"], lung["affine"], lung["tumour"]
    empty = np.zeros(ct.shape, np.uint8)
    scores = {}
    for n in (1, 3, 5):
        fg, bg = _strokes(tumour, _pick(lung["zs"], n))
        r = grow(ct, aff, empty, 1, _ras(aff, fg), _ras(aff, bg))
        scores[n] = dice(r.labels == 1, tumour)
    print(f"\nGrow (GrowCut) on lung2, Dice against its tumour label from strokes on N slices: {scores}")
    assert scores[5] > 0.75 and scores[5] >= scores[1]
    # ITK's own filter on the file as itk reads it (LPS, stored order; arrays are z, y, x)
    image = itk.imread(str(real(LUNG2_IMAGE)), itk.F)
    arr = itk.array_from_image(image)
    fg, bg = _strokes(tumour, _pick(lung["zs"], 5))
    both = np.vstack([fg, bg])
    reach = np.ceil(15.0 / np.array(image.GetSpacing())).astype(int)  # the 15 mm margin, x y z
    lo = np.maximum(both.min(0) - reach, 0)
    hi = np.minimum(both.max(0) + 1 + reach, np.array(ct.shape))
    seeds = np.full(tuple((hi - lo)[::-1]), 2, np.uint8)
    seeds[1:-1, 1:-1, 1:-1] = 0
    seeds[tuple((bg - lo)[:, ::-1].T)] = 2
    seeds[tuple((fg - lo)[:, ::-1].T)] = 1
    sub = itk.image_from_array(np.ascontiguousarray(arr[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]))
    sub.SetSpacing(image.GetSpacing())
    seed_img = itk.image_from_array(seeds)
    seed_img.SetSpacing(image.GetSpacing())
    filt = itk.FastGrowCut[type(sub), type(seed_img)].New()
    filt.SetInput(sub)
    filt.SetSeedImage(seed_img)
    filt.Update()
    oracle = np.zeros(ct.shape, bool)
    oracle[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = (
        np.transpose(itk.array_from_image(filt.GetOutput()), (2, 1, 0)) == 1
    )
    ours = grow(ct, aff, empty, 1, _ras(aff, fg), _ras(aff, bg)).labels == 1
    # ours runs on the RAS view (x and y flipped): Dijkstra's ties may fall the other way
    differ = int((ours != oracle).sum())
    print(f"GrowCut, ours vs itk.FastGrowCut on the stored order: {differ} of {int(oracle.sum())} voxels differ")
    assert differ <= 0.01 * oracle.sum()


@pytest.mark.slow  # the ITK filter on a real CT and tumour label: out of the fast lane
def test_fill_between_slices_is_itk_interpolation_and_fills_the_tumour(lung):
    aff, tumour = lung["affine"], lung["tumour"]
    empty = np.zeros(tumour.shape, np.uint8)
    scores = {}
    for n in (2, 3, 4, 6):
        slices = _pick(lung["zs"], n)
        drawn = np.argwhere(tumour & np.isin(np.arange(tumour.shape[2]), slices)[None, None, :])
        r = interpolate(None, aff, empty, 2, _ras(aff, drawn), axis="S")
        scores[n] = dice(r.labels == 2, tumour)
        if n == 3:
            # ITK's own filter on the file's label as itk reads it, only those slices kept
            label = itk.imread(str(real(LUNG2_LABEL)), itk.UC)
            arr = itk.array_from_image(label)
            keep = np.zeros_like(arr)
            keep[slices] = arr[slices] > 0
            img = itk.image_from_array(keep)
            img.CopyInformation(label)
            threads = itk.MultiThreaderBase.GetGlobalDefaultNumberOfThreads()
            itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)  # see interpolate_box
            try:
                out = itk.morphological_contour_interpolator(img, axis=2, label=1)
            finally:
                itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(threads)
            oracle = np.transpose(itk.array_from_image(out), (2, 1, 0)) > 0
            np.testing.assert_array_equal(r.labels == 2, oracle)
    print(f"\nFill between slices on lung2, Dice against its tumour label from N drawn slices: {scores}")
    assert scores[6] > 0.85 and scores[6] >= scores[2]
    with pytest.raises(ValueError, match="two slices or more"):
        one = np.argwhere(tumour & (np.arange(tumour.shape[2]) == lung["zs"][3])[None, None, :])
        interpolate(None, aff, empty, 2, _ras(aff, one), axis="S")


def _itk_fill(mask: np.ndarray, axis: int, spacing) -> np.ndarray:
    """``itk.morphological_contour_interpolator`` of a 0/1 array (ITK x, y, z = its axes 0, 1, 2)."""
    img = itk.image_from_array(np.ascontiguousarray(np.transpose(mask, (2, 1, 0)).astype(np.uint8)))
    img.SetSpacing([float(v) for v in spacing])
    threads = itk.MultiThreaderBase.GetGlobalDefaultNumberOfThreads()
    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)  # see interpolate_box
    try:
        out = itk.morphological_contour_interpolator(img, axis=int(axis), label=1)
    finally:
        itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(threads)
    return np.transpose(itk.array_from_image(out), (2, 1, 0)) > 0


@pytest.mark.parametrize("axis", ["R", "A", "S"])
def test_fill_between_slices_along_each_world_axis_is_itk_interpolation(lung, axis):
    """Slices drawn across R-L (sagittal), A-P (coronal) or S-I (axial), named by the world
    axis the affine gives, not by the array axis: ours equals
    ``itk.morphological_contour_interpolator`` run here on the drawn label turned to RAS with
    nibabel (as the edits run, so that every storage gives one answer), along that axis.  ITK
    on the file's own (LPS) order gives a slightly different answer along R and A (the filter
    depends on the slice order and the in-plane direction): the count is printed, with the
    Dice against the tumour."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    aff, tumour = lung["affine"], lung["tumour"]
    ornt = io_orientation(aff)  # stored axis -> RAS axis
    stored_axis = int(np.flatnonzero(ornt[:, 0] == "RAS".index(axis))[0])
    present = np.unique(np.argwhere(tumour)[:, stored_axis])
    slices = _pick(present, 6)  # 6 slices: 3 far apart share too little of the contour to interpolate
    keep = np.isin(np.arange(tumour.shape[stored_axis]), slices)
    drawn_mask = tumour & np.expand_dims(keep, tuple(a for a in range(3) if a != stored_axis))
    empty = np.zeros(tumour.shape, np.uint8)
    ours = interpolate(None, aff, empty, 2, _ras(aff, np.argwhere(drawn_mask)), axis=axis).labels == 2
    # ITK on the box around the drawing + 2 voxels (the filter only works where the label is)
    pts = np.argwhere(drawn_mask)
    lo, hi = np.maximum(pts.min(0) - 2, 0), np.minimum(pts.max(0) + 3, tumour.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    spacing = np.sqrt((aff[:3, :3] ** 2).sum(0))
    ras_box = apply_orientation(drawn_mask[box], ornt)  # the RAS view of the box
    oracle_ras = _itk_fill(ras_box, "RAS".index(axis), spacing[np.argsort(ornt[:, 0])])
    oracle = np.zeros(tumour.shape, bool)
    oracle[box] = apply_orientation(oracle_ras, ornt_transform(axcodes2ornt("RAS"), ornt))  # back to stored
    stored = np.zeros(tumour.shape, bool)
    stored[box] = _itk_fill(drawn_mask[box], stored_axis, spacing)
    print(
        f"\nFill along {axis} (stored axis {stored_axis}), 6 slices {slices}: Dice vs the tumour "
        f"{dice(ours, tumour):.3f}; ITK on the file's own order differs in {int((ours != stored).sum())} of "
        f"{int(stored.sum())} voxels (the filter depends on the slice order and in-plane direction)"
    )
    np.testing.assert_array_equal(ours, oracle)
    assert dice(ours, stored) > 0.9
    assert dice(ours, tumour) > 0.8


def test_itk_loads_without_its_swig_deprecation_warnings():
    """ITK's SWIG bindings warn "builtin type SwigPyObject has no __module__ attribute" (also
    SwigPyPacked, and swigvarlink at exit) while their modules load, as a plain ``import itk;
    itk.FastGrowCut`` shows; napari showed one to the user as a notification on the first
    Grow.  itk_module leaves an ignore filter that catches exactly those: the warnings
    module's own matching (the first filter matching message and category decides)."""
    import warnings

    from napari_liverct.refine.strokes import itk_module

    with warnings.catch_warnings():
        itk_module()

        def action(message, category):
            for act, msg, cat, _mod, _line in warnings.filters:
                if issubclass(category, cat) and (msg is None or msg.match(message)):
                    return act
            return "default"

        for name in ("SwigPyObject", "SwigPyPacked", "swigvarlink"):
            assert action(f"builtin type {name} has no __module__ attribute", DeprecationWarning) == "ignore"
        assert action("builtin type SwigPyObject has no __module__ attribute", UserWarning) != "ignore"
        assert action("something else is deprecated", DeprecationWarning) != "ignore"
