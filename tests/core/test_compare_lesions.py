"""Lesion matching: a missed lesion, an invented one, a merge and a split, with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_liverct.compare import compare_arrays, compare_lesions

AFF = np.diag([-0.8, -0.8, 2.0, 1.0])
VML = 0.8 * 0.8 * 2.0 / 1000
NAMES = {0: "background", 1: "liver", 2: "tumour"}


def _scene():
    """Ground truth: liver (1) with lesions; prediction: the same liver, lesions changed.

    * G-big 8x8x4 at (4,4,2): detected with a 1-voxel shift (IoU 7/9 > 0.5);
    * G-missed 3x3x2 at (30,30,10): nothing predicted there;
    * G-left and G-right, two 4x4x2 cubes 2 voxels apart: one predicted slab covers both (merge);
    * G-split 6x6x4 at (30,4,2): predicted as two halves with a 1-voxel gap (split);
    * an invented 3x3x3 predicted lesion at (4,30,12).
    """
    shape = (40, 40, 16)
    gt = np.zeros(shape, np.uint8)
    gt[1:39, 1:39, 1:15] = 1
    pred = gt.copy()
    gt[4:12, 4:12, 2:6] = 2
    pred[5:13, 4:12, 2:6] = 2
    gt[30:33, 30:33, 10:12] = 2
    gt[16:20, 20:24, 8:10] = 2
    gt[22:26, 20:24, 8:10] = 2
    pred[16:26, 20:24, 8:10] = 2
    gt[30:36, 4:10, 2:6] = 2
    pred[30:36, 4:6, 2:6] = 2
    pred[30:36, 7:10, 2:6] = 2
    pred[4:7, 30:33, 12:15] = 2
    return gt, pred


def test_overlap_rule_missed_invented_merge_split():
    gt, pred = _scene()
    res = compare_arrays(gt, pred, AFF, names=NAMES, surface=False)
    les = res.lesions
    assert (les.n_gt, les.n_pred) == (5, 5)
    assert (les.tp, les.fn, les.fp) == (4, 1, 1)  # big, left, right, split found; missed; invented
    assert (les.merges, les.splits) == (1, 1)
    assert les.tp_pred == 4
    assert les.recall == pytest.approx(4 / 5) and les.precision == pytest.approx(4 / 5)
    assert les.f1 == pytest.approx(0.8)
    by_status = {}
    for r in les.lesions:
        by_status.setdefault(r.status, []).append(r)
    (missed,) = by_status["FN"]
    assert missed.gt_ml == pytest.approx(18 * VML) and missed.pred_ml == 0 and missed.dice == 0
    # centroid of voxels 30..32, 30..32, 10..11 in RAS mm
    assert missed.centroid_ras == pytest.approx((-0.8 * 31, -0.8 * 31, 2.0 * 10.5))
    assert missed.diameter_mm == pytest.approx(math.sqrt((2 * 0.8) ** 2 * 2 + 2.0**2))
    (invented,) = by_status["FP"]
    assert invented.pred_ml == pytest.approx(27 * VML) and invented.gt_id is None
    merged = [r for r in les.lesions if r.merged]
    assert len(merged) == 2 and all(r.status == "TP" for r in merged)
    assert merged[0].dice == pytest.approx(2 * 32 / (32 + 80))  # each against the whole merged slab
    (split,) = [r for r in les.lesions if r.split]
    assert len(split.matched) == 2 and split.pred_ml == pytest.approx(120 * VML)
    assert split.dice == pytest.approx(2 * 120 / (144 + 120))
    big = next(r for r in les.lesions if r.gt_id == 1)
    assert big.status == "TP" and big.dice == pytest.approx(2 * 224 / 512)


def test_iou50_rule_and_panoptic_quality():
    gt, pred = _scene()
    les = compare_arrays(gt, pred, AFF, names=NAMES, surface=False, match="iou50").lesions
    # only the big lesion has IoU >= 0.5 (224/288); split half 72/144 = 0.5 counts (>=, as panoptica)
    ious = {"big": 224 / 288, "split": 72 / 144}
    assert les.tp == 2 and les.fn == 3 and les.fp == 3
    assert les.precision == pytest.approx(2 / 5) and les.recall == pytest.approx(2 / 5)
    assert les.f1 == pytest.approx(2 * 2 / (2 * 2 + 3 + 3))
    assert les.rq == pytest.approx(2 / (2 + 1.5 + 1.5))
    assert les.sq == pytest.approx(np.mean(list(ious.values())))
    assert les.pq == pytest.approx(les.sq * les.rq)
    assert (les.merges, les.splits) == (1, 1)  # counted whatever the rule


def test_connectivity_6_vs_26():
    gt = np.zeros((10, 10, 10), bool)
    gt[2:4, 2:4, 2:4] = True
    gt[4:6, 4:6, 4:6] = True  # touches the first only at a corner
    assert compare_lesions(gt, gt, AFF, connectivity=26).n_gt == 1
    assert compare_lesions(gt, gt, AFF, connectivity=6).n_gt == 2


def test_one_side_without_lesions():
    gt, pred = _scene()
    none = np.where(pred == 2, 1, pred).astype(np.uint8)
    les = compare_arrays(gt, none, AFF, names=NAMES, surface=False).lesions
    assert les.n_pred == 0 and les.recall == 0 and math.isnan(les.precision) and les.f1 == 0
    assert les.pq == 0 and les.sq == 0
    les = compare_arrays(none, gt, AFF, names=NAMES, surface=False).lesions
    assert les.n_gt == 0 and les.precision == 0 and math.isnan(les.recall) and les.fp == 5


def test_rows_and_json_are_flat_and_strict():
    import json

    gt, pred = _scene()
    res = compare_arrays(gt, pred, AFF, names=NAMES)
    rows = res.lesion_rows()
    assert {"id", "status", "gt_ml", "pred_ml", "dice", "diameter_mm", "centroid_r"} <= set(rows[0])
    assert all(not isinstance(v, (list, tuple, dict)) for r in rows for v in r.values())
    text = json.dumps(res.to_json(), allow_nan=False)
    assert '"status": "FN"' in text
