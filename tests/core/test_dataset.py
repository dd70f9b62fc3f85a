"""Case discovery (MSD, dataset.json, nnU-Net v2, plain folders) and MONAI data dicts."""

from __future__ import annotations

import json
import os

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.datasets.datalist import cases_to_datalist, decathlon_datalist
from napari_liverct.datasets.folder import Case, find_cases, load_dataset


def _nii(path, value=0, shape=(4, 4, 3)):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full(shape, value, np.int16), np.diag([2.0, 2.0, 3.0, 1.0])), path)
    return path


@pytest.fixture
def msd(tmp_path):
    """An MSD Task03_Liver-like folder with macOS junk files and unsorted lists."""
    root = tmp_path / "Task03_Liver"
    ids = [10, 2, 0]
    for i in ids:
        _nii(root / "imagesTr" / f"liver_{i}.nii.gz")
        _nii(root / "labelsTr" / f"liver_{i}.nii.gz")
        (root / "imagesTr" / f"._liver_{i}.nii.gz").write_bytes(b"\x00\x05\x16\x07junk")
        (root / "labelsTr" / f"._liver_{i}.nii.gz").write_bytes(b"\x00\x05\x16\x07junk")
    for i in (132, 131):
        _nii(root / "imagesTs" / f"liver_{i}.nii.gz")
    (root / "imagesTs" / "._liver_131.nii.gz").write_bytes(b"junk")
    spec = {
        "name": "Liver",
        "labels": {"0": "background", "1": "liver", "2": "cancer"},
        "numTraining": 3,
        "training": [
            {
                "image": f"./imagesTr/liver_{i}.nii.gz",
                "label": f"./labelsTr/liver_{i}.nii.gz",
                "fold": i % 2,
                "extra": "dataset.json",
            }
            for i in ids
        ],
        "test": [f"./imagesTs/liver_{i}.nii.gz" for i in (132, 131)],
    }
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def test_msd_cases_paths_splits_order(msd):
    cases = find_cases(msd)
    assert [c.id for c in cases] == ["liver_0", "liver_2", "liver_10", "liver_131", "liver_132"]
    assert [c.split for c in cases] == ["training"] * 3 + ["test"] * 2
    for c in cases:
        assert c.image == msd / ("imagesTr" if c.split == "training" else "imagesTs") / f"{c.id}.nii.gz"
        assert c.image.is_file() and not c.image.name.startswith("._")
        assert c.label == (msd / "labelsTr" / f"{c.id}.nii.gz" if c.split == "training" else None)
    ds = load_dataset(msd / "dataset.json")  # the json path works the same
    assert ds.cases == cases and ds.layout == "msd" and ds.name == "Liver"
    assert ds.label_names == {0: "background", 1: "liver", 2: "cancer"}


@pytest.mark.parametrize("split", ["training", "test"])
def test_decathlon_datalist_equals_monai(msd, split):
    from monai.data import load_decathlon_datalist

    expected = load_decathlon_datalist(str(msd / "dataset.json"), is_segmentation=True, data_list_key=split)
    assert decathlon_datalist(msd, split) == expected
    assert decathlon_datalist(msd / "dataset.json", split) == expected
    assert all(os.path.isabs(d["image"]) for d in expected)


def test_decathlon_datalist_unknown_split_names_the_file(msd):
    with pytest.raises(ValueError, match=r"dataset\.json.*validation"):
        decathlon_datalist(msd, "validation")


def test_nnunet_v1_listing_without_channel_suffix(tmp_path):
    root = tmp_path / "Task003_Liver"
    _nii(root / "imagesTr" / "liver_7_0000.nii.gz")
    _nii(root / "labelsTr" / "liver_7.nii.gz")
    spec = {"training": [{"image": "./imagesTr/liver_7.nii.gz", "label": "./labelsTr/liver_7.nii.gz"}], "test": []}
    (root / "dataset.json").write_text(json.dumps(spec))
    (case,) = find_cases(root)
    assert case == Case(
        "liver_7", root / "imagesTr" / "liver_7_0000.nii.gz", root / "labelsTr" / "liver_7.nii.gz", "training"
    )


