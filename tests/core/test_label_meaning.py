"""Label meaning is never invented; grids that differ only by a flip are the same grid.

Names come from the user, a sidecar JSON, the file's own label table (TotalSegmentator's
Caret XML), dataset.json, liver evidence in the path, and otherwise ``label N``.
"""

from __future__ import annotations

import json
import warnings

import nibabel as nib
import npe2
import numpy as np
import pytest
from scipy import ndimage as ndi

import _nifti_oracle as oracle
from napari_liverct import cli
from napari_liverct.labels.tables import label_colors, label_table_for, read_color_table
from napari_liverct.stats import stats_for_files

AFF = np.array([[-0.9, 0, 0, 100.0], [0, -0.9, 0, 80.0], [0, 0, 2.0, -60.0], [0, 0, 0, 1]])


def _ct_and_mask(shape=(40, 36, 16)):
    rng = np.random.default_rng(4)
    ct = rng.normal(40, 20, size=shape).astype(np.int16)
    ct[:4] = -1000
    mask = np.zeros(shape, np.uint8)
    mask[10:25, 8:20, 3:10] = 1
    mask[28:34, 22:30, 5:12] = 2
    return ct, mask


def _layers(path):
    npe2.PluginManager.instance().discover()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return npe2.read([str(path)], plugin_name="napari-liverct", stack=False)


def test_totalsegmentator_file_opens_as_labels_with_its_own_names_and_colours(tmp_path):
    path = oracle.totalsegmentator_like(tmp_path, n_classes=61)  # "total.nii.gz": the name says nothing
    [(data, kw, kind)] = _layers(path)
    assert kind == "labels"
    names = kw["metadata"]["label_names"]
    assert names[5] == "liver" and names[2] == "kidney_right" and names[1] == "spleen"
    assert "table" in kw["metadata"]["label_names_source"]
    feats = dict(zip(kw["features"]["index"], kw["features"]["name"]))
    assert feats[5] == "liver"
    colors = kw["colormap"]
    rgb = [tuple(np.round(colors[k][:3], 3)) for k in range(1, 62)]
    assert len(set(rgb)) == 61  # every class its own colour
    assert np.allclose(colors[1][:3], (0, 1, 0))  # the file's colour where it is not repeated
    assert np.allclose(colors[12][:3], (1, 0, 0))  # key 12 -> colors[0] in TotalSegmentator's cycle


