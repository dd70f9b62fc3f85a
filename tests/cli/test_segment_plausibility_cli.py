"""``napari-liverct segment`` and the plausibility check (issue 22): where the findings go.

Stand-in networks (fast): the liver network answers "liver" on soft tissue (40-160 HU) or
on air, so the same code path sees a plausible draft and one that is no liver.  Where the
findings must appear: standard error, the sidecar, ``segment_summary.json``, the exit code
(2 for a single file, 3 for a dataset case), and the QC report's anomalies.
Oracles: numpy on the written labels (which face of the scan they touch, by nibabel's axis
codes); the files as written.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.cli import main
from napari_liverct.segment import pipeline as pl


def _liver_on(where: str):
    def run(model, patch, monitor=None):
        size = pl.LIVER_OUT if model == "liver" else pl.LESION_OUT
        inp = pl.LIVER_IN if model == "liver" else pl.LESION_IN
        c = patch[tuple(slice((i - o) // 2, (i - o) // 2 + o) for i, o in zip(inp, size))]
        if model != "liver":
            return np.zeros(size, np.float32)
        hit = (c > 0.1) & (c < 0.4) if where == "tissue" else (c < -0.45)
        return hit.astype(np.float32) * 0.9

    return run


@pytest.fixture
def tissue_net(monkeypatch):
    monkeypatch.setattr(pl, "run_network", _liver_on("tissue"))


@pytest.fixture
def air_net(monkeypatch):
    monkeypatch.setattr(pl, "run_network", _liver_on("air"))


def _cut_phantom(tmp_path: Path, small_phantom, name="cut.nii.gz") -> Path:
    """The phantom without its lowest 10 slices: its liver now reaches the bottom face."""
    ph = small_phantom
    shift = np.eye(4)
    shift[2, 3] = 10
    path = tmp_path / name
    nib.save(nib.Nifti1Image(np.ascontiguousarray(ph.image[:, :, 10:]), ph.affine @ shift), path)
    return path


def test_a_draft_cut_by_the_scan_warns_on_stderr_and_in_the_sidecar(tmp_path, small_phantom, tissue_net, capsys):
    ct = _cut_phantom(tmp_path, small_phantom)
    out = tmp_path / "draft.nii.gz"
    rc = main(["segment", str(ct), "--out", str(out), "--no-lesions"])
    err = capsys.readouterr().err
    assert rc == 0, err
    img = nib.load(out)
    lab = np.asanyarray(img.dataobj)
    assert nib.aff2axcodes(img.affine)[2] == "S"
    assert (lab[:, :, 0] > 0).any() and not (lab[:, :, -1] > 0).any()  # the bottom face, not the top
    side = json.loads((tmp_path / "draft.json").read_text())["plausibility"]
    sides = [w["numbers"]["side"] for w in side["warnings"] if w["code"] == "cut_by_field_of_view"]
    assert sides == ["inferior"]
    assert "warning" in err and "inferior edge of the scan" in err and str(out) in err


def test_single_file_with_no_liver_exits_2_and_writes_nothing(tmp_path, small_phantom, air_net, capsys):
    ct = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(small_phantom.image, small_phantom.affine), ct)
    out = tmp_path / "draft.nii.gz"
    rc = main(["segment", str(ct), "--out", str(out), "--no-lesions"])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(ct) in err and "no liver draft" in err and "not liver tissue" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "draft.json").exists()


def test_tiny_volume_is_refused_at_once(tmp_path, capsys, monkeypatch):
    def never(model, patch, monitor=None):
        raise AssertionError("the network must not run on a 5 x 5 x 5 volume")

    monkeypatch.setattr(pl, "run_network", never)
    ct = tmp_path / "tiny.nii.gz"
    nib.save(nib.Nifti1Image(np.full((5, 5, 5), -1000, np.int16), np.eye(4)), ct)
    rc = main(["segment", str(ct), "--out", str(tmp_path / "o.nii.gz"), "--no-lesions"])
    err = capsys.readouterr().err
    assert rc == 2 and "too small to hold a liver" in err and str(ct) in err
    assert not (tmp_path / "o.nii.gz").exists()


def test_dataset_case_with_no_liver_fails_the_case_others_written(tmp_path, small_phantom, monkeypatch, capsys):
    """Case ``good`` gets a tissue liver (cut: a warning), case ``air`` only air: exit 3."""
    root = tmp_path / "ds"
    (root / "imagesTr").mkdir(parents=True)
    _cut_phantom(root / "imagesTr", small_phantom, "good.nii.gz")
    air = np.full_like(small_phantom.image, -1000)  # a scan of air: no tissue to call liver
    air[70:90, 70:90, 10:30] = 40
    nib.save(nib.Nifti1Image(air, small_phantom.affine), root / "imagesTr" / "air.nii.gz")
    tissue, airnet = _liver_on("tissue"), _liver_on("air")
    seen = {}

    def run(model, patch, monitor=None):
        # which case is running: the air case holds only a small block of tissue
        key = "air" if ((patch > 0.1) & (patch < 0.4)).sum() < 5000 else "good"
        seen[key] = True
        return (airnet if key == "air" else tissue)(model, patch)

    monkeypatch.setattr(pl, "run_network", run)
    out = tmp_path / "drafts"
    rc = main(["segment", str(root), "--out", str(out), "--no-lesions", "--scheduler", "synchronous"])
    err = capsys.readouterr().err
    assert seen == {"air": True, "good": True}
    assert rc == 3, err
    assert (out / "good.nii.gz").is_file() and not (out / "air.nii.gz").exists()
    summary = json.loads((out / "segment_summary.json").read_text())
    rows = {r["id"]: r for r in summary["cases"]}
    assert "ImplausibleDraftError" in rows["air"]["error"] and "no liver draft" in rows["air"]["error"]
    assert "liver_not_tissue" in [f["code"] for f in rows["air"]["findings"]]
    assert [w["numbers"]["side"] for w in rows["good"]["warnings"] if w["code"] == "cut_by_field_of_view"] == [
        "inferior"
    ]
    assert summary["n_failed"] == 1 and summary["n_warned"] == 1
    assert "failed case air" in err and "inferior edge" in err

    # the QC report flags the draft's warning on its case (read from the sidecar)
    from napari_liverct.report.build import build_report

    (root / "labelsTr").mkdir()
    lab = np.asanyarray(nib.load(out / "good.nii.gz").dataobj)
    nib.save(nib.Nifti1Image(lab, nib.load(out / "good.nii.gz").affine), root / "labelsTr" / "good.nii.gz")
    spec = {"name": "d", "labels": {"0": "background", "1": "liver"}, "training": []}
    spec["training"].append({"image": "./imagesTr/good.nii.gz", "label": "./labelsTr/good.nii.gz"})
    (root / "dataset.json").write_text(json.dumps(spec))
    res = build_report(root, tmp_path / "qc", predictions=out, scheduler="synchronous", progress=False)
    (case,) = res["page"]["cases"]
    assert "draft_cut_by_field_of_view" in case["anomalies"]
    assert any("prediction (offline draft)" in m and "inferior edge" in m for m in case["messages"])
