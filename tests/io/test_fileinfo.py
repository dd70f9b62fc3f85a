"""Issue 19: "what is in the file" against nibabel's own reading of the same header."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.io.reader import read_nifti_layers
from napari_liverct.volumes.fileinfo import affine_form, file_info, file_info_json, file_info_text
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

LPS = np.array([[-0.8, 0, 0, 100], [0, -0.8, 0, 120], [0, 0, 2.5, -300], [0, 0, 0, 1.0]])


def _info(path, kind=None):
    [(_d, kw, _k)] = read_nifti_layers(path, kind=kind, pair=False)
    return file_info(kw["metadata"])


def _write(tmp_path, name, sform_code, qform_code, sform=LPS, qform=LPS):
    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), None)
    img.header.set_sform(sform, code=sform_code)
    img.header.set_qform(qform, code=qform_code)
    path = tmp_path / name
    nib.save(img, path)
    return path


@pytest.mark.parametrize(
    ("sform_code", "qform_code", "form"),
    [(1, 1, "sform"), (2, 0, "sform"), (0, 1, "qform"), (0, 0, "pixdim")],
)
def test_the_form_used_is_the_one_nibabel_uses(tmp_path, sform_code, qform_code, form):
    qform = LPS.copy()
    qform[:3, 3] += 7.0  # a qform that differs from the sform, so the winner is visible
    path = _write(tmp_path, f"f{sform_code}{qform_code}.nii.gz", sform_code, qform_code, qform=qform)
    img = nib.load(path)
    info = _info(path)
    assert info["affine_used"] == form
    assert np.allclose(info["affine"], img.affine, atol=1e-5)  # nibabel's affine is that form's
    ref = {"sform": img.header.get_sform(), "qform": img.header.get_qform(), "pixdim": img.header.get_base_affine()}
    assert np.allclose(ref[form], img.affine, atol=1e-5)
    assert f"sform_code is {sform_code}" in info["affine_why"] or form != "sform"
    assert info["sform_code"].startswith(str(sform_code)) and info["qform_code"].startswith(str(qform_code))


def test_a_broken_sform_gives_way_to_the_qform_and_says_so(tmp_path):
    broken = np.zeros((4, 4))
    broken[3, 3] = 1
    path = _write(tmp_path, "broken.nii.gz", 1, 1, sform=broken)
    with pytest.warns(UserWarning, match="qform instead"):
        info = _info(path)
    assert info["affine_used"] == "qform"
    assert "not usable" in info["affine_why"]
    assert np.allclose(info["affine"], nib.load(path).header.get_qform(), atol=1e-5)


def test_real_ct_and_totalsegmentator_map_header_as_nibabel_reads_it():
    for path, kind in ((real(EXAMPLE_CT), "image"), (real(EXAMPLE_SEG_FAST), "labels")):
        hdr = nib.load(path).header
        info = _info(path, kind)
        assert info["dimensions"] == list(hdr.get_data_shape())
        assert info["spacing"] == pytest.approx([float(v) for v in hdr.get_zooms()])
        assert info["orientation"] == "".join(nib.aff2axcodes(nib.load(path).affine))
        assert info["datatype"].split()[0] == str(int(hdr["datatype"]))
        assert info["datatype"].split()[1] == nib.nifti1.data_type_codes.niistring[int(hdr["datatype"])]
        for form in ("sform", "qform"):  # a form whose code is 0 is not set
            if int(hdr[f"{form}_code"]) > 0:
                assert np.allclose(info[form], getattr(hdr, f"get_{form}")(), atol=1e-5)
            else:
                assert info[form] is None
        assert [e["code"] for e in info["extensions"]] == [e.get_code() for e in hdr.extensions]
        assert [e["bytes"] for e in info["extensions"]] == [len(e.get_content()) for e in hdr.extensions]
        # the file's scaling as nibabel applies it (nib.load's header has it reset to nan)
        proxy = nib.load(path).dataobj
        assert (info["scl_slope"], info["scl_inter"]) == (float(proxy.slope), float(proxy.inter))
        # how the stored axes are shown: napari (z, y, x) = (S, P, L); a stored axis
        # running R, A or I is flipped (nibabel's axis codes of the file's affine)
        for a, code in enumerate(nib.aff2axcodes(nib.load(path).affine)):
            target = {"S": "z (S)", "I": "z (S)", "P": "y (P)", "A": "y (P)", "L": "x (L)", "R": "x (L)"}[code]
            flipped = " flipped" if code in "IAR" else ""
            assert f"{target} = stored {'ijk'[a]}{flipped}" in info["shown_as"]
        # what the reader returned: nibabel's dataobj dtype (scaling applied or not)
        assert info["read_as"] == str(np.asanyarray(nib.load(path).dataobj).dtype)
        text = file_info_text(info)
        assert f"dimensions: {' x '.join(map(str, hdr.get_data_shape()))}" in text
        assert json.loads(file_info_json(info)) == json.loads(json.dumps(info))
    # the segmentation's label table, from the file's own XML extension
    assert "LabelTable" in info["extensions"][0]["content"]
    assert info["label_table"]["labels"]["5"] == "liver"
    assert "file" in info["label_table"]["source"] or "table" in info["label_table"]["source"]


def test_layer_not_from_a_file_is_refused_with_a_message():
    with pytest.raises(ValueError, match="not read from a NIfTI, DICOM, NRRD or MetaImage file"):
        file_info({"source_path": None})


def test_affine_form_notes_an_affine_that_is_not_the_forms(tmp_path):
    path = _write(tmp_path, "x.nii.gz", 1, 1)
    hdr = nib.load(path).header
    form, why = affine_form(hdr, np.eye(4))
    assert form == "sform" and "differs" in why


def test_scaled_file_says_it_was_read_with_its_slope(tmp_path):
    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    img.header.set_slope_inter(0.5, -10.0)
    path = tmp_path / "scaled.nii.gz"
    nib.save(img, path)
    info = _info(path, "image")
    ref = np.asanyarray(nib.load(path).dataobj)
    assert (info["scl_slope"], info["scl_inter"]) == (0.5, -10.0)
    assert info["scaling_applied"] is True and info["read_as"] == str(ref.dtype)
    assert f"read as: {ref.dtype} (scl_slope/scl_inter applied)" in file_info_text(info)
