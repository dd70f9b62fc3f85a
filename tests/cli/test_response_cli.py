"""``napari-liverct stats`` RECIST columns and ``napari-liverct response`` in a process of their own.

Baseline and follow-up are written as NIfTI by nibabel; the follow-up is stored LPS on a
shifted grid (pairing is in world mm) with its lesions grown by scipy's binary dilation
with a ball of 4 voxels (1 mm): the sum of diameters grows by about 16 mm on 50 -> PD.
"""

from __future__ import annotations

import csv
import io
import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import ball

from clirun import run_cli


def _spheres(shape, items):
    g = np.ogrid[tuple(slice(0, s) for s in shape)]
    lab = np.zeros(shape, np.uint8)
    lab[(g[0] - 55) ** 2 / 45**2 + (g[1] - 55) ** 2 / 45**2 + (g[2] - 35) ** 2 / 30**2 <= 1] = 1  # an organ
    for r, c in items:
        lab[sum((g[a] - c[a]) ** 2 for a in range(3)) <= r**2] = 2
    return lab


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("resp")
    base = _spheres((110, 110, 70), [(15, (35, 40, 35)), (10, (75, 70, 35))])
    aff = np.eye(4)
    aff[:3, 3] = (-50.0, 20.0, -300.0)
    grown = np.where(ndi.binary_dilation(base == 2, structure=ball(4)), 2, np.where(base == 1, 1, 0)).astype(np.uint8)
    # follow-up stored LPS: flip the first two axes (same voxel centres in world mm)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0])
    faff = aff.copy()
    faff[:3, :3] = aff[:3, :3] @ lps[:3, :3]
    faff[:3, 3] = aff[:3, :3] @ np.array([109.0, 109.0, 0.0]) + aff[:3, 3]
    paths = {}
    for name, arr, a in (("baseline", base, aff), ("followup", grown[::-1, ::-1, :], faff)):
        paths[name] = d / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(np.ascontiguousarray(arr), a), paths[name])
    img = d / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.where(base > 0, 60, -100).astype(np.int16), aff), img)
    return paths, img


def _main(capsys, *args):
    """The command line in this process (the subprocess runs are in the response tests)."""
    from napari_liverct.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_json_and_csv_carry_recist(pair, capsys):
    paths, img = pair
    p = run_cli("stats", img, "--labels", paths["baseline"], "--lesion", "2", "--organ", "1", "--format", "json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    les = out["lesions"]
    assert [r["target"] for r in les] == [True, True]
    assert les[0]["long_axis_mm"] == pytest.approx(30, abs=1.5) and les[1]["long_axis_mm"] == pytest.approx(20, abs=1.5)
    assert out["sum_of_diameters_mm"] == pytest.approx(les[0]["long_axis_mm"] + les[1]["long_axis_mm"])
    for r in les:  # end points in RAS mm, on the axial slice, as long as the axis
        a, b = np.array(r["long_axis_start_mm"]), np.array(r["long_axis_end_mm"])
        assert np.linalg.norm(b - a) == pytest.approx(r["long_axis_mm"])
        assert a[2] == b[2] == pytest.approx(-300.0 + r["recist_slice"])
    # the user's choice of targets, and a rule that leaves one
    code, out, _ = _main(
        capsys, "stats", img, "--labels", paths["baseline"], "--lesion", "2", "--targets", "2", "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["target"] for r in rows if r["kind"] == "lesion"] == ["False", "True"]
    assert float(rows[-1]["value"]) == pytest.approx(les[1]["long_axis_mm"])
    code, out, _ = _main(capsys, "stats", img, "--labels", paths["baseline"], "--lesion", "2", "--max-targets", "1")
    assert code == 0 and "Sum of diameters (RECIST 1.1, targets 1)" in out
    code, _, err = _main(capsys, "stats", img, "--labels", paths["baseline"], "--lesion", "2", "--targets", "7")
    assert code == 2 and "do not exist" in err


def test_response_command(pair, capsys):
    paths, _ = pair
    p = run_cli("response", paths["baseline"], paths["followup"], "--lesion", "2", "--format", "json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["category"] == "PD"
    assert [t["followup_id"] for t in out["targets"]] == [1, 2]
    assert all(t["distance_mm"] < 1 for t in out["targets"])
    assert out["followup_sum_mm"] - out["baseline_sum_mm"] == pytest.approx(16, abs=3)
    assert out["change_from_baseline_pct"] >= 20
    # reversed: the grown map as baseline, the original as follow-up: -16 mm of ~66 is -24 %: SD
    code, out, _ = _main(capsys, "response", paths["followup"], paths["baseline"], "--lesion", "2", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[-1]["category"] == "SD" and float(rows[-1]["change_from_baseline_pct"]) < -20
    code, text, _ = _main(capsys, "response", paths["baseline"], paths["followup"], "--lesion", "2")
    assert "Response: PD" in text and "nadir" in text


def test_response_bad_input(pair, tmp_path, capsys):
    paths, _ = pair
    code, _, err = _main(capsys, "response", paths["baseline"], tmp_path / "missing.nii.gz", "--lesion", "2")
    assert code == 2 and "missing.nii.gz" in err
    code, _, err = _main(capsys, "response", paths["baseline"], paths["followup"])  # no class named tumour
    assert code == 2 and "--lesion" in err and "baseline.nii.gz" in err
