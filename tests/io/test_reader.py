"""Reader: geometry in every orientation, image vs labels, pairing, names, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import apply_affine, from_matvec

from napari_liverct import napari_get_reader, read_nifti_layers
from napari_liverct.geometry.grids import ObliqueAffineWarning
from napari_liverct.labels.tables import LIVER_COLOR, TUMOUR_COLOR


def ras_to_sPL(xyz):
    """Independent statement of the convention: world = (S, P, L) = (z, -y, -x)."""
    xyz = np.asarray(xyz, float)
    return np.stack([xyz[..., 2], -xyz[..., 1], -xyz[..., 0]], axis=-1)


def _rot(axis: int, degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    c, s = np.cos(t), np.sin(t)
    i, j = [a for a in range(3) if a != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


SPACING = np.diag([0.8, 1.1, 2.5])
ORIENTATIONS = {
    "RAS": from_matvec(SPACING, [-10, 20, -30]),
    "LPS": from_matvec(np.diag([-1, -1, 1]) @ SPACING, [100, 80, -30]),
    "LAS": from_matvec(np.diag([-1, 1, 1]) @ SPACING, [100, -80, 5]),
    "permuted_ASL": from_matvec(np.array([[0, 0, -1], [1, 0, 0], [0, 1, 0]]) @ SPACING, [7, -3, 2]),
    "permuted_SRP": from_matvec(np.array([[0, 1, 0], [0, 0, -1], [1, 0, 0]]) @ SPACING, [0, 50, -40]),
}


def _layer_world(kwargs, idx):
    return np.asarray(kwargs["scale"]) * np.asarray(idx, float) + np.asarray(kwargs["translate"])


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_every_voxel_lands_where_its_affine_says(name, write_nifti_file):
    affine = ORIENTATIONS[name]
    data = np.arange(4 * 5 * 6, dtype=np.int32).reshape(4, 5, 6)
    path = write_nifti_file(f"{name}.nii.gz", data, affine)
    [(view, kw, kind)] = read_nifti_layers(path)
    assert kind == "image"
    assert view.dtype == data.dtype
    assert kw["metadata"]["orientation"] == "".join(nib.aff2axcodes(affine))
    np.testing.assert_allclose(kw["metadata"]["affine"], affine)
    # napari sees only scale + translate with positive scale
    assert all(s > 0 for s in kw["scale"])
    assert "affine" not in kw and "rotate" not in kw
    for disp_idx in np.ndindex(view.shape):
        value = view[disp_idx]
        disk_idx = np.argwhere(data == value)[0]
        expected = ras_to_sPL(apply_affine(affine, disk_idx))
        np.testing.assert_allclose(_layer_world(kw, disp_idx), expected, atol=1e-6)


def test_display_axes_are_superior_posterior_left(write_nifti_file):
    path = write_nifti_file("las.nii", np.zeros((3, 4, 5), np.int16), ORIENTATIONS["LAS"])
    [(view, kw, _)] = read_nifti_layers(path)
    # LAS on disk: i runs left, j anterior, k superior -> display (k, -j, i)
    assert view.shape == (5, 4, 3)
    np.testing.assert_allclose(kw["scale"], (2.5, 1.1, 0.8))


def test_reorientation_is_zero_copy_and_keeps_dtype(write_nifti_file):
    data = (np.arange(2 * 3 * 4) - 1000).astype(np.int16).reshape(2, 3, 4)
    path = write_nifti_file("ct.nii", data, ORIENTATIONS["LPS"])
    [(view, _, _)] = read_nifti_layers(path)
    assert view.dtype == np.int16
    assert np.shares_memory(view, view.base if view.base is not None else view)
    base = view
    while getattr(base, "base", None) is not None:
        base = base.base
    assert isinstance(base, (np.memmap, __import__("mmap").mmap)) or base.__class__.__name__ in ("memmap", "mmap")


def test_oblique_affine_warns_and_keeps_original(write_nifti_file):
    lin = _rot(2, 20.0) @ _rot(0, 10.0) @ SPACING
    affine = from_matvec(lin, [5, 6, 7])
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    path = write_nifti_file("oblique.nii.gz", data, affine)
    with pytest.warns(ObliqueAffineWarning, match="oblique"):
        [(view, kw, _)] = read_nifti_layers(path)
    md = kw["metadata"]
    np.testing.assert_allclose(md["affine"], affine)
    # the residual maps the displayed (axis-aligned) position to the true one exactly
    for disp_idx in [(0, 0, 0), tuple(s // 2 for s in view.shape), tuple(s - 1 for s in view.shape)]:
        disk_idx = np.argwhere(data == view[disp_idx])[0]
        shown = np.r_[_layer_world(kw, disp_idx), 1.0]
        true = (md["residual"] @ shown)[:3]
        np.testing.assert_allclose(true, ras_to_sPL(apply_affine(affine, disk_idx)), atol=1e-6)
        # the closest orthogonal display is within the rotation's reach (a few voxels)
        assert np.linalg.norm(shown[:3] - true) < 30


def test_image_and_labels_with_different_disk_orientation_align(tmp_path):
    """A segmentation written with rows flipped and axes permuted relative to its CT."""
    rng = np.random.default_rng(0)
    ct = rng.integers(-1000, 1000, size=(6, 7, 8)).astype(np.int16)
    seg = (ct > 500).astype(np.uint8)
    ct_aff = ORIENTATIONS["LPS"]
    nib.save(nib.Nifti1Image(ct, ct_aff), tmp_path / "case.nii.gz")
    # labels: flip j and move axes (i, j, k) -> (k, i, j); same world positions
    seg_disk = np.transpose(seg[:, ::-1, :], (2, 0, 1))
    flip_j = from_matvec(np.diag([1, -1, 1]), [0, 6, 0])
    perm = np.zeros((4, 4))
    perm[3, 3] = 1
    perm[0, 1] = perm[1, 2] = perm[2, 0] = 1  # new (a,b,c)=(k,i,j) -> old (i,j,k)=(b,c,a)
    seg_aff = ct_aff @ flip_j @ perm
    nib.save(nib.Nifti1Image(seg_disk, seg_aff), tmp_path / "case_seg.nii.gz")
    layers = read_nifti_layers(tmp_path / "case.nii.gz")
    assert [t for _, _, t in layers] == ["image", "labels"]
    (img, ikw, _), (lab, lkw, _) = layers
    assert img.shape == lab.shape
    np.testing.assert_allclose(ikw["scale"], lkw["scale"])
    np.testing.assert_allclose(ikw["translate"], lkw["translate"], atol=1e-6)
    np.testing.assert_array_equal(lab, (img > 500).astype(np.uint8))


def test_get_reader_is_cheap_and_case_insensitive(tmp_path):
    for name in ["a.nii", "b.NII.GZ", "c.Nii.Gz", "a.nrrd", "d.MHA", "e.mhd", "f.dcm"]:
        assert napari_get_reader(str(tmp_path / name)) is not None  # file need not exist
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "x.png").write_bytes(b"\x89PNG" + bytes(200))
    for name in ["b.tif", "c.nii.zip", "dir/", "folder"]:  # a folder without DICOM files is not ours
        assert napari_get_reader(str(tmp_path / name)) is None
    assert napari_get_reader([str(tmp_path / "a.nii"), str(tmp_path / "b.png")]) is None


def test_through_the_manifest(phantom_files):
    import npe2

    npe2.PluginManager.instance().discover()
    img_path, _ = phantom_files
    layers = npe2.read([str(img_path)], stack=False, plugin_name="napari-liverct")
    assert [t for _, _, t in layers] == ["image", "labels"]
    (_, ikw, _), (lab, lkw, _) = layers
    assert ikw["name"] == "liver" and lkw["name"] == "liver_label"
    assert set(np.unique(lab)) == {0, 1, 2}


def test_labels_rule(tmp_path, write_nifti_file):
    lab = np.zeros((3, 3, 3), np.uint8)
    lab[1, 1, 1] = 2
    ct = np.random.default_rng(0).integers(-1000, 1500, size=(40, 40, 10)).astype(np.int16)
    names = [
        "x_label.nii.gz",
        "x_seg.nii",
        "x_mask.nii.gz",
        "labelsTr/x.nii.gz",
        "y-labels.nii",
        "seg_total_fast.nii.gz",
        "lab_117_case1.nii.gz",
        "label_a.nii",
        "mask_b.nii.gz",
    ]
    for name in names:  # by name alone: CT-like content does not matter
        [(_, _, kind)] = read_nifti_layers(write_nifti_file(name, ct), pair=False)
        assert kind == "labels", name
    [(_, _, kind)] = read_nifti_layers(write_nifti_file("plain.nii.gz", ct))
    assert kind == "image"
    # content rule: a plain-named integer volume with a few non-negative values
    [(_, _, kind)] = read_nifti_layers(write_nifti_file("plain_mask.nii.gz", lab))
    assert kind == "labels"
    mr = np.random.default_rng(1).integers(0, 4000, size=(40, 40, 10)).astype(np.uint16)
    [(_, _, kind)] = read_nifti_layers(write_nifti_file("t1.nii.gz", mr))
    assert kind == "image"
    [(_, _, kind)] = read_nifti_layers(write_nifti_file("intent.nii.gz", lab, intent_code=1002))
    assert kind == "labels"
    [(_, _, kind)] = read_nifti_layers(write_nifti_file("forced.nii.gz", lab), kind="labels")
    assert kind == "labels"


def test_float_labels_become_integers_or_are_refused(write_nifti_file):
    lab = np.zeros((3, 3, 3), np.float32)
    lab[0, 0, 0], lab[1, 1, 1] = 1.0, 2.0
    [(data, _, kind)] = read_nifti_layers(write_nifti_file("f_label.nii.gz", lab))
    assert kind == "labels" and data.dtype == np.uint8
    np.testing.assert_array_equal(np.sort(np.unique(data)), [0, 1, 2])
    lab[2, 2, 2] = 1.5
    bad = write_nifti_file("g_label.nii.gz", lab)
    with pytest.raises(ValueError, match=r"g_label\.nii\.gz.*non-integral"):
        read_nifti_layers(bad)


def test_pairing_msd_layout_and_dataset_json_names(tmp_path):
    root = tmp_path / "Task03_Liver"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    ct = np.full((4, 4, 4), -1000, np.int16)
    lab = np.zeros((4, 4, 4), np.uint8)
    lab[1:3, 1:3, 1:3] = 1
    lab[2, 2, 2] = 2
    nib.save(nib.Nifti1Image(ct, np.eye(4)), root / "imagesTr" / "liver_7.nii.gz")
    nib.save(nib.Nifti1Image(lab, np.eye(4)), root / "labelsTr" / "liver_7.nii.gz")
    (root / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "liver", "2": "cancer"}}))
    layers = read_nifti_layers(root / "imagesTr" / "liver_7.nii.gz")
    assert [t for _, _, t in layers] == ["image", "labels"]
    lkw = layers[1][1]
    assert lkw["metadata"]["label_names"] == {0: "background", 1: "liver", 2: "cancer"}
    assert list(lkw["features"]["name"]) == ["background", "liver", "cancer"]
    assert lkw["colormap"][1] == LIVER_COLOR and lkw["colormap"][2] == TUMOUR_COLOR
    # nnU-Net v2 form {"name": value} and the _0000 channel suffix
    nib.save(nib.Nifti1Image(ct, np.eye(4)), root / "imagesTr" / "liver_8_0000.nii.gz")
    nib.save(nib.Nifti1Image(lab, np.eye(4)), root / "labelsTr" / "liver_8.nii.gz")
    (root / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "liver": 1, "tumor": 2}}))
    layers = read_nifti_layers(root / "imagesTr" / "liver_8_0000.nii.gz")
    assert layers[1][1]["metadata"]["label_names"][2] == "tumor"


def test_default_names_and_distinct_colours(phantom_files):
    _, lab_path = phantom_files
    [(_, kw, kind)] = read_nifti_layers(lab_path)
    assert kind == "labels"
    assert kw["metadata"]["label_names"] == {0: "background", 1: "liver", 2: "tumour"}
    liver, tumour = np.array(kw["colormap"][1][:3]), np.array(kw["colormap"][2][:3])
    assert np.abs(liver - tumour).max() > 0.5


def test_ct_window_without_full_pass(phantom_files):
    img_path, _ = phantom_files
    [(data, kw, _), _] = read_nifti_layers(img_path)
    assert kw["contrast_limits"] == (-160.0, 240.0)  # abdomen W400 / L40
    mr = np.random.default_rng(0).integers(0, 800, (8, 8, 8)).astype(np.int16)
    nib.save(nib.Nifti1Image(mr, np.eye(4)), img_path.parent / "mr.nii")
    [(_, kw, _)] = read_nifti_layers(img_path.parent / "mr.nii")
    assert kw["metadata"]["ct_window"] == "percentile"  # not an HU window for non-CT data
    lo, hi = np.percentile(mr, [0.5, 99.5])
    assert kw["contrast_limits"][0] == pytest.approx(lo, abs=20) and kw["contrast_limits"][1] == pytest.approx(
        hi, abs=20
    )


def test_4d_file_gets_a_leading_slider_axis(write_nifti_file):
    data = np.arange(3 * 4 * 5 * 2, dtype=np.int16).reshape(3, 4, 5, 2)
    [(view, kw, _)] = read_nifti_layers(write_nifti_file("dyn.nii.gz", data, ORIENTATIONS["RAS"]))
    assert view.shape == (2, 5, 4, 3)
    assert len(kw["scale"]) == 4 and kw["scale"][0] == 1.0
    np.testing.assert_array_equal(view[1, :, :, :], np.transpose(data[..., 1], (2, 1, 0))[:, ::-1, ::-1])


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("broken.nii.gz", b"", "empty"),
        ("broken.nii", b"this is not a nifti file at all" * 20, "not a NIfTI"),
        ("broken.nii.gz", b"this is not a nifti file at all" * 20, "not gzip"),
        ("broken.nii.gz", b"\x1f\x8b\x08\x00garbage", "corrupt|truncated|short"),
        ("broken.nii", b"\x5c\x01\x00\x00" + b"\x00" * 100, "short"),
    ],
)
def test_bad_input_names_file_and_problem(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"broken\.nii.*({problem})"):
        read_nifti_layers(path)


def test_truncated_gz_and_absurd_header(tmp_path, write_nifti_file):
    good = write_nifti_file("t.nii.gz", np.random.default_rng(0).normal(size=(20, 20, 20)).astype(np.float32))
    raw = good.read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut\.nii\.gz.*(truncated|corrupt)"):
        read_nifti_layers(tmp_path / "cut.nii.gz")
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((4, 4, 4))
    hdr.set_data_dtype(np.int16)
    hdr["dim"][1:4] = [30000, 30000, 30000]
    hdr["vox_offset"] = 352
    (tmp_path / "huge.nii").write_bytes(hdr.binaryblock + b"\x00" * 4 + b"\x00" * 128)
    with pytest.raises(ValueError, match=r"huge\.nii.*(GiB|absurd|limit)"):
        read_nifti_layers(tmp_path / "huge.nii")


def test_pair_either_reads_completely_or_raises(phantom_files):
    """A broken label sibling stops the whole read: no half-added layers."""
    img_path, lab_path = phantom_files
    lab_path.write_bytes(lab_path.read_bytes()[:100])
    with pytest.raises(ValueError, match="liver_label.nii.gz"):
        read_nifti_layers(img_path)


def test_input_files_are_never_modified(phantom_files):
    img_path, lab_path = phantom_files
    before = (img_path.read_bytes(), lab_path.read_bytes())
    nii = img_path.parent / "raw.nii"
    nib.save(nib.load(img_path), nii)
    raw_before = nii.read_bytes()
    [(view, _, _)] = read_nifti_layers(nii, pair=False)
    view[0, 0, 0] = 1234  # painting into a memory-mapped layer is copy-on-write
    del view
    assert nii.read_bytes() == raw_before
    assert (img_path.read_bytes(), lab_path.read_bytes()) == before


def test_opening_does_not_import_torch(phantom_files):
    img_path, _ = phantom_files
    code = (
        "import sys, napari_liverct, npe2; npe2.PluginManager.instance().discover();"
        f"npe2.read([{str(img_path)!r}], stack=False, plugin_name='napari-liverct');"
        "import napari_liverct._qt.window_widget;"
        "print('torch' in sys.modules, 'monai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"]


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_world_coordinates_match_simpleitk_physical_points(name, write_nifti_file):
    """napari world (S, P, L) reversed is ITK's LPS physical point of the same voxel."""
    sitk = pytest.importorskip("SimpleITK")
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    path = write_nifti_file(f"itk_{name}.nii.gz", data, ORIENTATIONS[name])
    itk_img = sitk.ReadImage(str(path))
    itk_arr = sitk.GetArrayFromImage(itk_img)  # (k, j, i) order
    [(view, kw, _)] = read_nifti_layers(path)
    for disp_idx in [(0, 0, 0), (1, 2, 3), tuple(s - 1 for s in view.shape)]:
        disp_idx = tuple(min(d, s - 1) for d, s in zip(disp_idx, view.shape))
        value = view[disp_idx]
        k, j, i = np.argwhere(itk_arr == value)[0]
        lps = itk_img.TransformIndexToPhysicalPoint((int(i), int(j), int(k)))
        np.testing.assert_allclose(_layer_world(kw, disp_idx)[::-1], lps, atol=1e-4)
