"""Names survive a save (issue 22 item 4): whatever a labels layer's names came from, the
npe2 writer (what File > Save Selected Layers calls) stores them, with the layer's colours,
in the file's own label table, and npe2's read of the saved file gives them back.

Sources: the file's label table (TotalSegmentator's own segmentation), dataset.json, a
sidecar JSON, the liver task's file-name defaults, and the user (names edited in the
layer's features table, a colour changed).  Each file is saved away from its folder, so
only the file itself can carry the names.  Oracles: the saved header's XML read with
ElementTree (not the plugin's parser), napari's own Labels layer state before the save.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import nibabel as nib
import npe2
import numpy as np
import pandas as pd
import pytest

from realdata import real

PLUGIN = "napari-liverct"


@pytest.fixture(autouse=True, scope="module")
def _manifest():
    npe2.PluginManager.instance().discover()


def _open(path):
    """npe2's read of ``path`` as a napari Labels layer (as File > Open makes it)."""
    from napari.layers import Labels

    [(data, kwargs, kind)] = npe2.read([str(path)], stack=False, plugin_name=PLUGIN)
    assert kind == "labels"
    return Labels(data, **kwargs)


def _save(layer, path) -> None:
    data, meta, kind = layer.as_layer_data_tuple()
    assert npe2.write(str(path), [(data, meta, kind)], plugin_name=PLUGIN) == [str(path)]


def _file_table(path) -> dict[int, tuple[str, tuple]]:
    """{key: (name, rgba)} of the Caret XML extensions in the file's header (ElementTree)."""
    tables = []
    for ext in nib.load(path).header.extensions:
        raw = ext.get_content()
        raw = raw.encode() if isinstance(raw, str) else bytes(raw)
        if b"CaretExtension" not in raw:
            continue
        root = ET.fromstring(raw.strip(b"\x00"))
        tables.append(
            {
                int(lab.get("Key")): (
                    lab.text.strip(),
                    tuple(float(lab.get(c)) for c in ("Red", "Green", "Blue", "Alpha")),
                )
                for lab in root.iter("Label")
            }
        )
    assert len(tables) <= 1, "more than one label table"
    return tables[0] if tables else {}


def _round_trip(layer, out) -> object:
    """Save ``layer`` to ``out``, check the file's table holds its names and colours, reopen."""
    _save(layer, out)
    names = {k: v for k, v in layer.metadata["label_names"].items() if k != 0}
    edited = {int(i): n for i, n in zip(layer.features.get("index", []), layer.features.get("name", []))}
    names.update({k: n for k, n in edited.items() if k != 0 and not n.startswith("label ")})
    table = _file_table(out)
    assert {k: n for k, (n, _) in table.items()} == names
    for key, (_, rgba) in table.items():
        np.testing.assert_allclose(rgba, layer.colormap.color_dict[key], atol=1e-4)
    back = _open(out)
    assert back.metadata["label_names_source"] == "the file's own label table"
    assert {k: v for k, v in back.metadata["label_names"].items() if k != 0} == names
    for key in names:
        np.testing.assert_allclose(back.colormap.color_dict[key], layer.colormap.color_dict[key], atol=1e-4)
    np.testing.assert_array_equal(back.data, layer.data)
    return back


def _labels(shape=(24, 20, 12)) -> np.ndarray:
    lab = np.zeros(shape, np.uint8)
    lab[4:18, 4:16, 2:10] = 1
    lab[8:12, 8:12, 4:8] = 2
    return lab


def _roles(layer):
    from napari_liverct._napari.layer_utils import default_label_roles

    return default_label_roles(layer)


def test_names_from_the_files_own_table(tmp_path):
    """TotalSegmentator's segmentation: 117 names (present or not), saved elsewhere, all back."""
    src = real("totalsegmentator/example_seg_fast.nii.gz")
    layer = _open(src)
    assert (
        layer.metadata["label_names_source"] == "the file's own label table"
        and len(layer.metadata["label_names"]) > 100
    )
    back = _round_trip(layer, tmp_path / "out" / "seg.nii.gz")
    assert back.metadata["label_names"][5] == "liver"
    header_before = nib.load(src).header
    assert len(nib.load(tmp_path / "out" / "seg.nii.gz").header.extensions) <= len(header_before.extensions)


