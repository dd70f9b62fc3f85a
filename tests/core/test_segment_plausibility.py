"""Plausibility of the offline draft (issue 22): is what the liver network found a liver?

Real CTs other tools wrote, each run once through the real liver network (liver only):

- pyradiomics' ``lung1`` (upper chest, no liver in view): the network's "liver" is air in
  front of the neck; it must be refused, nothing written;
- pyradiomics' ``lung2`` (chest CT down to the upper abdomen): the liver is cut by the
  bottom of the scan; written, with a "cut by the field of view, inferior" warning;
- TotalSegmentator's example CT (abdomen and pelvis): no hard finding; its top slice cuts
  through the liver (TotalSegmentator's own liver covers that slice too), so the only
  warning is "cut, superior".

The NRRD files are converted to NIfTI by SimpleITK (which writes the LPS->RAS affine).
Oracles: numpy on the labels and the CT as nibabel reads them (medians, faces, centroids
through the affine), nibabel's ``aff2axcodes`` for which end of an axis is superior.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.segment import pipeline as pl
from napari_liverct.segment.files import segment_file
from napari_liverct.segment.plausibility import ImplausibleDraftError, check_draft, check_extent
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

slow = pytest.mark.slow  # the real network on real CTs


def _nifti_from_nrrd(name: str, tmp):
    sitk = pytest.importorskip("SimpleITK")
    out = tmp / f"{name}.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(real(f"pyradiomics/{name}.nrrd"))), str(out))
    return out


def _load(path):
    img = nib.load(path)
    return np.asanyarray(img.dataobj), img.affine


def _world(affine, ijk):
    return (affine @ np.append(np.asarray(ijk, float), 1.0))[:3]


# -- the real CTs, each through the network once -----------------------------------------------
@pytest.fixture(scope="module")
def lung1(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lung1")
    ct = _nifti_from_nrrd("lung1_image", tmp)
    out = tmp / "lung1_draft.nii.gz"
    with pytest.raises(ImplausibleDraftError) as info:
        segment_file(ct, out, lesions=False, threads=2)
    return ct, out, info.value


@pytest.fixture(scope="module")
def lung2(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lung2")
    ct = _nifti_from_nrrd("lung2_image", tmp)
    out = tmp / "lung2_draft.nii.gz"
    row = segment_file(ct, out, lesions=False, threads=2)
    return ct, out, row


@pytest.fixture(scope="module")
def example():
    data, affine = _load(real(EXAMPLE_CT))
    return data, affine, pl.segment(data, affine, lesions=False, threads=2)


@slow
def test_chest_ct_without_liver_gets_no_liver_and_says_why(lung1):
    ct, out, exc = lung1
    msg = str(exc)
    assert str(ct) in msg and "no liver draft" in msg and "not liver tissue" in msg
    assert not out.exists() and not out.with_name("lung1_draft.json").exists()
    codes = [f.code for f in exc.check.hard]
    assert "liver_not_tissue" in codes and "liver_above_lungs" in codes
    # the numbers, recomputed with numpy on what was refused
    data, affine = _load(ct)
    found = exc.labels > 0
    assert found.any()
    hu = data[found].astype(float)
    nums = next(f for f in exc.check.hard if f.code == "liver_not_tissue").numbers
    assert nums["median_hu"] == pytest.approx(np.median(hu), abs=0.51)
    assert nums["median_hu"] < -900  # air (the issue: -999 HU)
    assert nums["air_fraction"] == pytest.approx((hu < -500).mean(), abs=1e-4)
    pos = next(f for f in exc.check.hard if f.code == "liver_above_lungs").numbers
    assert pos["liver_s_mm"] == pytest.approx(_world(affine, np.argwhere(found).mean(0))[2], abs=0.2)
    assert pos["liver_s_mm"] > pos["lungs_s_mm"] and pos["lung_air_ml"] > 1000


@slow
def test_chest_ct_with_the_liver_cut_by_the_bottom_warns_inferior(lung2):
    ct, out, row = lung2
    data, affine = _load(ct)
    labels = np.asanyarray(nib.load(out).dataobj)
    liver = labels > 0
    # which end is inferior, from nibabel: this file's third axis runs towards S
    assert nib.aff2axcodes(affine)[2] == "S"
    zooms = np.abs(np.diag(affine)[:3])
    bottom_cm2 = liver[:, :, 0].sum() * zooms[0] * zooms[1] / 100
    assert bottom_cm2 > 50 and liver[:, :, -1].sum() == 0
    side = json.loads(out.with_name("lung2_draft.json").read_text())["plausibility"]
    assert side["ok"] is True and side["hard"] == []
    cuts = [w for w in side["warnings"] if w["code"] == "cut_by_field_of_view"]
    assert [c["numbers"]["side"] for c in cuts] == ["inferior"]
    assert cuts[0]["numbers"]["area_cm2"] == pytest.approx(bottom_cm2, abs=0.06)
    assert row["warnings"] == side["warnings"]
    # real liver tissue on the patient's right (RAS: x grows towards the right)
    assert 0 < np.median(data[liver]) < 200
    c = _world(affine, np.argwhere(liver).mean(0))
    zs = np.unique(np.nonzero(liver)[2])
    body = np.argwhere(data[:, :, zs] > -500)
    body_c = _world(affine, [body[:, 0].mean(), body[:, 1].mean(), zs.mean()])
    assert c[0] > body_c[0]
    assert "liver_on_left" not in [w["code"] for w in side["warnings"]]


@slow
def test_abdominal_ct_passes_with_only_the_true_cut_at_its_top(example):
    data, affine, res = example
    liver = res.labels > 0
    ts_liver = np.asanyarray(nib.load(real(EXAMPLE_SEG_FAST)).dataobj) == 5
    assert nib.aff2axcodes(affine)[2] == "S"
    # TotalSegmentator's liver covers the top slice too: the scan does cut the liver there
    assert ts_liver[:, :, -1].sum() * 9 / 100 > 100 and liver[:, :, 0].sum() == 0
    assert res.check.ok and res.check.codes() == ["cut_by_field_of_view"]
    (cut,) = res.check.warnings
    assert cut.numbers["side"] == "superior"
    assert cut.numbers["area_cm2"] == pytest.approx(liver[:, :, -1].sum() * 9 / 100, abs=0.06)


# -- the check itself, on real arrays with labels we place ----------------------------------------
@pytest.fixture(scope="module")
def ts_case():
    """TotalSegmentator's example CT with its own liver (label 5) as the draft: no network."""
    data, affine = _load(real(EXAMPLE_CT))
    liver = (np.asanyarray(nib.load(real(EXAMPLE_SEG_FAST)).dataobj) == 5).astype(np.uint8)
    return data, affine, liver


