"""Compare a prediction with the ground truth: voxel and surface metrics against oracles.

Oracles: known geometric answers (boxes and spheres shifted by a known distance), a
brute-force all-pairs implementation of the surface distances, MONAI's metrics
(imported inside the tests only) and nnU-Net's ``compute_metrics`` reproduced in numpy.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from napari_liverct.compare import GridMismatchError, compare_arrays, compare_files, surface_distances

LPS = np.diag([-0.8, -0.7, 2.5, 1.0])  # stored LPS, anisotropic (x, y) 0.8 x 0.7 mm, 2.5 mm slices
SPACING = (0.8, 0.7, 2.5)
NAMES = {0: "background", 1: "liver", 2: "tumour"}


def _ball(shape, centre, radius, spacing=(1, 1, 1)):
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing))
    return d2 <= radius**2


def _blobby_pair(seed=0, shape=(48, 56, 20)):
    """A liver-like blob with two tumours, and a perturbed prediction of it."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    noise = rng.normal(0, 1.2, shape)
    gt[_ball(shape, (24, 28, 10), 14, SPACING) | (noise > 2.8)] = 1
    pred[_ball(shape, (25, 27, 10), 13.5, SPACING) | (rng.normal(0, 1.2, shape) > 2.8)] = 1
    gt[_ball(shape, (20, 24, 10), 4, SPACING)] = 2
    gt[_ball(shape, (30, 34, 9), 3, SPACING)] = 2
    pred[_ball(shape, (21, 24, 10), 4.5, SPACING)] = 2
    return gt, pred


def _onehot(a, n):
    import torch

    return torch.from_numpy(np.stack([a == c for c in range(n)])[None].astype(np.float32))