def test_nnunet_v2_raw_folder(tmp_path):
    root = tmp_path / "Dataset003_Liver"
    for cid in ("liver_1", "liver_0"):
        _nii(root / "imagesTr" / f"{cid}_0000.nii.gz")
        (root / "imagesTr" / f"._{cid}_0000.nii.gz").write_bytes(b"junk")
    _nii(root / "labelsTr" / "liver_0.nii.gz")  # liver_1 has no label
    _nii(root / "imagesTs" / "liver_5_0000.nii.gz")
    spec = {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "liver": 1, "tumor": 2},
        "numTraining": 2,
        "file_ending": ".nii.gz",
    }
    (root / "dataset.json").write_text(json.dumps(spec))
    ds = load_dataset(root)
    assert ds.layout == "nnunet"
    assert ds.label_names == {0: "background", 1: "liver", 2: "tumor"}
    assert [(c.id, c.split, c.image.name, c.label.name if c.label else None) for c in ds.cases] == [
        ("liver_0", "training", "liver_0_0000.nii.gz", "liver_0.nii.gz"),
        ("liver_1", "training", "liver_1_0000.nii.gz", None),
        ("liver_5", "test", "liver_5_0000.nii.gz", None),
    ]
    assert decathlon_datalist(root) == [
        {"image": str(root / "imagesTr" / "liver_0_0000.nii.gz"), "label": str(root / "labelsTr" / "liver_0.nii.gz")},
        {"image": str(root / "imagesTr" / "liver_1_0000.nii.gz")},
    ]
    assert cases_to_datalist(ds.cases, "test") == [{"image": str(root / "imagesTs" / "liver_5_0000.nii.gz")}]


def test_nnunet_v2_non_nifti_ending_is_refused(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0}, "file_ending": ".mha"}))
    with pytest.raises(ValueError, match=r"dataset\.json.*\.mha.*NIfTI"):
        find_cases(tmp_path)


def test_plain_folder_pairs(tmp_path):
    for name in ("a.nii.gz", "a_label.nii.gz", "b.nii", "c.nii.gz", "c_seg.nii.gz", "scan10.nii.gz", "scan9.nii.gz"):
        _nii(tmp_path / name)
    (tmp_path / "._a.nii.gz").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_text("not nifti")
    cases = find_cases(tmp_path)
    got = [(c.id, c.split, c.label.name if c.label else None) for c in cases]
    assert got == [
        ("a", "training", "a_label.nii.gz"),
        ("c", "training", "c_seg.nii.gz"),
        ("b", "unlabelled", None),
        ("scan9", "unlabelled", None),
        ("scan10", "unlabelled", None),
    ]
    assert all(c.image.parent == tmp_path for c in cases)


def test_msd_layout_without_dataset_json(tmp_path):
    _nii(tmp_path / "imagesTr" / "liver_3.nii.gz")
    _nii(tmp_path / "labelsTr" / "liver_3.nii.gz")
    _nii(tmp_path / "imagesTs" / "liver_4.nii.gz")
    (tmp_path / "imagesTr" / "._liver_3.nii.gz").write_bytes(b"junk")
    cases = find_cases(tmp_path)
    assert [(c.id, c.split, c.label) for c in cases] == [
        ("liver_3", "training", tmp_path / "labelsTr" / "liver_3.nii.gz"),
        ("liver_4", "test", None),
    ]


def test_errors_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="nowhere.*no such file"):
        find_cases(tmp_path / "nowhere")
    bad = tmp_path / "dataset.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"dataset\.json.*cannot read"):
        find_cases(tmp_path)
    img = _nii(tmp_path / "x.nii.gz")
    with pytest.raises(ValueError, match="x.nii.gz.*dataset folder or a dataset.json"):
        find_cases(img)


@pytest.mark.parametrize(
    "content, why",
    [(b"[1, 2]", "must hold a JSON object"), (b"{not json", "JSONDecodeError"), (b"\xff\xfe{}", "UnicodeDecodeError")],
)
def test_one_reader_of_dataset_json(tmp_path, content, why):
    """dataset.json is parsed by one function (labels.read_dataset_json) for the dataset loader (refuses,
    naming the file), the label names (warn and go on) and the CT window's modality (ignores it)."""
    from napari_liverct.display.layers import dataset_modality
    from napari_liverct.labels.tables import DatasetJsonError, label_table_for, read_dataset_json

    (tmp_path / "labelsTr").mkdir()
    seg = tmp_path / "labelsTr" / "case_0.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), np.eye(4)), seg)
    js = tmp_path / "dataset.json"
    js.write_bytes(content)
    with pytest.raises(DatasetJsonError, match=why) as exc:
        read_dataset_json(js)
    assert str(js) in str(exc.value)
    with pytest.raises(ValueError, match=why):
        load_dataset(tmp_path)
    expect_warning = why != "must hold a JSON object"  # valid JSON that is no object: "maps no label ids"
    with pytest.warns(UserWarning, match="not readable JSON" if expect_warning else "maps no label ids"):
        table = label_table_for(seg)
    assert table.names.get(1) is None or table.names[1] == "label 1"
    assert dataset_modality(seg) is None
    js.write_text(json.dumps({"labels": {"0": "background", "1": "liver"}, "modality": {"0": "CT"}}))
    assert read_dataset_json(js)["labels"]["1"] == "liver"
    assert label_table_for(seg).names[1] == "liver" and dataset_modality(seg) == "CT"
