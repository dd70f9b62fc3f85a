"""Label names read from the right place (issue 16): an MSD folder built from symlinks keeps
its dataset.json, ``compare`` on the command line reads the file's own label table, and
``stats`` names unnamed classes without a second pass over the volume."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.volumes.phantom import make_phantom
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

DATASET_NAMES = {"0": "background", "1": "liver", "2": "tumour"}


def _symlinked_msd(tmp_path: Path, n: int = 2) -> Path:
    """An MSD-style folder whose images and labels are symlinks into a shared store.

    Nothing in the folder or file names says liver (no liver task defaults): the only
    source of the names is dataset.json, which lies beside the links, not the targets.
    """
    store = tmp_path / "store" / "blobs"
    store.mkdir(parents=True)
    root = tmp_path / "Dataset_linked"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    training = []
    for i in range(n):
        ph = make_phantom(shape=(48, 48, 16), spacing=(6.0, 6.0, 12.0), seed=i, noise=5.0)
        nib.save(nib.Nifti1Image(ph.image, ph.affine), store / f"img{i:04d}.nii.gz")
        nib.save(nib.Nifti1Image(ph.labels, ph.affine), store / f"lab{i:04d}.nii.gz")
        (root / "imagesTr" / f"case_{i}.nii.gz").symlink_to(store / f"img{i:04d}.nii.gz")
        (root / "labelsTr" / f"case_{i}.nii.gz").symlink_to(store / f"lab{i:04d}.nii.gz")
        training.append({"image": f"./imagesTr/case_{i}.nii.gz", "label": f"./labelsTr/case_{i}.nii.gz"})
    (root / "dataset.json").write_text(
        json.dumps({"name": "linked", "labels": DATASET_NAMES, "numTraining": n, "training": training})
    )
    return root


def _expected() -> dict[int, str]:
    return {int(k): v for k, v in DATASET_NAMES.items()}


def test_find_dataset_json_looks_beside_the_link_first(tmp_path):
    from napari_liverct.labels.tables import find_dataset_json

    root = _symlinked_msd(tmp_path, n=1)
    link = root / "labelsTr" / "case_0.nii.gz"
    assert link.resolve().parent == tmp_path / "store" / "blobs"  # the target has no dataset.json near it
    assert find_dataset_json(link) == root / "dataset.json"
    # a dataset.json near the target is still found when the link's folders have none
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "x.nii.gz").symlink_to(link.resolve())
    (tmp_path / "store" / "dataset.json").write_text(json.dumps({"labels": {"1": "spleen"}}))
    assert find_dataset_json(other / "x.nii.gz") == tmp_path / "store" / "dataset.json"
    # and the link's own folders win over the target's
    assert find_dataset_json(link) == root / "dataset.json"


def test_reader_names_layers_from_dataset_json_beside_symlinks(tmp_path):
    import npe2

    root = _symlinked_msd(tmp_path, n=1)
    npe2.PluginManager.instance().discover()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = npe2.read([str(root / "imagesTr" / "case_0.nii.gz")], plugin_name="napari-liverct", stack=False)
    kinds = {kind: kw for _, kw, kind in layers}
    assert set(kinds) == {"image", "labels"}  # the image brought its labels
    names = kinds["labels"]["metadata"]["label_names"]
    assert names == _expected()
    feats = dict(zip(kinds["labels"]["features"]["index"], kinds["labels"]["features"]["name"]))
    assert feats[1] == "liver" and feats[2] == "tumour"


def test_survey_finds_lesion_classes_through_symlinks(tmp_path):
    from napari_liverct.datasets.folder import load_dataset
    from napari_liverct.survey import survey_case

    root = _symlinked_msd(tmp_path, n=1)
    case = load_dataset(root).cases[0]
    row, _ = survey_case(case.image, case.label, case.id)
    assert not row.error
    assert row.lesion_labels == [2] and "dataset.json" in row.label_names_source
    # the lesion count is the number of 26-connected tumour components (scipy)
    from scipy import ndimage as ndi

    lab = np.asanyarray(nib.load(case.label).dataobj)
    assert row.lesion_count == ndi.label(lab == 2, structure=np.ones((3, 3, 3)))[1] > 0


def test_report_case_page_names_agree_through_symlinks(tmp_path):
    from napari_liverct.report.build import build_report

    root = _symlinked_msd(tmp_path, n=2)
    out = tmp_path / "site"
    build_report(root, out, workers=1, processes=False, progress=False)
    text = (out / "index.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)[1])
    want = {"liver", "tumour"}
    for case in data["cases"]:
        sec = case["section"]
        assert {r["name"] for r in sec["labels"]} == want, sec["labels"]
        # lesion rows exist only when a class is named as a lesion (never "label 2")
        assert sec["n_lesions"] > 0 and {r["label"] for r in sec["lesions"]} == {2}
        assert "label 1" not in json.dumps(sec) and "label 2" not in json.dumps(sec)
    assert "label 1" not in json.dumps(data["cases"])


def test_compare_cli_reads_the_files_own_label_table(tmp_path, capsys):
    """TotalSegmentator's segmentation (liver = 5 in its NIfTI XML label table) against its own
    liver mask: ``--map 1:5`` names class 5 "liver" on the command line, as stats and the widget do."""
    from napari_liverct.cli import main
    from napari_liverct.labels.tables import label_table_from_header

    seg = real(EXAMPLE_SEG_FAST)
    table = label_table_from_header(nib.load(seg).header)  # the oracle: the file's own XML extension
    assert table is not None and table.names[5] == "liver"
    data = np.asanyarray(nib.load(seg).dataobj)
    pred = tmp_path / "pred.nii.gz"
    nib.save(nib.Nifti1Image((data == 5).astype(np.uint8), nib.load(seg).affine), pred)
    capsys.readouterr()
    assert main(["compare", str(seg), str(pred), "--map", "1:5", "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    [cls] = res["classes"]
    assert cls["label"] == 5 and cls["name"] == "liver" and cls["dice"] == 1.0
    assert cls["tp"] == int((data == 5).sum())
    assert main(["compare", str(seg), str(pred), "--map", "1:5"]) == 0
    table_text = capsys.readouterr().out
    assert "liver" in table_text and "label 5" not in table_text
    # stats, and the reader's layer metadata the Compare widget takes its names from, agree
    assert main(["stats", str(real(EXAMPLE_CT)), "--labels", str(seg), "--format", "json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert {r["label"]: r["name"] for r in st["labels"]}[5] == "liver"
    import npe2

    npe2.PluginManager.instance().discover()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [(_, kw, kind)] = npe2.read([str(seg)], plugin_name="napari-liverct", stack=False)
    assert kind == "labels" and kw["metadata"]["label_names"][5] == "liver"


def test_stats_names_unnamed_labels_without_a_second_pass(tmp_path, monkeypatch):
    """Unnamed int32 labels: every value present (np.unique) is named "label N", and
    labels.present_labels (the old redundant pass) is never called."""
    import napari_liverct.labels.tables as labels_mod
    from napari_liverct.stats import stats_for_files

    rng = np.random.default_rng(3)
    img = rng.normal(40, 30, (30, 28, 12)).astype(np.int16)
    lab = np.zeros(img.shape, np.int32)
    lab[3:12, 4:15, 2:8] = 3
    lab[15:25, 5:9, 1:4] = 7
    lab[20:22, 20:24, 9:11] = 12
    nib.save(nib.Nifti1Image(img, np.diag([1.5, 1.5, 3.0, 1])), tmp_path / "ct.nii.gz")
    nib.save(nib.Nifti1Image(lab, np.diag([1.5, 1.5, 3.0, 1])), tmp_path / "masks.nii.gz")

    def boom(*_a, **_k):
        raise AssertionError("present_labels must not run: the engine already counts every label")

    monkeypatch.setattr(labels_mod, "present_labels", boom)
    out = stats_for_files(tmp_path / "ct.nii.gz", tmp_path / "masks.nii.gz")
    got = {r.label: (r.name, r.voxels) for r in out.labels if r.label}
    vals, counts = np.unique(lab[lab != 0], return_counts=True)
    assert got == {int(v): (f"label {int(v)}", int(c)) for v, c in zip(vals, counts)}


@pytest.mark.parametrize("levels", [1, 3])
def test_find_dataset_json_levels_through_a_symlinked_folder(tmp_path, levels):
    """The labels folder itself a symlink into the store: the dataset folder's json is found."""
    from napari_liverct.labels.tables import find_dataset_json

    store = tmp_path / "store"
    (store / "segs").mkdir(parents=True)
    (store / "segs" / "a.nii.gz").write_bytes(b"")
    root = tmp_path / "ds"
    root.mkdir()
    (root / "dataset.json").write_text("{}")
    (root / "labelsTr").symlink_to(store / "segs", target_is_directory=True)
    found = find_dataset_json(root / "labelsTr" / "a.nii.gz", levels=levels)
    assert found == (root / "dataset.json" if levels >= 2 else None)