def _monai(gt, pred, spacing, n=3, tau=2.0):
    import torch  # noqa: F401 - the oracle only
    from monai.metrics import (
        DiceMetric,
        compute_average_surface_distance,
        compute_hausdorff_distance,
        compute_surface_dice,
    )

    p, g = _onehot(pred, n), _onehot(gt, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm = DiceMetric(include_background=False, reduction="none", ignore_empty=False)
        dm(p, g)
        return {
            "dice": dm.aggregate()[0].numpy(),
            "hd": compute_hausdorff_distance(p, g, spacing=spacing)[0].numpy(),
            "hd95": compute_hausdorff_distance(p, g, spacing=spacing, percentile=95)[0].numpy(),
            "assd": compute_average_surface_distance(p, g, spacing=spacing, symmetric=True)[0].numpy(),
            "nsd": compute_surface_dice(p, g, [tau] * (n - 1), spacing=spacing)[0].numpy(),
        }


def _brute(gt_mask, pred_mask, spacing, tau):
    """All-pairs surface distances from scipy's erosion edges: slow, obviously right."""
    from scipy import ndimage as ndi
    from scipy.spatial.distance import cdist

    eg = gt_mask & ~ndi.binary_erosion(gt_mask)
    ep = pred_mask & ~ndi.binary_erosion(pred_mask)
    pg = np.argwhere(eg) * np.asarray(spacing)
    pp = np.argwhere(ep) * np.asarray(spacing)
    d = cdist(pp, pg)
    a, b = d.min(axis=1), d.min(axis=0)
    both = np.concatenate([a, b])
    return {
        "hd": both.max(),
        "hd95": max(np.percentile(a, 95), np.percentile(b, 95)),
        "assd": both.mean(),
        "nsd": (np.sum(a <= tau) + np.sum(b <= tau)) / both.size,
    }


# --------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("shift", [1, 3])
def test_boxes_shifted_by_k_voxels_have_hd_k_times_spacing(axis, shift):
    gt = np.zeros((30, 30, 30), np.uint8)
    gt[8:20, 8:20, 8:20] = 1
    pred = np.roll(gt, shift, axis=axis)
    c = compare_arrays(gt, pred, LPS).classes[0]
    assert c.hd == pytest.approx(shift * SPACING[axis], rel=1e-6)
    assert c.hd95 <= c.hd
    assert c.dice == pytest.approx(2 * (12 - shift) / 24)
    assert c.tp == 12 * 12 * (12 - shift) and c.fp == c.fn == 12 * 12 * shift


def test_spheres_offset_by_known_distance():
    shape = (64, 64, 64)
    d = 6.0
    gt = _ball(shape, (32, 32, 29), 15).astype(np.uint8)
    pred = _ball(shape, (32, 32, 29 + d), 15).astype(np.uint8)
    c = compare_arrays(gt, pred, np.eye(4)).classes[0]
    # continuous spheres: HD = d exactly; voxelised edges are within one voxel of it
    assert abs(c.hd - d) <= 1.0
    # ASSD of two unit-radius-R spheres offset by d: mean distance between surfaces < d
    assert 0 < c.assd < d
    assert c.tp + c.fn == gt.sum()


def test_anisotropic_lps_spacing_matches_brute_force():
    gt, pred = _blobby_pair(3)
    res = compare_arrays(gt, pred, LPS, names=NAMES, lesion_labels=[])
    for c in res.classes:
        ref = _brute(gt == c.label, pred == c.label, SPACING, 2.0)
        for key in ("hd", "hd95", "assd", "nsd"):
            assert getattr(c, key) == pytest.approx(ref[key], rel=1e-5, abs=1e-5), (c.label, key)


def test_sheared_affine_uses_the_true_geometry():
    gt, pred = _blobby_pair(4, shape=(30, 34, 12))
    aff = np.array([[0.8, 0.3, 0, 0], [0, 0.7, 0, 0], [0, 0, 2.5, 0], [0, 0, 0, 1.0]])
    sd = surface_distances(gt == 1, pred == 1, SPACING, aff[:3, :3])
    from scipy import ndimage as ndi
    from scipy.spatial.distance import cdist

    eg = (gt == 1) & ~ndi.binary_erosion(gt == 1)
    ep = (pred == 1) & ~ndi.binary_erosion(pred == 1)
    ref = cdist(np.argwhere(ep) @ aff[:3, :3].T, np.argwhere(eg) @ aff[:3, :3].T).min(axis=1)
    np.testing.assert_allclose(sd.pred_to_gt, ref, rtol=1e-6)
    c = compare_arrays(gt, pred, aff).classes[0]
    assert c.hd == pytest.approx(max(ref.max(), sd.gt_to_pred.max()), rel=1e-6)


# --------------------------------------------------------------------------- MONAI as oracle


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("tau", [1.0, 2.0])
def test_equals_monai_metrics(seed, tau):
    gt, pred = _blobby_pair(seed)
    res = compare_arrays(gt, pred, LPS, names=NAMES, tolerance_mm=tau)
    ref = _monai(gt, pred, SPACING, tau=tau)
    for i, c in enumerate(res.classes):
        assert c.dice == pytest.approx(float(ref["dice"][i]), rel=1e-6)
        assert c.hd == pytest.approx(float(ref["hd"][i]), rel=1e-6)
        assert c.hd95 == pytest.approx(float(ref["hd95"][i]), rel=1e-6)
        assert c.assd == pytest.approx(float(ref["assd"][i]), rel=1e-6)
        assert c.nsd == pytest.approx(float(ref["nsd"][i]), rel=1e-6)


def test_empty_masks_follow_metrics_reloaded_and_monai():
    shape = (20, 20, 10)
    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    gt[5:12, 5:12, 2:6] = 1  # class 1 only in the ground truth
    pred[3:6, 3:6, 3:5] = 2  # class 2 only in the prediction; class 3 declared, absent
    names = {0: "background", 1: "liver", 2: "tumour", 3: "vessel"}
    res = compare_arrays(gt, pred, LPS, names=names, lesion_labels=[])
    c1, c2, c3 = res.classes
    assert c1.pred_empty and not c1.gt_empty and c1.dice == 0 and c1.hd == math.inf and c1.assd == math.inf
    assert c1.nsd == 0 and c1.sensitivity == 0 and math.isnan(c1.precision)
    assert c2.gt_empty and c2.dice == 0 and c2.hd95 == math.inf and math.isnan(c2.ravd)
    assert c3.both_empty and math.isnan(c3.dice) and math.isnan(c3.hd) and math.isnan(c3.nsd)
    ref = _monai(gt, pred, SPACING, n=4)
    for i, c in enumerate(res.classes[:2]):
        assert c.hd == float(ref["hd"][i]) == math.inf
        assert c.assd == float(ref["assd"][i])
        assert c.nsd == float(ref["nsd"][i])
    assert math.isnan(float(ref["hd"][2])) and math.isnan(float(ref["nsd"][2]))
    js = res.to_json()
    assert js["classes"][0]["hd"] is None and js["classes"][0]["pred_empty"] is True


def test_both_maps_empty_does_not_crash():
    z = np.zeros((8, 8, 8), np.uint8)
    res = compare_arrays(z, z, LPS, names=NAMES)
    assert [c.both_empty for c in res.classes] == [True, True]
    assert res.lesions is not None and res.lesions.n_gt == 0 and math.isnan(res.lesions.f1)


# --------------------------------------------------------------------------- voxel metrics


def _nnunet_compute_metrics(seg_ref, seg_pred, labels):
    """nnU-Net v2 ``compute_metrics`` (evaluate_predictions.py), without its file reading."""
    out = {}
    for r in labels:
        mask_ref, mask_pred = seg_ref == r, seg_pred == r
        tp = np.sum(mask_ref & mask_pred)
        fp = np.sum(~mask_ref & mask_pred)
        fn = np.sum(mask_ref & ~mask_pred)
        tn = np.sum(~mask_ref & ~mask_pred)
        with np.errstate(invalid="ignore", divide="ignore"):
            dice = np.float64(2 * tp) / (2 * tp + fp + fn) if tp + fp + fn > 0 else np.nan
            iou = np.float64(tp) / (tp + fp + fn) if tp + fp + fn > 0 else np.nan
        out[str(r)] = {
            "Dice": dice,
            "IoU": iou,
            "FP": fp,
            "TP": tp,
            "FN": fn,
            "TN": tn,
            "n_pred": fp + tp,
            "n_ref": fn + tp,
        }
    return out


def test_counts_and_dice_equal_nnunet_compute_metrics():
    gt, pred = _blobby_pair(5)
    res = compare_arrays(gt, pred, LPS, names=NAMES, surface=False)
    ref = _nnunet_compute_metrics(gt, pred, [1, 2])
    ours = res.nnunet_case()["metrics"]
    for lab in ("1", "2"):
        for key, val in ref[lab].items():
            assert ours[lab][key] == pytest.approx(float(val), rel=1e-12), (lab, key)


def test_volumes_and_volume_difference():
    gt = np.zeros((10, 10, 10), np.uint8)
    pred = gt.copy()
    gt[:4, :5, :5] = 1  # 100 voxels
    pred[:5, :5, :5] = 1  # 125 voxels
    c = compare_arrays(gt, pred, LPS, surface=False).classes[0]
    vml = 0.8 * 0.7 * 2.5 / 1000
    assert c.gt_ml == pytest.approx(100 * vml) and c.pred_ml == pytest.approx(125 * vml)
    assert c.volume_diff_ml == pytest.approx(25 * vml)
    assert c.volume_diff_pct == pytest.approx(25.0) and c.ravd == pytest.approx(0.25)
    assert c.sensitivity == 1.0 and c.precision == pytest.approx(0.8)


def test_class_mapping_and_foreground():
    gt, pred = _blobby_pair(6)
    ts = np.where(pred == 1, 5, np.where(pred == 2, 7, 0)).astype(np.uint8)  # TotalSegmentator-like values
    ref = compare_arrays(gt, pred, LPS, names=NAMES, lesion_labels=[2])
    mapped = compare_arrays(gt, ts, LPS, mapping=["5:1", "7:2"], names=NAMES, lesion_labels=[2])
    for a, b in zip(ref.classes, mapped.classes):
        assert (a.tp, a.fp, a.fn, a.hd95) == (b.tp, b.fp, b.fn, b.hd95)
    assert mapped.classes[0].pred_values == (5,)
    assert mapped.lesions.to_row() == ref.lesions.to_row()
    fg = compare_arrays(gt, ts, LPS, foreground=True)
    assert len(fg.classes) == 1 and fg.classes[0].tp == int(np.sum((gt > 0) & (ts > 0)))
    merged = compare_arrays(gt, ts, LPS, mapping={5: 1, 7: 1}, surface=False)  # both onto liver
    assert merged.classes[0].n_pred == int(np.sum(ts > 0))
    with pytest.raises(ValueError, match="PRED:GT"):
        compare_arrays(gt, ts, LPS, mapping=["5-1"])


def test_lesions_are_never_assumed_to_be_label_2():
    gt, pred = _blobby_pair(7)
    assert compare_arrays(gt, pred, LPS).lesions is None  # no names: no lesion class known
    assert compare_arrays(gt, pred, LPS, names=NAMES).lesions.labels == (2,)


# --------------------------------------------------------------------------- files


def test_grid_mismatch_names_both_files_and_resample_says_so(write_nifti_file):
    gt, pred = _blobby_pair(8)
    g = write_nifti_file("labelsTr/case_1.nii.gz", gt, LPS)
    p_same = write_nifti_file("pred/case_1.nii.gz", pred, LPS)
    shifted = LPS.copy()
    shifted[:3, 3] = (1.6, 0, 0)
    p_off = write_nifti_file("pred_off/case_1.nii.gz", pred, shifted)
    res = compare_files(g, p_same)
    assert not res.resampled and res.gt_file == str(g)
    assert res.lesions is None  # no dataset.json: no class is known to be a lesion
    (g.parent.parent / "dataset.json").write_text('{"labels": {"background": 0, "liver": 1, "tumour": 2}}')
    res = compare_files(g, p_same)
    assert res.lesions is not None and res.lesions.labels == (2,) and res.classes[0].name == "liver"
    with pytest.raises(GridMismatchError) as err:
        compare_files(g, p_off)
    assert str(g) in str(err.value) and str(p_off) in str(err.value) and isinstance(err.value, ValueError)
    res2 = compare_files(g, p_off, resample=True)
    assert res2.resampled and "nearest neighbour" in res2.notes[0]
    np.testing.assert_array_equal(
        res2.classes[0].tp, int(np.sum((gt[:-2] == 1) & (pred[2:] == 1)))
    )  # pred voxel i+2 sits on gt voxel i


def test_prediction_stored_flipped_is_viewed_not_resampled(write_nifti_file):
    gt, pred = _blobby_pair(9)
    g = write_nifti_file("gt_seg.nii.gz", gt, LPS)
    flipped = LPS.copy()
    flipped[0, 0] = 0.8  # axis 0 stored the other way round (RPS), same voxel centres
    flipped[0, 3] = -0.8 * (gt.shape[0] - 1)
    p = write_nifti_file("pred_seg.nii.gz", pred[::-1], flipped)
    a = compare_arrays(gt, pred, LPS)
    b = compare_files(g, p, names={})
    assert not b.resampled and "flipped" in b.notes[0]
    for ca, cb in zip(a.classes, b.classes):
        assert (ca.tp, ca.fp, ca.fn) == (cb.tp, cb.fp, cb.fn)
        for key in ("hd", "hd95", "assd", "nsd", "gt_ml"):
            assert getattr(ca, key) == pytest.approx(getattr(cb, key), rel=1e-6)  # float32 header affine


def test_package_never_imports_torch():
    code = (
        "import sys, numpy as np; from napari_liverct import compare; from napari_liverct.compare import evaluate; "
        "from napari_liverct.compare import compare_arrays; "
        "compare_arrays(np.ones((4,4,4),np.uint8), np.ones((4,4,4),np.uint8), np.eye(4)); "
        "bad=[m for m in ('torch','monai','napari','qtpy','PyQt6') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_volumetric_similarity_equals_simpleitk_and_reaches_every_output():
    """A metric added as one entry of compare.metrics (plus its ClassMetrics field) is computed
    and shows in the CSV, the text report, the widget's table and the dataset aggregate.

    Oracle: SimpleITK's LabelOverlapMeasuresImageFilter, whose VolumeSimilarity is
    2(|S| - |T|)/(|S| + |T|); Taha & Hanbury's VS = 1 - |FN - FP|/(2TP + FP + FN) = 1 - |that|/2."""
    import SimpleITK as sitk

    from napari_liverct._napari.compare_run import CLASS_TABLE
    from napari_liverct.compare.aggregate import summarise
    from napari_liverct.compare.report import comparison_to_csv, format_table

    gt, pred = _blobby_pair(3)
    res = compare_arrays(gt, pred, LPS, names=NAMES, surface=False)
    for c in res.classes:
        f = sitk.LabelOverlapMeasuresImageFilter()
        f.Execute(
            sitk.GetImageFromArray((pred == c.label).astype(np.uint8)),
            sitk.GetImageFromArray((gt == c.label).astype(np.uint8)),
        )
        assert c.vs == pytest.approx(1.0 - abs(f.GetVolumeSimilarity()) / 2.0, rel=1e-12), c.label
        assert 0.0 < c.vs < 1.0
    csv_head, first = comparison_to_csv(res).splitlines()[:2]
    assert "vs" in csv_head.split(",")
    assert float(first.split(",")[csv_head.split(",").index("vs")]) == res.classes[0].vs
    text = format_table(res)
    assert " VS " in text and f"{res.classes[0].vs:.3f}" in text
    assert ("VS", "vs") in CLASS_TABLE
    agg = summarise([{"result": res}, {"result": res}]).to_json()["classes"]["1"]["vs"]
    assert agg["mean"] == pytest.approx(res.classes[0].vs) and agg["n"] == 2
    empty = compare_arrays(np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), LPS, surface=False)
    assert empty.classes == []  # both empty: no class; a class absent from a case is NaN in the aggregate