def test_totalsegmentator_stats_crop_survey_cli(tmp_path, capsys):
    seg = oracle.totalsegmentator_like(tmp_path, n_classes=61)
    ct = np.random.default_rng(1).normal(0, 300, size=(30, 28, 20)).astype(np.int16)
    ct_path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(ct, nib.load(seg).affine), ct_path)
    assert cli.main(["stats", str(ct_path), "--labels", str(seg), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    by = {r["label"]: r for r in out["labels"]}
    assert by[5]["name"] == "liver" and by[2]["name"] == "kidney_right"
    assert out["lesion_labels"] == [] and out["lesions"] == [] and "tumour_burden" not in out
    # the user says which class is the organ and which the lesion
    assert (
        cli.main(["stats", str(ct_path), "--labels", str(seg), "--format", "json", "--organ", "5", "--lesion", "6"])
        == 0
    )
    chosen = json.loads(capsys.readouterr().out)
    seg_data = np.asanyarray(nib.load(seg).dataobj)
    n5, n6 = int((seg_data == 5).sum()), int((seg_data == 6).sum())
    assert chosen["tumour_burden"] == pytest.approx(n6 / (n5 + n6))
    assert len(chosen["lesions"]) == ndi.label(seg_data == 6, structure=np.ones((3, 3, 3)))[1]
    assert (
        cli.main(["crop", str(ct_path), "--labels", str(seg), "--out-dir", str(tmp_path / "out"), "--source", "labels"])
        == 0
    )
    cropped = nib.load(tmp_path / "out" / "total_crop.nii.gz")
    assert int(np.asanyarray(cropped.dataobj).astype(bool).sum()) == int((seg_data > 0).sum())
    from napari_liverct.survey import survey_case

    row, _ = survey_case(ct_path, seg, "ts")
    assert row.error is None and row.label_error is None
    assert row.lesion_count is None and row.lesion_labels == []


def test_names_by_rule(tmp_path):
    ct, mask = _ct_and_mask()
    heart = tmp_path / "chest_ct_seg.nii.gz"
    nib.save(nib.Nifti1Image(mask, AFF), heart)
    t = label_table_for(heart, present=[0, 1, 2])
    assert t.names == {0: "background", 1: "label 1", 2: "label 2"}  # never "liver"
    (tmp_path / "chest_ct_seg.json").write_text(json.dumps({"1": "heart", "2": "aorta"}))
    assert label_table_for(heart).names[1] == "heart"
    lits = tmp_path / "segmentation-12.nii"
    nib.save(nib.Nifti1Image(mask, AFF), lits)
    assert label_table_for(lits).names == {0: "background", 1: "liver", 2: "tumour"}
    task = tmp_path / "Task03_Liver" / "labelsTr"
    task.mkdir(parents=True)
    nib.save(nib.Nifti1Image(mask, AFF), task / "case_1.nii.gz")
    assert label_table_for(task / "case_1.nii.gz").names[2] == "tumour"


def test_heart_mask_and_lung_tumour_are_what_they_are(tmp_path):
    ct, mask = _ct_and_mask()
    img = tmp_path / "cta.nii.gz"
    nib.save(nib.Nifti1Image(ct, AFF), img)
    heart = tmp_path / "cta_seg.nii.gz"
    nib.save(nib.Nifti1Image((mask == 1).astype(np.uint8), AFF), heart)
    res = stats_for_files(img, heart)
    assert [r.name for r in res.labels] == ["label 1"]
    assert res.lesions == () and res.tumour_burden is None
    lung = tmp_path / "lung_3_seg.nii.gz"
    nib.save(nib.Nifti1Image((mask == 2).astype(np.uint8), AFF), lung)
    (tmp_path / "lung_3_seg.json").write_text(json.dumps({"labels": {"1": "lung tumour"}}))
    res = stats_for_files(img, lung)
    assert len(res.lesions) == 1 and res.tumour_burden is None  # a tumour, but no liver


def test_colour_tables(tmp_path):
    slicer = tmp_path / "ct.ctbl"
    slicer.write_text("# Color table file\n0 Background 0 0 0 0\n1 liver 221 130 101 255\n5 tumor 0 255 0 255\n")
    t = read_color_table(slicer)
    assert t.names == {0: "Background", 1: "liver", 5: "tumor"}
    assert np.allclose(t.colors[1], (221 / 255, 130 / 255, 101 / 255, 1.0))
    snap = tmp_path / "labels.txt"
    snap.write_text(
        '# ITK-SnAP Label Description File\n    0     0    0    0        0  0  0    "Clear Label"\n'
        '    1   255    0    0        1  1  1    "Spleen"\n    2     0  255  0      0.5  1  1    "Left kidney"\n'
    )
    t = read_color_table(snap)
    assert t.names[2] == "Left kidney" and np.allclose(t.colors[2], (0, 1, 0, 0.5))
    with pytest.raises(ValueError, match="nothing.txt"):
        (tmp_path / "nothing.txt").write_text("hello\n")
        read_color_table(tmp_path / "nothing.txt")


def test_palette_has_256_distinct_colours():
    cols = label_colors({i: f"label {i}" for i in range(1, 257)})
    rgb = np.array([cols[i][:3] for i in range(1, 257)])
    d = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1) + np.eye(256) * 9
    assert d.min() > 0.1


@pytest.mark.parametrize(
    "content",
    [
        "[" * 200_000 + "]" * 200_000,
        json.dumps({"labels": {"1.0": "liver", "2": "tumour", "x": "y", "3": {"a": 1}}}),
        json.dumps({"labels": ["liver"]}),
        "\xff\xfe not json",
    ],
)
def test_odd_dataset_json_never_makes_labels_unopenable(tmp_path, content):
    folder = tmp_path / "ds" / "labelsTr"
    folder.mkdir(parents=True)
    (tmp_path / "ds" / "dataset.json").write_text(content, encoding="utf-8", errors="surrogateescape")
    _, mask = _ct_and_mask()
    nib.save(nib.Nifti1Image(mask, AFF), folder / "c1.nii.gz")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        [(_, kw, kind)] = _layers(folder / "c1.nii.gz")
    assert kind == "labels"
    if "1.0" in content:
        assert kw["metadata"]["label_names"][1] == "liver"


def test_nnunet_dataset_entries_of_the_wrong_type_are_a_valueerror(tmp_path):
    from napari_liverct.datasets.folder import load_dataset

    (tmp_path / "dataset.json").write_text(json.dumps({"file_ending": ".nii.gz", "dataset": {"c1": "oops"}}))
    with pytest.raises(ValueError, match="dataset.json"):
        load_dataset(tmp_path)
    assert cli.main(["survey", str(tmp_path)]) == 2


def test_non_utf8_file_name_does_not_fail_the_survey(tmp_path):
    import os

    from napari_liverct.survey import iter_survey

    ct, mask = _ct_and_mask()
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9_1.nii.gz"
    nib.save(nib.Nifti1Image(ct, AFF), os.fsdecode(raw))
    good = tmp_path / "liver_2.nii.gz"
    nib.save(nib.Nifti1Image(ct, AFF), good)
    cases = [
        {"image": os.fsdecode(raw), "label": None, "id": os.fsdecode(b"caf\xe9_1")},
        {"image": str(good), "label": None, "id": "liver_2"},
    ]
    rows = [row for _, row, _ in iter_survey(cases, workers=1, processes=False)]
    assert len(rows) == 2 and all(r.error is None for r in rows), rows


# ------------------------------------------------------------------ flipped grids


@pytest.fixture
def flipped_pair(tmp_path):
    """A CT and the same labels twice: in the CT's order, and with rows flipped and axes
    permuted (as DICOM converters sometimes write them)."""
    ct, mask = _ct_and_mask()
    img = tmp_path / "liver_5.nii.gz"
    nib.save(nib.Nifti1Image(ct, AFF), img)
    same = tmp_path / "same" / "liver_5_label.nii.gz"
    same.parent.mkdir()
    nib.save(nib.Nifti1Image(mask, AFF), same)
    ornt = np.array([[1, -1], [0, 1], [2, 1]])  # permute i/j and flip the new first axis
    flip = nib.orientations.apply_orientation(mask, ornt)
    faff = AFF @ nib.orientations.inv_ornt_aff(ornt, mask.shape)
    flipped = tmp_path / "flipped" / "liver_5_label.nii.gz"
    flipped.parent.mkdir()
    nib.save(nib.Nifti1Image(np.ascontiguousarray(flip), faff), flipped)
    return img, same, flipped


def test_flipped_labels_give_the_same_stats(flipped_pair):
    img, same, flipped = flipped_pair
    a, b = stats_for_files(img, same), stats_for_files(img, flipped)
    assert b.grid_note and "flipped" in b.grid_note
    assert a.labels == b.labels and a.lesions == b.lesions
    assert a.tumour_burden == b.tumour_burden


def test_flipped_labels_crop_like_the_unflipped(flipped_pair, tmp_path, capsys):
    img, same, flipped = flipped_pair
    outs = []
    for lab in (same, flipped):
        out = tmp_path / f"crop_{lab.parent.name}"
        assert cli.main(["crop", str(img), "--labels", str(lab), "--out-dir", str(out), "--source", "labels"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
        c_img = nib.load(out / "liver_5_crop.nii.gz")
        c_lab = nib.load(out / "liver_5_label_crop.nii.gz")
        np.testing.assert_allclose(c_img.affine, c_lab.affine)
        assert int(np.asanyarray(c_lab.dataobj).astype(bool).sum()) == int(
            (np.asanyarray(nib.load(same).dataobj) > 0).sum()
        )
    assert outs[0] == outs[1]


def test_flipped_labels_survey_foreground(flipped_pair):
    from napari_liverct.survey import survey_case

    img, same, flipped = flipped_pair
    a, _ = survey_case(img, same, "a")
    b, _ = survey_case(img, flipped, "b")
    ct = np.asanyarray(nib.load(img).dataobj)
    mask = np.asanyarray(nib.load(same).dataobj)
    assert b.fg_mean == pytest.approx(float(ct[mask > 0].mean()))
    for k in ("fg_mean", "fg_p50", "fg_voxels", "lesion_count"):
        assert getattr(a, k) == getattr(b, k), k
    assert not b.grids_equal and b.grids_equivalent


def test_really_different_grids_are_refused_naming_both_files(flipped_pair, tmp_path, capsys):
    img, same, _ = flipped_pair
    other = tmp_path / "other_label.nii.gz"
    aff = AFF.copy()
    aff[:3, :3] *= 1.5
    nib.save(nib.Nifti1Image(np.asanyarray(nib.load(same).dataobj), aff), other)
    assert cli.main(["crop", str(img), "--labels", str(other), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "other_label" in err and "liver_5" in err and "--resample-labels" in err
    assert (
        cli.main(["crop", str(img), "--labels", str(other), "--out-dir", str(tmp_path / "o"), "--resample-labels"]) == 0
    )


@pytest.mark.parametrize("margin", ["nan", "1e12", "inf"])
def test_crop_margin_nonsense_is_a_clear_error(flipped_pair, tmp_path, margin, capsys):
    img, same, _ = flipped_pair
    with pytest.raises(SystemExit) as exc:
        cli.main(["crop", str(img), "--out-dir", str(tmp_path / "o"), "--margin", margin])
    assert exc.value.code == 2
    assert "--margin" in capsys.readouterr().err


def test_negative_labels_error_names_the_file(tmp_path, capsys):
    ct, mask = _ct_and_mask()
    lab = mask.astype(np.int16)
    lab[0, 0, 0] = -1
    nib.save(nib.Nifti1Image(ct, AFF), tmp_path / "n.nii.gz")
    nib.save(nib.Nifti1Image(lab, AFF), tmp_path / "n_label.nii.gz")
    assert cli.main(["stats", str(tmp_path / "n.nii.gz"), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert "n_label.nii.gz" in err and "negative" in err


def test_survey_report_flags_flipped_labels_as_handled_and_keeps_rows(flipped_pair):
    import copy

    from napari_liverct.survey import survey_case
    from napari_liverct.survey.summary import summarise_survey

    img, same, flipped = flipped_pair
    rows, samples = zip(*(survey_case(img, lab, cid) for lab, cid in ((same, "a"), (flipped, "b"))))
    before = copy.deepcopy(list(rows))
    rep = summarise_survey(list(rows), list(samples))
    assert list(rows) == before  # the input rows are not written into
    kinds = {c.id: c.anomalies for c in rep["cases"]}
    assert "labels_axes_differ" in kinds["b"] and "grid_mismatch" not in kinds["b"]
    assert "labels_axes_differ" not in kinds["a"]
