"""Issue 16 defects of the folder commands, each on the input that showed it.

* a class that the first case lacks (and stray 3 / 65535 / -1 values) crashed the nnU-Net
  mean with KeyError; now the union of classes, every class in every case (nnU-Net), and
  odd values are anomalies; no numpy "Mean of empty slice" warning;
* a file name that is not UTF-8 broke the Dask keys (every case failed) and the CSV/HTML
  writers; now it is measured and written as ``\\xNN``;
* a missing ground truth was reported as "no prediction";
* dataset.json that disagrees with its folder: duplicate ids, numTraining, unlisted files.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import warnings

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.cli import main
from napari_liverct.compare.evaluate import evaluate
from napari_liverct.outputs.pathtext import path_text, text_path

AFF = np.diag([-1.2, -1.2, 2.5, 1.0])
SHAPE = (24, 22, 10)


def _maps(seed: int, extra: dict[int, tuple] | None = None, classes=(1, 2)):
    """A liver box (1), a tumour (2) when asked, extra values at given voxels; prediction shifted."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(SHAPE, np.int32)
    gt[3:20, 4:18, 2:8] = 1
    if 2 in classes:
        x = int(rng.integers(6, 14))
        gt[x : x + 3, 8:11, 3:6] = 2
    pred = np.roll(gt, 1, axis=int(rng.integers(0, 3)))
    for v, (side, idx) in (extra or {}).items():
        (gt if side == "gt" else pred)[idx] = v
    return gt, pred


def _write_folder(tmp_path, cases: dict[str, tuple[np.ndarray, np.ndarray]], names=None):
    """nnU-Net-style dataset (labelsTr + dataset.json when ``names``) and a prediction folder."""
    root, preds = tmp_path / "Dataset003_Liver", tmp_path / "preds"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    preds.mkdir()
    for cid, (gt, pred) in cases.items():
        nib.save(nib.Nifti1Image(np.zeros(SHAPE, np.int16), AFF), str(root / "imagesTr" / f"{cid}_0000.nii.gz"))
        nib.save(nib.Nifti1Image(gt, AFF), str(root / "labelsTr" / f"{cid}.nii.gz"))
        if pred is not None:
            nib.save(nib.Nifti1Image(pred, AFF), str(preds / f"{cid}.nii.gz"))
    if names is not None:
        spec = {"channel_names": {"0": "CT"}, "labels": names, "numTraining": len(cases), "file_ending": ".nii.gz"}
        (root / "dataset.json").write_text(json.dumps(spec))
    return root, preds


