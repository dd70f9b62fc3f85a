"""``napari-liverct compare`` and ``evaluate``: files, pairing, errors per case, Dask, aggregation."""

from __future__ import annotations

import json
import math

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.cli import main

AFF = np.diag([-0.8, -0.8, 2.5, 1.0])


def _pair(seed):
    rng = np.random.default_rng(seed)
    shape = (32, 32, 12)
    gt = np.zeros(shape, np.uint8)
    gt[6:26, 6:26, 2:10] = 1
    pred = gt.copy()
    x0 = int(rng.integers(8, 14))
    gt[x0 : x0 + 4, 10:14, 4:7] = 2
    pred[x0 + 1 : x0 + 5, 10:14, 4:7] = 2
    if seed % 2:
        pred[20:23, 20:23, 4:6] = 2  # an invented lesion
    pred[6 + seed % 3 : 26, 6:26, 2:10][pred[6 + seed % 3 : 26, 6:26, 2:10] == 0] = 1
    return gt, pred


@pytest.fixture
def dataset(tmp_path):
    """nnU-Net-like dataset with 4 cases; predictions: 2 good, 1 missing, 1 corrupt, 1 off-grid."""
    root = tmp_path / "Dataset001_Liver"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    preds = tmp_path / "preds"
    preds.mkdir()
    (root / "dataset.json").write_text(
        json.dumps(
            {
                "channel_names": {"0": "CT"},
                "labels": {"background": 0, "liver": 1, "tumour": 2},
                "numTraining": 5,
                "file_ending": ".nii.gz",
            }
        )
    )
    truth = {}
    for i in range(5):
        gt, pred = _pair(i)
        cid = f"liver_{i:03d}"
        nib.save(nib.Nifti1Image(np.zeros(gt.shape, np.int16), AFF), root / "imagesTr" / f"{cid}_0000.nii.gz")
        nib.save(nib.Nifti1Image(gt, AFF), root / "labelsTr" / f"{cid}.nii.gz")
        truth[cid] = (gt, pred)
        if i == 2:
            continue  # missing prediction
        if i == 3:
            (preds / f"{cid}.nii.gz").write_bytes(b"\x1f\x8b this is not a NIfTI")
            continue
        aff = AFF.copy()
        if i == 4:
            aff[0, 3] = 5.0  # off grid
        nib.save(nib.Nifti1Image(pred, aff), preds / f"{cid}.nii.gz")
    return root, preds, truth


def test_compare_cli_table_json_csv(tmp_path, capsys):
    gt, pred = _pair(1)
    g, p = tmp_path / "gt_seg.nii.gz", tmp_path / "pred_seg.nii.gz"
    nib.save(nib.Nifti1Image(gt, AFF), g)
    nib.save(nib.Nifti1Image(pred, AFF), p)
    assert main(["compare", str(g), str(p), "--lesion-labels", "2"]) == 0
    out = capsys.readouterr().out
    assert "Dice" in out and "HD95 mm" in out and "invented 1" in out
    assert (
        main(
            [
                "compare",
                str(g),
                str(p),
                "--format",
                "json",
                "--lesion-labels",
                "2",
                "--match",
                "iou50",
                "--tolerance",
                "1.5",
                "--connectivity",
                "6",
            ]
        )
        == 0
    )
    js = json.loads(capsys.readouterr().out)
    assert js["tolerance_mm"] == 1.5 and js["lesions"]["match"] == "iou50" and js["lesions"]["connectivity"] == 6
    assert js["nnunet"]["metrics"]["1"]["TP"] == int(np.sum((gt == 1) & (pred == 1)))
    assert main(["compare", str(g), str(p), "--format", "csv", "--map", "1:1"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("label,name,pred_values,dice")
    assert len(text.strip().splitlines()) == 2  # mapped class only, no lesion class


def test_compare_cli_grid_mismatch_is_exit_2_without_traceback(tmp_path, capsys):
    gt, pred = _pair(0)
    g, p = tmp_path / "a_gt.nii.gz", tmp_path / "b_pred.nii.gz"
    nib.save(nib.Nifti1Image(gt, AFF), g)
    aff = AFF.copy()
    aff[2, 3] = 5.0
    nib.save(nib.Nifti1Image(pred, aff), p)
    assert main(["compare", str(g), str(p)]) == 2
    err = capsys.readouterr().err
    assert str(g) in err and str(p) in err and "--resample" in err and "Traceback" not in err
    assert main(["compare", str(g), str(p), "--resample", "--format", "json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["resampled"] is True and "nearest neighbour" in cap.err


def test_evaluate_synchronous_reports_each_failure_and_aggregates(dataset):
    from napari_liverct.compare import compare_arrays
    from napari_liverct.compare.evaluate import evaluate

    root, preds, truth = dataset
    rep = evaluate(root, preds, scheduler="synchronous", progress=False)
    kinds = {e["id"]: e["kind"] for e in rep["errors"]}
    assert kinds == {"liver_002": "missing", "liver_003": "unreadable", "liver_004": "grid_mismatch"}
    s = rep["summary"]
    assert (s["n_cases"], s["n_evaluated"], s["n_failed"]) == (5, 2, 3)
    refs = [compare_arrays(*truth[c], AFF, names={1: "liver", 2: "tumour"}) for c in ("liver_000", "liver_001")]
    liver = s["classes"]["1"]
    assert liver["name"] == "liver"
    assert liver["dice"]["mean"] == pytest.approx(np.mean([r.classes[0].dice for r in refs]))
    assert liver["hd95"]["median"] == pytest.approx(np.median([r.classes[0].hd95 for r in refs]))
    tp = sum(r.classes[0].tp for r in refs)
    fp = sum(r.classes[0].fp for r in refs)
    fn = sum(r.classes[0].fn for r in refs)
    assert liver["global_dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    les = s["lesions"]
    assert les["n_gt"] == 2 and les["n_pred"] == 3 and les["fp"] == 1
    assert les["f1"] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    # nnU-Net summary.json keys
    assert len(rep["metric_per_case"]) == 2 and set(rep["mean"]) == {"1", "2"}
    assert rep["mean"]["1"]["Dice"] == pytest.approx(liver["dice"]["mean"])
    assert rep["foreground_mean"]["Dice"] == pytest.approx(np.mean([rep["mean"][k]["Dice"] for k in ("1", "2")]))


def test_evaluate_cli_on_a_local_cluster(dataset, tmp_path, capsys):
    root, preds, _ = dataset
    out = tmp_path / "report" / "summary.json"
    assert (
        main(
            [
                "evaluate",
                str(root / "labelsTr"),
                str(preds),
                "--workers",
                "2",
                "--out",
                str(out),
                "--lesion-labels",
                "2",
            ]
        )
        == 3  # some cases failed, the others were written
    )
    err = capsys.readouterr().err
    assert "evaluated 2 of 5 cases (3 failed)" in err and "grid_mismatch" in err
    rep = json.loads(out.read_text())
    assert [c["id"] for c in rep["cases"]] == [f"liver_{i:03d}" for i in range(5)]
    assert rep["cases"][0]["classes"][0]["dice"] > 0.8
    assert rep["summary"]["lesions"]["n_gt"] == 2
    assert math.isfinite(rep["foreground_mean"]["Dice"])
    csv_out = tmp_path / "report.csv"
    assert main(["evaluate", str(root), str(preds), "--scheduler", "synchronous", "--out", str(csv_out)]) == 3
    lines = csv_out.read_text().splitlines()
    assert lines[0].startswith("id,label,name") and sum("grid_mismatch" in ln for ln in lines) == 1
