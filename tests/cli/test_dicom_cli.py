"""The command line on DICOM: ``dicom-series`` lists, ``--series-uid`` picks, ``segment --out
seg.dcm`` and ``export-seg`` write DICOM-SEGs that read back (highdicom, dcmqi) onto the
NIfTI draft's voxels in world space; broken series give exit 2 and one line, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import standin
from clirun import run_cli
from dicomseries import write_series
from napari_liverct.cli import main
from napari_liverct.geometry.grids import reorient_onto
from napari_liverct.segment import pipeline as pl
from napari_liverct.volumes.dispatch import read_volume
from realdata import EXAMPLE_CT, real


@pytest.fixture
def fake_network(monkeypatch):
    """A stand-in for both networks (fast): soft tissue is 'liver', denser soft tissue 'tumour'."""
    monkeypatch.setattr(pl, "run_network", standin.soft_tissue)


@pytest.fixture(scope="module")
def two_series(tmp_path_factory):
    """A folder with a 24-slice CT series from the sdist's real CT and a one-slice scout."""
    img = nib.load(real(EXAMPLE_CT))
    data = np.clip(np.asarray(img.dataobj)[10:106, 10:90, 40:64], -1024, 3071).astype(np.int16)
    affine = img.affine @ np.array([[1, 0, 0, 10], [0, 1, 0, 10], [0, 0, 1, 40], [0, 0, 0, 1]])
    folder = tmp_path_factory.mktemp("dicom") / "study"
    write_series(folder, data, affine)
    write_series(folder, data[:, 40:41, :].transpose(0, 2, 1), affine[:, [0, 2, 1, 3]], names=["scout"])
    return folder, data, affine


def test_listing_and_series_uid(two_series):
    folder, data, _ = two_series
    out = run_cli("dicom-series", folder, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    big = pydicom.dcmread(next(p for p in folder.iterdir() if p.name != "scout"), stop_before_pixels=True)
    scout = pydicom.dcmread(folder / "scout", stop_before_pixels=True)
    assert lines[0].startswith(f"* {big.SeriesInstanceUID}  CT  24 files")
    assert lines[1].startswith(f"  {scout.SeriesInstanceUID}  CT  1 files")
    default = run_cli("stats", folder, "--format", "json", text=True)
    assert default.returncode == 0, default.stderr
    assert f"stats: warning: {folder} holds 2 image series; reading {big.SeriesInstanceUID}" in default.stderr
    assert json.loads(default.stdout)["image"]["shape"] == list(data.shape)
    chosen = run_cli("--series-uid", scout.SeriesInstanceUID, "stats", folder, "--format", "json", text=True)
    assert chosen.returncode == 0 and "warning" not in chosen.stderr, chosen.stderr
    assert json.loads(chosen.stdout)["image"]["shape"][2] == 1
    bad = run_cli("--series-uid", "1.2.3", "stats", folder, text=True)
    assert bad.returncode == 2 and "no series with SeriesInstanceUID '1.2.3'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_broken_series_exit_2_naming_the_file(two_series, tmp_path):
    folder, _, _ = two_series
    shutil.copytree(folder, tmp_path / "s")
    victim = sorted(p for p in (tmp_path / "s").iterdir() if p.name != "scout")[3]
    ds = pydicom.dcmread(victim)
    ds.PixelData = ds.PixelData[:100]
    ds.save_as(victim)
    out = run_cli("stats", tmp_path / "s", text=True)
    assert out.returncode == 2 and victim.name in out.stderr and "pixel data" in out.stderr
    assert "Traceback" not in out.stderr


def test_segment_to_dicom_seg_and_export_seg_agree_with_the_nifti_draft(two_series, tmp_path, fake_network, capsys):
    folder, _, _ = two_series
    assert main(["segment", str(folder), "--out", str(tmp_path / "draft.nii.gz"), "--threads", "1"]) == 0
    assert main(["segment", str(folder), "--out", str(tmp_path / "draft.dcm"), "--threads", "1"]) == 0
    assert main(["segment", str(folder), "--out", str(tmp_path / "draft_seg"), "--format", "dicom-seg"]) == 0
    assert (
        main(
            [
                "export-seg",
                str(tmp_path / "draft.nii.gz"),
                "--series",
                str(folder),
                "--out",
                str(tmp_path / "exported.dcm"),
            ]
        )
        == 0
    )
    assert "AUTOMATIC (draft)" in capsys.readouterr().err  # the segment sidecar says it is the draft
    nifti = nib.load(tmp_path / "draft.nii.gz")
    draft = np.asarray(nifti.dataobj)
    assert (draft == 1).sum() > 1000
    for seg in ("draft.dcm", "draft_seg", "exported.dcm"):
        back = read_volume(tmp_path / seg)
        on = reorient_onto(back.data, back.affine, draft.shape, nifti.affine, tol_mm=1e-3)
        assert on is not None and np.array_equal(on[0], draft), seg
        ds = pydicom.dcmread(tmp_path / seg, stop_before_pixels=True)
        assert {s.SegmentAlgorithmType for s in ds.SegmentSequence} == {"AUTOMATIC"}
    exe = shutil.which("segimage2itkimage") or str(Path(sys.executable).with_name("segimage2itkimage"))
    if Path(exe).exists():
        (tmp_path / "qi").mkdir()  # dcmqi writes into an existing folder
        subprocess.run(
            [
                exe,
                "--inputDICOM",
                str(tmp_path / "draft.dcm"),
                "--outputDirectory",
                str(tmp_path / "qi"),
                "-t",
                "nifti",
            ],
            check=True,
            capture_output=True,
        )
        liver = nib.load(tmp_path / "qi" / "1.nii.gz")
        on = reorient_onto(np.asarray(liver.dataobj), liver.affine, draft.shape, nifti.affine, tol_mm=1e-3)
        assert on is not None and np.array_equal(on[0] == 1, draft == 1)
    # edited, on a grid that is not the series': refused with the reason, nothing written
    assert (
        main(
            [
                "export-seg",
                str(tmp_path / "draft.nii.gz"),
                "--series",
                str(folder),
                "--out",
                str(tmp_path / "e.dcm"),
                "--origin",
                "edited",
            ]
        )
        == 0
    )
    assert {s.SegmentAlgorithmType for s in pydicom.dcmread(tmp_path / "e.dcm").SegmentSequence} == {"SEMIAUTOMATIC"}
    moved = nib.Nifti1Image(draft, nifti.affine @ np.diag([2.0, 2.0, 1.0, 1.0]))
    nib.save(moved, tmp_path / "moved.nii.gz")
    assert (
        main(["export-seg", str(tmp_path / "moved.nii.gz"), "--series", str(folder), "--out", str(tmp_path / "m.dcm")])
        == 2
    )
    assert "not on the DICOM series' grid" in capsys.readouterr().err
    assert not (tmp_path / "m.dcm").exists()
    # a DICOM-SEG needs a DICOM series: said before any network runs
    assert main(["segment", str(real(EXAMPLE_CT)), "--out", str(tmp_path / "x.dcm")]) == 2
    assert "needs a DICOM series as input" in capsys.readouterr().err