def test_storage_order_does_not_change_the_findings(ts_case):
    data, affine, liver = ts_case
    ref = check_draft(data, affine, liver).to_json()
    # LPS: flip the first two axes; then permute the axes (S, L, P)
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[:2, 3] = np.array(data.shape[:2]) - 1
    lps = (data[::-1, ::-1], liver[::-1, ::-1], affine @ flip)
    assert nib.aff2axcodes(lps[2]) == ("L", "P", "S")
    perm = np.eye(4)[:, [2, 0, 1, 3]]
    per = (np.transpose(lps[0], (2, 0, 1)), np.transpose(lps[1], (2, 0, 1)), lps[2] @ perm)
    assert nib.aff2axcodes(per[2]) == ("S", "L", "P")
    for d, lab, aff in (lps, per):
        assert check_draft(np.ascontiguousarray(d), aff, np.ascontiguousarray(lab)).to_json() == ref
    assert [w["numbers"].get("side") for w in ref["warnings"]] == ["superior"]


def test_mirrored_liver_is_on_the_left_and_stored_order_is_not_used(ts_case):
    data, affine, liver = ts_case
    mirrored = np.ascontiguousarray(liver[::-1])  # the liver moved to the patient's left
    assert "liver_on_left" in check_draft(data, affine, mirrored).codes()
    # the same voxels, stored with the first axis reversed (LAS): the world is unchanged,
    # the liver is on the right again and no warning may come
    las = np.diag([-1.0, 1.0, 1.0, 1.0])
    las[0, 3] = data.shape[0] - 1
    got = check_draft(np.ascontiguousarray(data[::-1]), affine @ las, mirrored)
    assert "liver_on_left" not in got.codes()


