"""The README's DICOM screenshot, made by the plugin on the real DICOM series.

.venv/bin/python scripts/make_dicom_screenshot.py [OUT.png]

Opens the TotalSegmentator sdist's JPEG 2000 CT series (a folder, as a drag and drop
gives it) in napari (Xvfb when headless), docks "DICOM series and SEG" (the folder's
series listed) and "File information" (the DICOM attributes), loads TotalSegmentator's
labels of that series, clicks Save as DICOM SEG, opens the written SEG (the segments
and their names as a labels layer) and saves the window.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from napari_liverct.cli.xvfb import ensure_display
from napari_liverct.segment.weights import data_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_screenshots import _settle  # noqa: E402  (the screenshots' one way to let Qt draw)

DATA = data_dir() / "totalsegmentator"


def main(out: str = "docs/screenshots/dicom_seg.png") -> None:
    ensure_display()
    import napari

    viewer = napari.Viewer(title="napari-liverct")
    viewer.window.resize(1700, 1000)
    folder = DATA / "example_ct_dicom"
    [ct] = viewer.open(str(folder), plugin="napari-liverct")
    _, dicom = viewer.window.add_plugin_dock_widget("napari-liverct", "DICOM series and SEG")
    dicom.folder.setText(str(folder))
    dicom.list_btn.click()
    [ts] = viewer.open(str(DATA / "example_seg_dicom.nii.gz"), plugin="napari-liverct", layer_type="labels")
    seg = Path(tempfile.mkdtemp()) / "totalsegmentator_labels_seg.dcm"
    dicom.labels_combo.setCurrentText(ts.name)
    dicom.out.setText(str(seg))
    dicom.save_btn.click()
    print(dicom.status.text())
    viewer.layers.remove(ts)
    viewer.open(str(seg), plugin="napari-liverct")
    _, info = viewer.window.add_plugin_dock_widget("napari-liverct", "File information", tabify=True)
    viewer.layers.selection.active = ct
    viewer.dims.set_point(0, float(ct.data_to_world((10, 0, 0))[0]))
    viewer.window.resize(1700, 1000)
    viewer.reset_view()
    _settle(viewer, 1.5)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(out, canvas_only=False)
    print(out)
    viewer.close()


if __name__ == "__main__":
    main(*sys.argv[1:2])
