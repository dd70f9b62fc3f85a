"""Issue 16's "done when": a lab's messy folder through survey, evaluate and report --predictions.

Cases are slabs of TotalSegmentator's real abdominal CT and its segmentation (liver = 5 there,
1 here), linked into an MSD layout from a shared store under other names, with mixed label
sets (the first case has no tumour, one has a stray class 3), an odd file name, a missing
prediction and a truncated label file.  Every healthy case must be measured (volumes and Dice
equal to a plain numpy count), every bad case listed with its reason, and the exit code 3.
"""

from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np
import pytest

import clirun
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

ODD = "liver 2 (rescan, ÄÖ)"


def run_cli(*args):
    proc = clirun.run_cli(*args, timeout=300, text=True)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr[-3000:]
    return proc


def _slab(img, z0, z1):
    aff = img.affine.copy()
    aff[:3, 3] = img.affine[:3, :3] @ np.array([0, 0, z0]) + img.affine[:3, 3]
    return aff, (slice(None), slice(None), slice(z0, z1))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    ct_img, seg_img = nib.load(real(EXAMPLE_CT)), nib.load(real(EXAMPLE_SEG_FAST))
    ct, seg = np.asarray(ct_img.dataobj), np.asarray(seg_img.dataobj)
    base = tmp_path_factory.mktemp("lab")
    store, root, preds = base / "store", base / "Task03_Liver", base / "preds"
    for d in (store, root / "imagesTr", root / "labelsTr", preds):
        d.mkdir(parents=True)
    liver_z = np.nonzero((seg == 5).any(axis=(0, 1)))[0]
    z_mid = int(liver_z.mean())
    cases = {}
    for i, cid in enumerate(["liver_0", "liver_1", ODD, "liver_3", "liver_4"]):
        z0 = int(np.clip(z_mid - 20 + 4 * i, 0, ct.shape[2] - 24))
        aff, sl = _slab(ct_img, z0, z0 + 24)
        gt = (seg[sl] == 5).astype(np.uint8)
        if i in (1, 2):  # a "tumour" inside the liver
            zz, yy, xx = np.nonzero(gt)
            c = np.array([zz.mean(), yy.mean(), xx.mean()]).round().astype(int)
            g = np.indices(gt.shape)
            ball = ((g - c[:, None, None, None]) ** 2).sum(0) <= 16
            gt[ball & (gt == 1)] = 2
        if i == 2:
            gt[0, 0, 0] = 3  # a stray voxel of a class dataset.json does not declare
        pred = np.roll(gt, 1, axis=0)
        pred[pred == 3] = 0
        nib.save(nib.Nifti1Image(ct[sl].astype(np.int16), aff), str(store / f"ct_{i:04d}.nii.gz"))
        nib.save(nib.Nifti1Image(gt, aff), str(store / f"seg_{i:04d}.nii.gz"))
        (root / "imagesTr" / f"{cid}.nii.gz").symlink_to(store / f"ct_{i:04d}.nii.gz")
        (root / "labelsTr" / f"{cid}.nii.gz").symlink_to(store / f"seg_{i:04d}.nii.gz")
        if cid != "liver_3":  # the missing prediction
            nib.save(nib.Nifti1Image(pred, aff), str(preds / f"{cid}.nii.gz"))
        cases[cid] = (gt, pred, abs(np.linalg.det(aff[:3, :3])) / 1000.0)
    data = (store / "seg_0004.nii.gz").read_bytes()
    (store / "seg_0004.nii.gz").write_bytes(data[: len(data) // 2])  # an interrupted copy
    spec = {
        "name": "Task03_Liver",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "liver", "2": "tumour"},
        "numTraining": len(cases),
        "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in cases],
        "test": [],
    }
    (root / "dataset.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return root, preds, cases, base


HEALTHY = ["liver_0", "liver_1", ODD]


def _dice(gt, pred, v):
    g, p = gt == v, pred == v
    return 2 * int((g & p).sum()) / (int(g.sum()) + int(p.sum()))


def _failed_listed(err: str, command: str) -> dict[str, str]:
    return dict(re.findall(rf"napari-liverct {command}: failed case (.*?): (.*)", err))


def test_survey(lab):
    root, _, cases, base = lab
    proc = run_cli("survey", root, "--out", base / "survey.json", "--workers", "2")
    assert proc.returncode == 3
    assert set(_failed_listed(proc.stderr, "survey")) == {"liver_4"}
    assert "labelsTr/liver_4.nii.gz" in _failed_listed(proc.stderr, "survey")["liver_4"]  # the file, named
    sv = json.loads((base / "survey.json").read_text())
    rows = {r["id"]: r for r in sv["cases"]}
    for cid in HEALTHY + ["liver_3"]:
        gt, _, vml = cases[cid]
        for v in (1, 2):
            assert rows[cid]["volume_ml"].get(str(v), 0.0) == pytest.approx(int((gt == v).sum()) * vml, abs=1e-5)
        assert rows[cid]["label_names_source"] == f"dataset.json ({root / 'dataset.json'})"  # beside the links
    assert [f["case"] for f in sv["failed"]] == ["liver_4"]
    assert {(a["case"], a["kind"]) for a in sv["anomalies"]} >= {(ODD, "unknown_label_values")}


def test_evaluate(lab):
    root, preds, cases, base = lab
    proc = run_cli("evaluate", root, preds, "--workers", "2")
    assert proc.returncode == 3
    listed = _failed_listed(proc.stderr, "evaluate")
    assert set(listed) == {"liver_3", "liver_4"}
    assert "no prediction" in listed["liver_3"] and "unreadable" in listed["liver_4"]
    ev = json.loads(proc.stdout)
    by_id = {c["id"]: c for c in ev["cases"]}
    for cid in HEALTHY:
        gt, pred, _ = cases[cid]
        dice = {c["label"]: c["dice"] for c in by_id[cid]["classes"]}
        assert dice[1] == pytest.approx(_dice(gt, pred, 1))
        if cid != "liver_0":
            assert dice[2] == pytest.approx(_dice(gt, pred, 2))
    assert {e["id"] for e in ev["errors"]} == {"liver_3", "liver_4"}
    assert ev["summary"]["classes"]["2"]["n_cases"] == 3 and ev["summary"]["classes"]["2"]["n_present"] == 2
    assert any(a["case"] == ODD and a["kind"] == "unexpected_labels" for a in ev["anomalies"])


def test_report(lab):
    root, preds, cases, base = lab
    out = base / "site"
    proc = run_cli("report", root, "--predictions", preds, "--out", out, "--workers", "2")
    assert proc.returncode == 3
    listed = _failed_listed(proc.stderr, "report")
    assert set(listed) == {"liver_3", "liver_4"}
    page = (out / "index.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    page_cases = {c["id"]: c for c in data["cases"]}
    assert set(page_cases) == set(cases)
    assert page_cases["liver_4"]["label_error"] and data["evaluation"]["errors"]
    assert {e["id"] for e in data["evaluation"]["errors"]} == {"liver_3", "liver_4"}
    assert {f["case"] for f in data["failed"]} == {"liver_3", "liver_4"}  # red rows, the "cases failed" card
    ev = json.loads((out / "evaluation.json").read_text())
    by_id = {c["id"]: c for c in ev["cases"]}
    for cid in HEALTHY:
        gt, pred, _ = cases[cid]
        assert {c["label"]: c["dice"] for c in by_id[cid]["classes"]}[1] == pytest.approx(_dice(gt, pred, 1))
        assert any(p["kind"] == "compare" for p in page_cases[cid]["section"]["pictures"])