def _nnunet_means(cases, labels):
    """nnU-Net's compute_metrics + nanmean, written out in numpy: every label in every case."""
    per = {lab: {k: [] for k in ("Dice", "IoU", "TP", "FP", "FN", "TN", "n_pred", "n_ref")} for lab in labels}
    for gt, pred in cases:
        for lab in labels:
            g, p = gt == lab, pred == lab
            tp, fp, fn = int((g & p).sum()), int((~g & p).sum()), int((g & ~p).sum())
            tn = int((~g & ~p).sum())
            d = per[lab]
            d["Dice"].append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan)
            d["IoU"].append(tp / (tp + fp + fn) if tp + fp + fn else np.nan)
            for k, v in (("TP", tp), ("FP", fp), ("FN", fn), ("TN", tn), ("n_pred", tp + fp), ("n_ref", tp + fn)):
                d[k].append(v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {lab: {k: float(np.nanmean(v)) for k, v in d.items()} for lab, d in per.items()}


def _same(a, b):
    return (a is None and math.isnan(b)) or (a is not None and not math.isnan(b) and a == pytest.approx(b))


def test_a_class_the_first_case_lacks_and_stray_values(tmp_path, capsys):
    cases = {
        "liver_000": _maps(0, classes=(1,)),  # the first case has no tumour
        "liver_001": _maps(1),
        "liver_002": _maps(2, {3: ("gt", (0, 0, 0))}),  # a stray voxel of 3
        "liver_003": _maps(3, {65535: ("pred", (23, 21, 9))}),
        "liver_004": _maps(4, {7: ("pred", (5, 5, 5))}, classes=(1,)),
    }
    root, preds = _write_folder(tmp_path, cases, names={"background": 0, "liver": 1, "tumour": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Mean of empty slice" RuntimeWarning (or any other)
        code = main(
            ["evaluate", str(root), str(preds), "--scheduler", "synchronous", "--out", str(tmp_path / "e.json")]
        )
    assert code == 0  # every case measured: odd values are anomalies, not failures
    rep = json.loads((tmp_path / "e.json").read_text())
    labels = [1, 2, 3, 7, 65535]
    assert sorted(int(k) for k in rep["mean"]) == labels and rep["summary"]["n_evaluated"] == 5
    expect = _nnunet_means(list(cases.values()), labels)
    for lab in labels:
        for k, v in expect[lab].items():
            assert _same(rep["mean"][str(lab)][k], v), (lab, k)
        assert rep["summary"]["classes"][str(lab)]["n_cases"] == 5
    assert rep["summary"]["classes"]["2"]["n_present"] == 3  # cases 1, 2, 3 have a tumour
    for case in rep["metric_per_case"]:
        assert sorted(int(k) for k in case["metrics"]) == labels
    odd = {(a["case"], a["kind"]) for a in rep["anomalies"]}
    assert odd == {(c, "unexpected_labels") for c in ("liver_002", "liver_003", "liver_004")}
    msg = " ".join(a["message"] for a in rep["anomalies"])
    assert "[3]" in msg and "[65535]" in msg and "[7]" in msg
    err = capsys.readouterr().err
    assert "unexpected_labels: liver_003" in err and "RuntimeWarning" not in err


def test_a_negative_label_value_never_kills_the_run(tmp_path):
    gt, pred = _maps(5)
    pred[2, 2, 2] = -1
    root, preds = _write_folder(tmp_path, {"liver_000": _maps(0, classes=(1,)), "liver_001": (gt, pred)})
    rep = evaluate(root, preds, scheduler="synchronous", progress=False)
    by_id = {c["id"]: c for c in rep["cases"]}
    assert by_id["liver_000"]["error"] is None  # the other case is measured
    measured = by_id["liver_001"]["error"] is None
    if measured:  # measured as a class of its own and flagged
        assert [a.kind for a in rep["anomalies"]] == ["unexpected_labels"]
        assert "negative" in rep["anomalies"][0].message
    else:  # or refused, with the reason
        assert "negative" in by_id["liver_001"]["error"]


def test_names_that_are_not_utf8(tmp_path, capsys):
    raw = b"liver_\xff\xfe 1"
    name = os.fsdecode(raw)
    cases = {name: _maps(1), "liver_0": _maps(0)}
    root, preds = _write_folder(tmp_path, cases, names={"0": "background", "1": "liver", "2": "tumour"})
    shown = path_text(name)
    assert shown == "liver_\\xff\\xfe 1" and os.fsencode(text_path(shown)) == raw

    # to stdout through real Dask worker processes (file names used to break msgpack keys)
    assert main(["evaluate", str(root), str(preds), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    rep = json.loads(out)
    assert {c["id"] for c in rep["cases"]} == {shown, "liver_0"} and rep["summary"]["n_failed"] == 0
    gt, pred = cases[name]
    dice = {c["label"]: c["dice"] for c in next(c for c in rep["cases"] if c["id"] == shown)["classes"]}
    assert dice[1] == pytest.approx(2 * ((gt == 1) & (pred == 1)).sum() / ((gt == 1).sum() + (pred == 1).sum()))
    assert os.fsencode(text_path(next(c["gt"] for c in rep["cases"] if c["id"] == shown))) == os.fsencode(
        str(root / "labelsTr" / f"{name}.nii.gz")
    )

    j, c = tmp_path / "x.json", tmp_path / "x.csv"
    assert main(["evaluate", str(root), str(preds), "--scheduler", "synchronous", "--out", str(j)]) == 0
    assert shown in {case["id"] for case in json.loads(j.read_text(encoding="utf-8"))["cases"]}
    assert main(["evaluate", str(root), str(preds), "--scheduler", "synchronous", "--out", str(c)]) == 0
    rows = list(csv.DictReader(io.StringIO(c.read_text(encoding="utf-8"))))
    assert {r["id"] for r in rows} == {shown, "liver_0"}

    # the single-pair command writes the name the same way in every format
    g, p = root / "labelsTr" / f"{name}.nii.gz", preds / f"{name}.nii.gz"
    capsys.readouterr()
    assert main(["compare", str(g), str(p), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["gt_file"] == path_text(str(g))
    assert main(["compare", str(g), str(p)]) == 0
    assert f"ground truth: {path_text(str(g))}" in capsys.readouterr().out

    site = tmp_path / "site"
    code = main(["report", str(root), "--predictions", str(preds), "--out", str(site), "--scheduler", "synchronous"])
    assert code == 0
    page = (site / "index.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    assert {c["id"] for c in data["cases"]} == {shown, "liver_0"}
    assert shown in {c["id"] for c in json.loads((site / "evaluation.json").read_text())["cases"]}
    survey = json.loads((site / "survey.json").read_text())
    assert survey["failed"] == [] and shown in {c["id"] for c in survey["cases"]}


def test_missing_ground_truth_is_named(tmp_path, capsys):
    root, preds = _write_folder(tmp_path, {"liver_0": _maps(0), "liver_1": _maps(1)})
    training = [{"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"} for i in range(2)]
    (root / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "liver"}, "training": training}))
    (root / "labelsTr" / "liver_1.nii.gz").unlink()
    assert main(["evaluate", str(root), str(preds), "--scheduler", "synchronous"]) == 3
    cap = capsys.readouterr()
    rep = json.loads(cap.out)
    (err,) = rep["errors"]
    assert err["kind"] == "missing_gt" and "ground truth" in err["error"] and "no prediction" not in err["error"]
    assert str(root / "labelsTr" / "liver_1.nii.gz") in err["error"]
    assert "failed case liver_1: missing_gt" in cap.err and "1 of 2 cases failed" in cap.err


def test_dataset_json_that_lies(tmp_path, capsys):
    root, preds = _write_folder(tmp_path, {f"liver_{i}": _maps(i) for i in range(3)})
    training = [{"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"} for i in (0, 1, 0)]
    training.append({"image": 5, "label": None})  # an entry without an image path
    spec = {"labels": {"0": "background", "1": "liver", "2": "tumour"}, "numTraining": 131, "training": training}
    (root / "dataset.json").write_text(json.dumps(spec))  # liver_2 is in imagesTr/ but not listed
    assert main(["survey", str(root), "--scheduler", "synchronous", "--out", str(tmp_path / "s.json")]) == 0
    sv = json.loads((tmp_path / "s.json").read_text())
    kinds = {a["kind"]: a for a in sv["anomalies"]}
    assert kinds["duplicate_case"]["case"] == "liver_0" and "2 times" in kinds["duplicate_case"]["message"]
    assert "numTraining 131" in kinds["count_mismatch"]["message"] and "4 entries" in kinds["count_mismatch"]["message"]
    assert "1 entries of its 'training' list name no image path" in kinds["unusable_entry"]["message"]
    assert "liver_2_0000.nii.gz" in kinds["unlisted_file"]["message"]
    assert [c["id"] for c in sv["cases"]] == ["liver_0", "liver_1"]  # the duplicate surveyed once
    assert "duplicate_case" in sv["cases"][0]["anomalies"]
    assert main(["evaluate", str(root), str(preds), "--scheduler", "synchronous"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in ev["cases"]] == ["liver_0", "liver_1"]  # evaluated once
    assert "duplicate_case" in {a["kind"] for a in ev["anomalies"]}


def test_survey_flags_negative_labels_without_dataset_json(tmp_path):
    gt, _ = _maps(6)
    gt[0, 0, 0] = -1
    root, _ = _write_folder(tmp_path, {"liver_0": _maps(0), "liver_1": (gt, None)})
    assert main(["survey", str(root), "--scheduler", "synchronous", "--out", str(tmp_path / "s.json")]) == 0
    sv = json.loads((tmp_path / "s.json").read_text())
    (odd,) = [a for a in sv["anomalies"] if a["kind"] == "unknown_label_values"]
    assert odd["case"] == "liver_1" and "[-1]" in odd["message"]
    assert {r["id"]: r["label_voxels"].get("-1") for r in sv["cases"]} == {"liver_0": None, "liver_1": 1}
