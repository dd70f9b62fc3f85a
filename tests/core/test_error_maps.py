"""Compare segmentations: the error and distance layers the widget shows (no viewer needed)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_liverct.compare import compare_arrays, error_maps
from napari_liverct.display.mesh import mask_surface


# ------------------------------------------------------------------ pure: signed surface distance
def _sphere_grid(spacing, half=20.0):
    n = [int(2 * half / s) for s in spacing]
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = -half
    idx = np.indices(n).reshape(3, -1).T
    r = np.linalg.norm(idx * np.asarray(spacing) - half, axis=1).reshape(n)
    return r, aff


@pytest.mark.parametrize("spacing", [(0.5, 0.5, 0.5), (0.5, 0.6, 1.0)])
@pytest.mark.parametrize("r_pred", [14.0, 7.0])
def test_signed_distance_of_concentric_spheres(spacing, r_pred):
    """Prediction sphere of radius r around a true sphere of radius 10 mm: distance r - 10 mm
    (positive outside, negative inside), against the analytic distance of each vertex."""
    r, aff = _sphere_grid(spacing)
    gt, pred = r <= 10.0, r <= r_pred
    verts, _faces = mask_surface(pred, aff)
    d = error_maps.signed_surface_distance(verts, gt, aff)
    analytic = np.linalg.norm(verts, axis=1) - 10.0  # distance of each vertex to the ideal true sphere
    # the true surface is itself a voxel staircase within half a voxel of the ideal sphere
    assert np.abs(d - analytic).max() <= max(spacing) / 2 + 1e-6
    assert np.median(d) == pytest.approx(r_pred - 10.0, abs=max(spacing) / 2)
    assert np.all(np.sign(d) == np.sign(r_pred - 10.0))
    # with the widget's Taubin smoothing of both surfaces: the staircase is gone
    verts, _faces = mask_surface(pred, aff, smooth_iterations=error_maps.SMOOTH_ITERATIONS)
    d = error_maps.signed_surface_distance(verts, gt, aff, error_maps.SMOOTH_ITERATIONS)
    assert np.median(d) == pytest.approx(r_pred - 10.0, abs=0.1)
    assert np.abs(d - (r_pred - 10.0)).max() <= 1.25 * max(spacing)


def test_distance_surface_layer_is_symmetric_and_in_world_mm():
    r, aff = _sphere_grid((1.0, 1.0, 1.0))
    gt = (r <= 10).astype(np.uint8)
    pred = (r <= 13).astype(np.uint8)
    res = compare_arrays(gt, pred, aff, names={1: "liver"})
    gm, pm = error_maps.class_index_maps(gt, pred, res)
    surf = error_maps.distance_surface(gm, pm, res, 1, aff)
    (verts, faces, values), kwargs, kind = surf.layer_data()
    assert kind == "surface" and kwargs["colormap"] == error_maps.DISTANCE_COLORMAP
    lo, hi = kwargs["contrast_limits"]
    assert lo == -hi and hi >= np.abs(values).max() - 1e-6
    # world (S, P, L) = (z, -y, -x) of RAS
    np.testing.assert_allclose(verts[:, 0], surf.vertices_ras[:, 2])
    np.testing.assert_allclose(verts[:, 2], -surf.vertices_ras[:, 0])
    assert error_maps.distance_surface(gm, pm, res, 7, aff) is None
    # an organ's surface with its lesions included: the tumour leaves no cavity
    gt2, pred2 = gt.copy(), pred.copy()
    gt2[r <= 3] = pred2[r <= 3] = 2
    res2 = compare_arrays(gt2, pred2, aff, names={1: "liver", 2: "tumour"})
    gm2, pm2 = error_maps.class_index_maps(gt2, pred2, res2)
    hollow = error_maps.distance_surface(gm2, pm2, res2, 1, aff)
    whole = error_maps.distance_surface(gm2, pm2, res2, 1, aff, include=[2])
    assert len(whole.vertices_ras) < len(hollow.vertices_ras) and whole.name == "liver + tumour"
    assert np.all(np.linalg.norm(whole.vertices_ras, axis=1) > 10)


# ------------------------------------------------------------------ pure: errors maps
def test_voxel_errors_with_a_class_map_match_numpy():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, (12, 10, 8)).astype(np.uint8)  # 1 liver, 2 tumour
    pred = rng.choice([0, 5, 6, 9], (12, 10, 8)).astype(np.uint8)  # 5 liver, 6 tumour, 9 unmapped
    res = compare_arrays(
        gt, pred, np.eye(4), mapping=["5:1", "6:2"], names={1: "liver", 2: "tumour"}, lesion_labels=[], surface=False
    )
    gm, pm = error_maps.class_index_maps(gt, pred, res)
    err, feats = error_maps.voxel_errors(gm, pm, res)
    p = np.select([pred == 5, pred == 6], [1, 2], 0)  # 9 is background
    kind = np.where(err > 0, (err.astype(int) - 1) % 4 + 1, 0)
    cls = np.where(err > 0, (err.astype(int) - 1) // 4 + 1, 0)
    assert np.array_equal(kind == 1, (gt > 0) & (gt == p))
    assert np.array_equal(kind == 2, (gt > 0) & (p == 0))
    assert np.array_equal(kind == 3, (gt == 0) & (p > 0))
    assert np.array_equal(kind == 4, (gt > 0) & (p > 0) & (gt != p))
    assert np.array_equal(cls[gt > 0], gt[gt > 0]) and np.array_equal(cls[(gt == 0) & (p > 0)], p[(gt == 0) & (p > 0)])
    # the per-class counts agree with the metrics: FN = missed + wrong class of the class
    for c, cm in enumerate(res.classes, start=1):
        row = {k: feats["voxels"][feats["index"].index(4 * (c - 1) + k)] for k in (1, 2, 3, 4)}
        assert row[1] == cm.tp and row[2] + row[4] == cm.fn
        assert feats["name"][feats["index"].index(4 * (c - 1) + 2)] == f"{cm.name}: missed (FN)"


def _lesion_pair():
    gt = np.zeros((40, 40, 20), np.uint8)
    gt[2:38, 2:38, 2:18] = 1
    gt[5:12, 5:12, 5:12] = 2  # G1 (largest): detected
    gt[25:29, 25:29, 5:9] = 2  # G2: missed
    pred = gt.copy()
    pred[25:29, 25:29, 5:9] = 1
    pred[5:11, 5:12, 5:12] = 2
    pred[30:33, 8:11, 10:13] = 2  # invented
    return gt, pred


def test_lesion_errors_paint_status_per_lesion():
    gt, pred = _lesion_pair()
    res = compare_arrays(gt, pred, np.eye(4), names={1: "liver", 2: "tumour"})
    gm, pm = error_maps.class_index_maps(gt, pred, res)
    err, feats, colors = error_maps.lesion_errors(gm, pm, res)
    status = {row.id: row.status for row in res.lesions.lesions}
    assert status == {"G1": "TP", "G2": "FN", "P2": "FP"}
    value = {row.id: r + 1 for r, row in enumerate(res.lesions.lesions)}
    assert np.array_equal(err == value["G2"], gt_box(gt.shape, (25, 29), (25, 29), (5, 9)))
    assert np.array_equal(err == value["P2"], gt_box(gt.shape, (30, 33), (8, 11), (10, 13)))
    assert np.array_equal(err == value["G1"], (gt == 2) & ~(err == value["G2"]))
    assert (
        colors[value["G2"]] == error_maps.STATUS_COLORS["FN"] and colors[value["P2"]] == error_maps.STATUS_COLORS["FP"]
    )
    assert feats["name"][feats["index"].index(value["G2"])] == "G2: missed"
    assert feats["status"][feats["index"].index(value["P2"])] == "FP"


def test_lesion_errors_iou50_keep_a_missed_lesion_under_a_false_one():
    """IoU >= 0.5 rule: a prediction overlapping a true lesion too little is false, the lesion missed;
    the missed lesion's voxels show 'missed', the rest of the false lesion 'false'."""
    gt = np.zeros((30, 30, 10), np.uint8)
    gt[5:10, 5:10, 2:7] = 2
    pred = np.zeros_like(gt)
    pred[8:20, 5:10, 2:7] = 2  # IoU 10/60: not a match
    res = compare_arrays(gt, pred, np.eye(4), names={2: "tumour"}, match="iou50")
    gm, pm = error_maps.class_index_maps(gt, pred, res)
    err, feats, colors = error_maps.lesion_errors(gm, pm, res)
    status = {row.id: (r + 1, row.status) for r, row in enumerate(res.lesions.lesions)}
    assert status["G1"][1] == "FN" and status["P1"][1] == "FP"
    assert np.array_equal(err == status["G1"][0], gt == 2)
    assert np.array_equal(err == status["P1"][0], (pred == 2) & (gt != 2))


def gt_box(shape, a, b, c):
    m = np.zeros(shape, bool)
    m[a[0] : a[1], b[0] : b[1], c[0] : c[1]] = True
    return m