def test_names_from_dataset_json_and_statistics_finds_the_lesion_class(tmp_path):
    root = tmp_path / "Task99_Abdomen"
    (root / "labelsTr").mkdir(parents=True)
    nib.save(nib.Nifti1Image(_labels(), np.diag([1.5, 1.5, 3.0, 1.0])), root / "labelsTr" / "case_0.nii.gz")
    (root / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "liver", "2": "cancer"}}))
    layer = _open(root / "labelsTr" / "case_0.nii.gz")
    assert layer.metadata["label_names_source"].startswith("dataset.json") and _roles(layer) == ([1], [2])
    back = _round_trip(layer, tmp_path / "elsewhere" / "case_0.nii.gz")
    assert _roles(back) == ([1], [2])  # Statistics' organ and lesion classes, from the names


def test_names_from_a_sidecar(tmp_path):
    src = tmp_path / "in" / "seg.nii.gz"
    src.parent.mkdir()
    nib.save(nib.Nifti1Image(_labels(), np.eye(4)), src)
    (src.parent / "seg.json").write_text(json.dumps({"labels": {"1": "liver", "2": "metastasis"}}))
    layer = _open(src)
    assert layer.metadata["label_names_source"] == "sidecar seg.json"
    back = _round_trip(layer, tmp_path / "out" / "renamed.nii.gz")
    assert _roles(back) == ([1], [2])


def test_names_from_the_liver_file_name(tmp_path):
    src = tmp_path / "in" / "liver_7.nii.gz"
    src.parent.mkdir()
    nib.save(nib.Nifti1Image(_labels(), np.eye(4)), src)
    layer = _open(src)
    assert layer.metadata["label_names_source"].startswith("liver task defaults")
    back = _round_trip(layer, tmp_path / "out" / "draft.nii.gz")
    assert back.metadata["label_names"][2] == "tumour" and _roles(back) == ([1], [2])


def test_names_and_colours_the_user_edited(tmp_path):
    from napari.utils.colormaps import DirectLabelColormap

    src = tmp_path / "in" / "mask.nii.gz"
    src.parent.mkdir()
    nib.save(nib.Nifti1Image(_labels(), np.eye(4)), src)
    layer = _open(src)
    assert layer.metadata["label_names"] == {0: "background", 1: "label 1", 2: "label 2"}
    layer.features = pd.DataFrame({"index": [0, 1, 2], "name": ["background", "liver", "HCC"]})
    colors = {0: (0, 0, 0, 0), 1: (0.9, 0.1, 0.1, 1.0), 2: (0.1, 0.2, 0.95, 1.0), None: (0.5, 0.5, 0.5, 1.0)}
    layer.colormap = DirectLabelColormap(color_dict=colors)
    back = _round_trip(layer, tmp_path / "out" / "mask.nii.gz")
    assert back.metadata["label_names"] == {0: "background", 1: "liver", 2: "HCC"} and _roles(back) == ([1], [2])
    np.testing.assert_allclose(back.colormap.color_dict[2], colors[2], atol=1e-4)


def test_labels_nobody_named_get_no_invented_table(tmp_path):
    src = tmp_path / "in" / "mask.nii.gz"
    src.parent.mkdir()
    nib.save(nib.Nifti1Image(_labels(), np.eye(4)), src)
    out = tmp_path / "out" / "mask.nii.gz"
    _save(_open(src), out)
    assert _file_table(out) == {}  # "label 1" is a placeholder, not a name: nothing written
    assert _open(out).metadata["label_names"] == {0: "background", 1: "label 1", 2: "label 2"}


@pytest.mark.gui
def test_file_save_selected_layers_keeps_the_dataset_json_names(make_napari_viewer, tmp_path):
    """napari's own save (File > Save Selected Layers) of a layer named by dataset.json."""
    root = tmp_path / "Task99_Abdomen"
    (root / "labelsTr").mkdir(parents=True)
    nib.save(nib.Nifti1Image(_labels(), np.diag([1.5, 1.5, 3.0, 1.0])), root / "labelsTr" / "case_0.nii.gz")
    (root / "dataset.json").write_text(json.dumps({"labels": {"1": "liver", "2": "cancer"}}))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(root / "labelsTr" / "case_0.nii.gz"), plugin=PLUGIN)
    viewer.layers.selection = {layer}
    out = tmp_path / "saved" / "case_0.nii.gz"
    assert viewer.layers.save(str(out), selected=True, plugin=PLUGIN) == [str(out)]
    assert {k: n for k, (n, _) in _file_table(out).items()} == {1: "liver", 2: "cancer"}
    [back] = viewer.open(str(out), plugin=PLUGIN)
    assert back.metadata["label_names"] == {0: "background", 1: "liver", 2: "cancer"}
