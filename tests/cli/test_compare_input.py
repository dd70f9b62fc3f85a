"""``compare`` refuses wrong input instead of accepting it silently (issue 16): a CT given as a
label map (either side), negative labels (stats' message), and two empty maps say so."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.cli import main
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

# each real CT with its real segmentation on the same grid (TotalSegmentator 2.18.0 sdist)
PAIRS = [
    (EXAMPLE_CT, EXAMPLE_SEG_FAST),
    ("totalsegmentator/example_ct_sm.nii.gz", "totalsegmentator/example_seg.nii.gz"),
]


def _reader_kind(path: Path) -> str:
    """What the napari reader makes of the file when nothing but its content decides."""
    from napari_liverct.io.reader import read_nifti_layers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [(_, _, kind)] = read_nifti_layers(str(path), pair=False)
    return kind


def _error_text(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    prefix = f"napari-liverct {command}: error: "
    assert err.startswith(prefix) and "Traceback" not in err, err
    return err[len(prefix) :]


@pytest.mark.parametrize("pair", PAIRS, ids=["example_ct", "example_ct_sm"])
@pytest.mark.parametrize("ct_side", ["gt", "pred"])
def test_compare_refuses_a_real_ct_given_as_labels(pair, ct_side, capsys, tmp_path):
    ct, seg = real(pair[0]), real(pair[1])
    # the oracle: nibabel's array holds thousands of values (an image), the segmentation a few
    ct_vals = np.unique(np.asanyarray(nib.load(ct).dataobj))
    assert len(ct_vals) > 1000 and ct_vals[0] < 0
    assert len(np.unique(np.asanyarray(nib.load(seg).dataobj))) < 120
    # a copy with a name that says nothing, so only the content rule decides for the reader
    plain = tmp_path / "volume.nii.gz"
    plain.write_bytes(ct.read_bytes())
    assert _reader_kind(plain) == "image"
    args = [str(ct), str(seg)] if ct_side == "gt" else [str(seg), str(ct)]
    capsys.readouterr()
    assert main(["compare", *args]) == 2
    msg = _error_text(capsys, "compare")
    assert msg.startswith(f"{ct}: not a label map") and "--force-labels" in msg
    assert "distinct values" in msg and "looks like an image" in msg
    assert capsys.readouterr().out == ""  # no table of 1,700 "label -1207" classes


def test_compare_accepts_the_real_segmentation_the_reader_opens_as_labels(tmp_path, capsys):
    """The same rule lets a real segmentation through (its content alone says labels)."""
    seg = real("totalsegmentator/example_seg.nii.gz")
    plain = tmp_path / "volume.nii.gz"
    plain.write_bytes(seg.read_bytes())
    assert _reader_kind(plain) == "labels"
    capsys.readouterr()
    assert main(["compare", str(seg), str(plain), "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    data = np.asanyarray(nib.load(seg).dataobj)
    present = [c for c in res["classes"] if not c["both_empty"]]  # its label table declares 117 classes
    assert sorted(c["label"] for c in present) == [int(v) for v in np.unique(data) if v]
    assert all(c["dice"] == 1.0 for c in present) and res["both_empty"] is False


def test_force_labels_from_cli_and_python(tmp_path, capsys):
    """An image-like volume without negative values compares when forced; a CT forced
    as labels gets stats' negative-label message, word for word."""
    from napari_liverct.compare import NotALabelMapError, compare_files

    rng = np.random.default_rng(0)
    vol = rng.integers(0, 3000, (24, 22, 10)).astype(np.int16)  # ~2,800 distinct values, all >= 0
    a = tmp_path / "a.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.diag([2.0, 2.0, 4.0, 1])), a)
    with pytest.raises(NotALabelMapError, match="not a label map"):
        compare_files(a, a)
    res = compare_files(a, a, force_labels=True, surface=False)
    assert [c.label for c in res.classes] == [int(v) for v in np.unique(vol) if v]
    assert all(c.dice == 1.0 for c in res.classes)
    capsys.readouterr()
    assert main(["compare", str(a), str(a), "--force-labels", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + len(np.unique(vol[vol != 0]))

    ct = real(EXAMPLE_CT)
    # stats, crop and compare share one label rule (checked_label_map): the CT is refused as labels
    assert main(["stats", str(ct), "--labels", str(ct)]) == 2
    assert _error_text(capsys, "stats").startswith(f"{ct}: not a label map: a sample of ")
    assert main(["stats", str(ct), "--labels", str(ct), "--force-labels"]) == 2
    stats_msg = _error_text(capsys, "stats")
    assert main(["compare", str(ct), str(ct), "--force-labels"]) == 2
    assert _error_text(capsys, "compare") == stats_msg == f"{ct}: labels must not be negative"
    with pytest.raises(ValueError, match="labels must not be negative"):
        compare_files(ct, ct, force_labels=True)


def test_negative_labels_same_message_as_stats(tmp_path, capsys):
    """A real segmentation with one stray -1 voxel (few values: the content rule says labels)."""
    seg = real("totalsegmentator/example_seg.nii.gz")
    ct = real("totalsegmentator/example_ct_sm.nii.gz")
    data = np.asanyarray(nib.load(seg).dataobj).astype(np.int16)
    data[60, 50, 15] = -1
    bad = tmp_path / "bad_seg.nii.gz"
    nib.save(nib.Nifti1Image(data, nib.load(seg).affine), bad)
    capsys.readouterr()
    assert main(["stats", str(ct), "--labels", str(bad)]) == 2
    stats_msg = _error_text(capsys, "stats")
    for args in ([str(bad), str(seg)], [str(seg), str(bad)]):
        assert main(["compare", *args]) == 2
        assert _error_text(capsys, "compare") == stats_msg == f"{bad}: labels must not be negative"


def test_two_empty_maps_say_so(tmp_path, capsys):
    aff = np.diag([1.5, 1.5, 3.0, 1])
    for name in ("gt.nii.gz", "pred.nii.gz"):
        nib.save(nib.Nifti1Image(np.zeros((20, 18, 8), np.uint8), aff), tmp_path / name)
    gt, pred = str(tmp_path / "gt.nii.gz"), str(tmp_path / "pred.nii.gz")
    capsys.readouterr()
    assert main(["compare", gt, pred]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "empty" in ln and "nii.gz" not in ln]
    assert lines == ["both maps are empty: no labelled voxel in the ground truth or the prediction"]
    assert "Dice" not in out  # no empty table
    assert main(["compare", gt, pred, "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["both_empty"] is True and res["classes"] == []
    # one voxel in the prediction: not both empty, one class with an empty ground truth
    nib.save(nib.Nifti1Image(np.pad(np.ones((1, 1, 1), np.uint8), ((3, 16), (4, 13), (2, 5))), aff), pred)
    assert main(["compare", gt, pred, "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["both_empty"] is False and [(c["label"], c["gt_empty"]) for c in res["classes"]] == [(1, True)]
