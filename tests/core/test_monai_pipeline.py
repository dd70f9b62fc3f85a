"""The tutorial's MONAI pipeline: output lands where the original voxels are."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.crop.foreground import foreground_box
from napari_liverct.crop.monai_pipeline import format_meta, pipeline_layer_data, run_pipeline
from napari_liverct.display.layers import array_to_layer_data
from napari_liverct.geometry.grids import layer_world_affine

pytest.importorskip("monai")


def _world_centroid(layer_data, value):
    """Centroid in napari world mm of voxels == value of a LayerData tuple (plain numpy)."""
    data, kwargs, _ = layer_data
    idx = np.argwhere(np.asarray(data) == value)
    world = layer_world_affine(kwargs)
    return (np.c_[idx, np.ones(len(idx))] @ world.T)[:, :3].mean(0)


@pytest.mark.parametrize(
    "orientation, spacing",
    [(None, None), ("RAS", None), ("RAS", (3.0, 3.5, 4.0)), ("LPI", (4.0, 3.0, 6.0))],
)
def test_monai_sample_lands_on_the_original_voxels(phantom_files, orientation, spacing):
    img_path, lab_path = phantom_files
    src = nib.load(lab_path)
    orig = array_to_layer_data(np.asanyarray(src.dataobj), src.affine, kind="labels", name="orig")
    res = run_pipeline(
        img_path,
        lab_path,
        orientation=orientation,
        spacing=spacing,
        intensity_range=(-57, 164, 0.0, 1.0, True),
        margin=3,
    )
    image_ld, label_ld = pipeline_layer_data(res)
    assert label_ld[1]["name"] == "liver_label (MONAI)" and label_ld[2] == "labels"
    assert image_ld[0].shape == label_ld[0].shape
    voxel = max(np.linalg.norm(src.affine[:3, :3], axis=0).max(), *(spacing or (0,)))
    for value in (1, 2):
        a, b = _world_centroid(orig, value), _world_centroid(label_ld, value)
        assert np.linalg.norm(a - b) < voxel / 2, (value, a, b)
    if orientation == "RAS":
        assert nib.aff2axcodes(res["affine"]) == ("R", "A", "S")


def test_no_resampling_matches_our_crop_of_the_stored_array(phantom_files):
    img_path, lab_path = phantom_files
    img = nib.load(img_path)
    stored = np.asanyarray(img.dataobj).astype(np.float32)  # LoadImaged's default dtype
    res = run_pipeline(img_path, lab_path, select_threshold=-500, margin=(2, 0, 1), k_divisible=16)
    start, end = foreground_box(stored, threshold=-500, margin=(2, 0, 1), k_divisible=16)
    assert res["meta"]["foreground_start_coord"] == start.tolist()
    assert res["meta"]["foreground_end_coord"] == end.tolist()
    assert res["meta"]["shape"] == (1, *(end - start).tolist())
    # every output voxel maps (via MONAI's affine) to the input voxel it came from
    idx = np.argwhere(np.ones(res["image"].shape, bool))[::53]
    src_idx = idx + start
    inside = np.all((src_idx >= 0) & (src_idx < stored.shape), axis=1)
    np.testing.assert_allclose(
        nib.affines.apply_affine(res["affine"], idx), nib.affines.apply_affine(img.affine, src_idx), atol=1e-4
    )
    np.testing.assert_array_equal(res["image"][tuple(idx[inside].T)], stored[tuple(src_idx[inside].T)])
    text = format_meta(res["meta"])
    assert "foreground_start_coord: " + str(start.tolist()) in text


def test_empty_foreground_is_reported(tmp_path, write_nifti_file):
    path = write_nifti_file("air.nii.gz", np.full((6, 7, 8), -1000, np.int16))
    with pytest.raises(ValueError, match="air.nii.gz: empty foreground"):
        run_pipeline(path)
