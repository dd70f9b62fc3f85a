"""Both faces of the statistics, one entry point: the widget clicked in a real viewer and
``napari-liverct stats`` in its own process give the same result on a real 117-class
TotalSegmentator map (labels checked against numpy on the file as nibabel reads it)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
from qtpy.QtCore import Qt

from clirun import run_cli
from napari_liverct.io.reader import read_nifti_layers
from napari_liverct.results.values import json_safe
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real


def _cli_json(*args) -> dict:
    done = run_cli("stats", *args, "--format", "json", text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_widget_and_cli_give_the_same_statistics_on_a_real_multiclass_map(make_napari_viewer, qtbot):
    from napari_liverct._qt.stats_widget import StatsWidget

    ct, seg = real(EXAMPLE_CT), real(EXAMPLE_SEG_FAST)
    viewer = make_napari_viewer()
    for data, kwargs, kind in read_nifti_layers(str(ct), pair=False) + read_nifti_layers(str(seg), pair=False):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = StatsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image_combo.value, widget.labels_combo.value = viewer.layers[0], viewer.layers[1]
    # liver (5) is the organ; spleen (1) and the right kidney (2) stand in as lesion classes
    # so that lesion rows and a burden are compared too
    widget.organ_text.value, widget.lesion_text.value = "5", "1 2"
    widget.connectivity_combo.value = 6
    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.result is not None, timeout=120_000)

    cli = _cli_json(ct, "--labels", seg, "--organ", "5", "--lesion", "1", "2", "--connectivity", "6")
    shown = json.loads(json.dumps(json_safe(widget.result.to_json())))
    assert cli.pop("files") == {"image": str(ct), "labels": str(seg)} and "files" not in shown
    assert shown == cli  # every row, every figure, bit for bit

    # and both are right: voxel counts and volumes as numpy counts them on nibabel's array
    lab = np.asanyarray(nib.load(seg).dataobj)
    values, counts = np.unique(lab[lab != 0], return_counts=True)
    assert len(values) == 61  # 61 of the 117 TotalSegmentator classes are present
    ml = abs(np.linalg.det(nib.load(seg).affine[:3, :3])) / 1000
    assert [(r["label"], r["voxels"]) for r in cli["labels"]] == list(zip(values.tolist(), counts.tolist()))
    np.testing.assert_allclose([r["volume_ml"] for r in cli["labels"]], counts * ml, rtol=1e-12)
    organ, lesion = int((lab == 5).sum()), int(np.isin(lab, [1, 2]).sum())
    assert cli["tumour_burden"] == lesion / (organ + lesion)
    assert sum(r["voxels"] for r in cli["lesions"]) == lesion
    assert widget.label_table.rowCount() == len(values) and widget.lesion_table.rowCount() == len(cli["lesions"])
