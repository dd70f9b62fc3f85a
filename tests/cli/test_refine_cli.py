"""``napari-liverct refine CT LABELS --edits EDITS.json --out OUT`` (issue 24) on
TotalSegmentator's real example CT, with its liver and spheres planted as lesions.

The command runs in its own process; its output is compared with the core's replay in
this process, read back with nibabel, and the log beside it with the input log's bytes.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from clirun import run_cli
from napari_liverct.labels.tables import label_table_for
from napari_liverct.refine import edit_entry, log_text, new_log, replay
from napari_liverct.segment.files import label_header
from planted import ball, example_liver
from realdata import EXAMPLE_CT, real


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("refine")
    data, aff, liver, deep, sp = example_liver()
    labels = liver.astype(np.uint8)
    c1, c2 = deep + [-3, 0, 0], deep + [3, 0, 0]
    for c in (c1, c2):
        labels[ball(liver.shape, c, sp, 10)] = 2
    lab_path = tmp / "draft.nii.gz"
    img = nib.Nifti1Image(labels, aff, header=label_header({1: "liver", 2: "liver tumour"}))
    img.set_data_dtype(np.uint8)
    nib.save(img, lab_path)
    ras = lambda v: (aff @ np.r_[np.asarray(v, float), 1.0])[:3]  # noqa: E731
    log = new_log(1, 2, base={"labels_file": "draft.nii.gz"})
    log["edits"] = [
        edit_entry("split_lesion", points_ras_mm=[ras(c1), ras(c2)]),
        edit_entry("delete_lesion", point_ras_mm=ras(c2)),
    ]
    expect, done, _ = replay(data, aff, labels, log)
    log_path = tmp / "edits.json"
    log_path.write_text(log_text(done))
    return {"ct": real(EXAMPLE_CT), "labels": lab_path, "log": log_path, "expect": expect, "tmp": tmp}


def test_refine_writes_the_replayed_labels_names_and_log(files):
    out = files["tmp"] / "corrected.nii.gz"
    proc = run_cli("refine", files["ct"], files["labels"], "--edits", files["log"], "--out", out, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "2 edits replayed" in proc.stderr and "note" not in proc.stderr
    img = nib.load(out)
    np.testing.assert_array_equal(np.asarray(img.dataobj), files["expect"])
    np.testing.assert_allclose(img.affine, nib.load(files["ct"]).affine, atol=1e-5)
    assert img.get_data_dtype() == np.uint8
    names = label_table_for(out, header=img.header).names
    assert names[1] == "liver" and names[2] == "liver tumour"
    beside = out.with_name("corrected.edits.json")
    assert beside.read_bytes() == files["log"].read_bytes()
    assert (files["tmp"] / "corrected.json").exists()
    # split then delete: one of the two planted lesions is left
    assert ndimage.label(files["expect"] == 2, structure=np.ones((3, 3, 3)))[1] == 1


def test_refine_refuses_to_write_over_an_input(files):
    before = files["labels"].read_bytes()
    proc = run_cli("refine", files["ct"], files["labels"], "--edits", files["log"], "--out", files["labels"], text=True)
    assert proc.returncode == 2
    assert "refusing to write" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert files["labels"].read_bytes() == before


def test_refine_names_a_bad_log(files):
    bad = files["tmp"] / "bad.json"
    bad.write_text(
        '{"format": "napari-liverct edit log", "version": 1, "roles": {"liver": 1, "lesion": 2}, '
        '"edits": [{"op": "grow", "label": 2}]}'
    )
    proc = run_cli(
        "refine", files["ct"], files["labels"], "--edits", bad, "--out", files["tmp"] / "x.nii.gz", text=True
    )
    assert proc.returncode == 2 and str(bad) in proc.stderr and "needs foreground_ras_mm" in proc.stderr
    assert not (files["tmp"] / "x.nii.gz").exists()
