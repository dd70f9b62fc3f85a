"""Issue 10: the display window follows the modality and content (lung CT, abdomen CT, MR)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.display.layers import choose_window, window_limits
from napari_liverct.io.reader import read_nifti_layers


def _body(shape=(64, 64, 40), lung_fraction=0.0, seed=0):
    """Synthetic CT (HU, i j k = x y z): air outside an elliptic body of soft tissue and fat,
    with two lungs filling about ``lung_fraction`` of the body."""
    rng = np.random.default_rng(seed)
    i, j, _k = np.indices(shape)
    ci, cj = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    r = ((i - ci) / (0.45 * shape[0])) ** 2 + ((j - cj) / (0.35 * shape[1])) ** 2
    vol = np.full(shape, -1000.0)
    body = r <= 1
    vol[body] = 40.0
    vol[body & (r > 0.7)] = -100.0  # fat
    if lung_fraction:
        # two discs left and right of the centre, radius for the wanted share
        rad = np.sqrt(lung_fraction * body[..., 0].sum() / (2 * np.pi))
        for c in (ci - 0.22 * shape[0], ci + 0.22 * shape[0]):
            vol[((i - c) ** 2 + (j - cj) ** 2) <= rad**2] = -850.0
    vol[body & (r < 0.05)] = 700.0  # a bone
    return (vol + rng.normal(0, 15, shape)).astype(np.int16)


def _view(vol):
    """The array as the reader gives it to the window rule: head-foot (k) axis first."""
    return np.moveaxis(vol, 2, 0)


def test_chest_ct_gets_the_lung_window_abdomen_ct_the_abdomen_window():
    assert choose_window(_view(_body(lung_fraction=0.45))) == ("lung", window_limits("lung"))
    assert choose_window(_view(_body(lung_fraction=0.05))) == ("abdomen", window_limits("abdomen"))
    assert choose_window(_view(_body())) == ("abdomen", window_limits("abdomen"))


def test_mr_gets_a_percentile_window_not_hu():
    rng = np.random.default_rng(1)
    mr = np.clip(rng.gamma(2.0, 200.0, (48, 48, 30)), 0, 4000).astype(np.int16)
    name, (lo, hi) = choose_window(mr)
    assert name == "percentile"
    sample = mr[::1, ::1, ::1]
    assert lo == pytest.approx(np.percentile(sample, 0.5)) and hi == pytest.approx(np.percentile(sample, 99.5))
    # a declared MR is never given an HU window, even when its values could pass for HU
    name, _ = choose_window(_body(), modality="MRI")
    assert name == "percentile"
    # float MR in [0, 1] with NaNs
    f = rng.random((20, 20, 20)).astype(np.float32)
    f[0, 0, 0] = np.nan
    name, (lo, hi) = choose_window(f)
    assert name == "percentile" and 0 <= lo < hi <= 1
    assert choose_window(np.zeros((5, 5, 5), np.int16)) is None


def test_reader_uses_dataset_json_modality_and_content(tmp_path):
    aff = np.diag([0.8, 0.8, 2.5, 1.0])
    for task, modality, vol, expected in (
        ("Task06_Lung", "CT", _body(lung_fraction=0.5), "lung"),
        ("Task03_Liver", "CT", _body(lung_fraction=0.03), "abdomen"),
        ("Task01_BrainTumour", "FLAIR", _body(), "percentile"),  # HU-like values, but MR
    ):
        folder = tmp_path / task / "imagesTr"
        folder.mkdir(parents=True)
        (tmp_path / task / "dataset.json").write_text(json.dumps({"modality": {"0": modality}, "labels": {}}))
        nib.save(nib.Nifti1Image(vol, aff), folder / "case_001.nii.gz")
        [(_data, kw, kind)] = read_nifti_layers(folder / "case_001.nii.gz", kind="image")
        assert kind == "image"
        assert kw["metadata"]["ct_window"] == expected, task
        assert kw["metadata"]["modality"] == modality
        if expected != "percentile":
            assert kw["contrast_limits"] == window_limits(expected)
        else:
            lo, hi = kw["contrast_limits"]
            assert lo < hi and not (lo, hi) == window_limits("abdomen")