def test_lesions_outside_the_liver_in_air_and_at_the_dome(ts_case):
    data, affine, liver = ts_case
    lab = liver.copy()
    air = np.argwhere(data < -900)
    i, j, k = air[len(air) // 2]  # a 3x3x3 "lesion" of air outside the body
    assert not liver[i - 2 : i + 3, j - 2 : j + 3, k - 2 : k + 3].any()
    lab[i - 1 : i + 2, j - 1 : j + 2, k - 1 : k + 2] = 2
    got = check_draft(data, affine, lab)
    codes = got.codes()
    assert "lesion_outside_liver" in codes and "lesion_in_air" in codes and got.ok
    f = next(f for f in got.warnings if f.code == "lesion_in_air")
    assert f.numbers["count"] == 1 and f.numbers["volume_ml"] == [pytest.approx(27 * 27 / 1000, abs=0.006)]
    # the dome: only when the scan shows it (this one cuts the liver at its top)
    top = int(np.nonzero(liver.any(axis=(0, 1)))[0].max())
    lab2 = liver.copy()
    ii, jj = np.argwhere(liver[:, :, top])[0]
    lab2[ii, jj, top - 1 : top + 1] = 2
    assert "lesion_at_dome" not in check_draft(data, affine, lab2).codes()
    lab3 = liver.copy()
    lab3[:, :, top - 2 :] = 0  # the liver now ends 3 slices below the scan's top: its dome is in view
    t3 = top - 3
    ii, jj = np.argwhere(lab3[:, :, t3] == 1)[0]
    lab3[ii, jj, t3] = 2
    got3 = check_draft(data, affine, lab3)
    assert "lesion_at_dome" in got3.codes() and "cut_by_field_of_view" not in got3.codes()
    lab3[ii, jj, t3] = 1
    lab3[ii, jj, t3 - 5] = 2  # 15 mm below the dome: not flagged
    assert "lesion_at_dome" not in check_draft(data, affine, lab3).codes()


def test_empty_and_tiny_volumes_are_refused():
    data = np.full((40, 40, 20), -1000, np.int16)
    data[5:35, 5:35, :] = 40
    got = check_draft(data, np.diag([5.0, 5.0, 5.0, 1.0]), np.zeros(data.shape, np.uint8))
    assert got.codes() == ["empty"] and not got.ok
    # 5 x 5 x 5 voxels of 1 mm: refused before any network runs, naming the extent
    tiny = np.full((5, 5, 5), -1000, np.int16)
    with pytest.raises(ImplausibleDraftError, match=r"too small to hold a liver.*5 x 5 x 5 mm"):
        pl.segment(tiny, np.eye(4))
    with pytest.raises(ImplausibleDraftError, match="too small"):
        check_extent((500, 500, 3), np.diag([0.7, 0.7, 5.0, 1.0]))  # 15 mm along S
    check_extent((512, 512, 48), np.diag([0.57, 0.57, 5.0, 1.0]))  # lung1's field: fine


def test_liver_volume_range_and_partial_liver(ts_case):
    data, affine, liver = ts_case
    small = np.zeros_like(liver)
    ijk = np.argwhere(liver)
    c = ijk.mean(0).astype(int)
    small[c[0] - 5 : c[0] + 5, c[1] - 5 : c[1] + 5, c[2] - 5 : c[2] + 5] = liver[
        c[0] - 5 : c[0] + 5, c[1] - 5 : c[1] + 5, c[2] - 5 : c[2] + 5
    ]
    got = check_draft(data, affine, small)
    vol = next(f for f in got.warnings if f.code == "liver_volume")
    assert vol.numbers["liver_l"] == pytest.approx(small.sum() * 27 / 1e6, abs=1e-3)
    assert "partial" not in vol.numbers  # not cut: a small liver
    # the real (cut) liver is in range: no volume warning
    assert "liver_volume" not in check_draft(data, affine, liver).codes()
