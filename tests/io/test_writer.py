"""Writer: saved files reopen exactly where napari showed the layer."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import apply_affine, from_matvec
from test_reader import ORIENTATIONS, SPACING, _rot

from napari_liverct import read_nifti_layers, write_single_layer


def _meta(kw):
    return {"scale": kw["scale"], "translate": kw["translate"], "metadata": kw["metadata"]}


@pytest.mark.parametrize("name", ["RAS", "LPS", "permuted_ASL"])
def test_round_trip_keeps_disk_order_affine_and_dtype(tmp_path, write_nifti_file, name):
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 500
    src = write_nifti_file(f"src_{name}.nii.gz", data, ORIENTATIONS[name])
    [(view, kw, _)] = read_nifti_layers(src)
    out = tmp_path / "out" / "saved.nii.gz"
    assert write_single_layer(str(out), view, _meta(kw)) == [str(out)]
    img = nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), data)
    assert img.get_data_dtype() == np.int16
    np.testing.assert_allclose(img.affine, ORIENTATIONS[name], atol=1e-5)
    assert [p.name for p in out.parent.iterdir()] == ["saved.nii.gz"]  # no temp file left


def test_cropped_layer_saves_at_its_world_position(tmp_path, write_nifti_file):
    """Crop the displayed array, shift translate like a crop does, save, reopen with nibabel."""
    data = np.arange(6 * 7 * 8, dtype=np.int32).reshape(6, 7, 8)
    affine = ORIENTATIONS["LAS"]
    src = write_nifti_file("las.nii.gz", data, affine)
    [(view, kw, _)] = read_nifti_layers(src)
    start = np.array([1, 2, 3])
    cropped = view[1:4, 2:6, 3:7]
    translate = np.asarray(kw["translate"]) + np.asarray(kw["scale"]) * start
    meta = {"scale": kw["scale"], "translate": translate, "metadata": kw["metadata"]}
    out = tmp_path / "crop.nii"
    write_single_layer(str(out), cropped, meta)
    img = nib.load(out)
    saved = np.asanyarray(img.dataobj)
    assert saved.size == cropped.size
    for idx in np.ndindex(saved.shape):
        value = saved[idx]
        orig_idx = np.argwhere(data == value)[0]
        np.testing.assert_allclose(apply_affine(img.affine, idx), apply_affine(affine, orig_idx), atol=1e-5)


def test_oblique_round_trip_restores_the_true_affine(tmp_path, write_nifti_file):
    affine = from_matvec(_rot(1, 15.0) @ SPACING, [1, 2, 3])
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    src = write_nifti_file("obl.nii.gz", data, affine)
    with pytest.warns(UserWarning):
        [(view, kw, _)] = read_nifti_layers(src)
    out = tmp_path / "obl_saved.nii.gz"
    write_single_layer(str(out), view, _meta(kw))
    img = nib.load(out)
    np.testing.assert_allclose(img.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), data)


def test_never_overwrites_the_source(phantom_files):
    _, lab = phantom_files
    before = lab.read_bytes()
    original = np.asanyarray(nib.load(lab).dataobj).copy()
    [(view, kw, _)] = read_nifti_layers(lab)
    with pytest.raises(ValueError, match="Refusing to overwrite"):
        write_single_layer(str(lab), view, _meta(kw))
    assert lab.read_bytes() == before
    kw["metadata"]["allow_overwrite_source"] = True
    write_single_layer(str(lab), view, _meta(kw))
    np.testing.assert_array_equal(np.asanyarray(nib.load(lab).dataobj), original)


def test_labels_and_4d_round_trip(tmp_path, write_nifti_file):
    lab = np.zeros((5, 6, 7), np.uint8)
    lab[1:3, 2:4, 3:6] = 2
    src = write_nifti_file("x_label.nii.gz", lab, ORIENTATIONS["LPS"])
    [(view, kw, kind)] = read_nifti_layers(src)
    assert kind == "labels"
    write_single_layer(str(tmp_path / "lab.nii.gz"), view, _meta(kw))
    np.testing.assert_array_equal(np.asanyarray(nib.load(tmp_path / "lab.nii.gz").dataobj), lab)
    dyn = np.arange(3 * 4 * 5 * 2, dtype=np.int16).reshape(3, 4, 5, 2)
    src = write_nifti_file("dyn.nii.gz", dyn, ORIENTATIONS["LAS"])
    [(view, kw, _)] = read_nifti_layers(src)
    write_single_layer(str(tmp_path / "dyn_out.nii.gz"), view, _meta(kw))
    img = nib.load(tmp_path / "dyn_out.nii.gz")
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), dyn)
    np.testing.assert_allclose(img.affine, ORIENTATIONS["LAS"], atol=1e-5)
