"""Regenerate the README's screenshots with the plugin itself (runs on Xvfb when headless).

.venv/bin/python scripts/make_screenshots.py [OUT_DIR]   # default docs/screenshots

view_2d.png, view_3d.png and snapshot/ are the main job's (``scripts/run.sh``: the example
CT and its offline draft, ``napari-liverct view --example --draft --screenshots``, about
2 minutes on 2 threads); the widget pictures are made on the synthetic phantom.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from napari_liverct.cli.xvfb import ensure_display


def _settle(viewer, seconds: float = 0.5) -> None:
    import time

    from qtpy.QtWidgets import QApplication

    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def main(out: str = "docs/screenshots") -> None:
    ensure_display()
    import napari

    from napari_liverct._napari.session import focus_slice
    from napari_liverct._qt.crop_widget import CropWidget
    from napari_liverct._qt.stats_widget import StatsWidget
    from napari_liverct.volumes.phantom import write_phantom

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = Path(tempfile.mkdtemp(prefix="liverct-sample-"))
    img, lab = write_phantom(sample)

    _main_job(out_dir)

    viewer = napari.Viewer(title="napari-liverct")
    viewer.window.resize(1500, 950)
    viewer.open(str(img), plugin="napari-liverct")
    focus_slice(viewer)
    _settle(viewer)

    stats = StatsWidget(viewer)
    dock = viewer.window.add_dock_widget(stats, name="Statistics")
    stats.compute()
    while stats.result is None:
        _settle(viewer, 0.2)
    stats.go_to_lesion(0)
    _settle(viewer)
    viewer.screenshot(str(out_dir / "stats_widget.png"), canvas_only=False)
    viewer.window.remove_dock_widget(dock)

    crop = CropWidget(viewer)
    dock = viewer.window.add_dock_widget(crop, name="Crop foreground")
    crop.update_preview()
    viewer.reset_view()
    _settle(viewer)
    viewer.screenshot(str(out_dir / "crop_preview.png"), canvas_only=False)
    viewer.window.remove_dock_widget(dock)
    viewer.close()
    _compare_shots(img, lab, out_dir)
    print("written to", out_dir)


def _main_job(out_dir: Path) -> None:
    """The main job's pictures: ``napari-liverct view --example --draft --screenshots`` in its
    own process (its own viewer), the PNGs copied into ``out_dir``."""
    import shutil
    import subprocess

    with tempfile.TemporaryDirectory(prefix="liverct-main-job-") as tmp:
        cmd = [sys.executable, "-m", "napari_liverct.cli", "view", "--example", "--draft", "--screenshots", tmp]
        subprocess.run(cmd, check=True)
        for name in ("view_2d.png", "view_3d.png"):
            shutil.copyfile(Path(tmp) / name, out_dir / name)
        (out_dir / "snapshot").mkdir(exist_ok=True)
        for png in (Path(tmp) / "snapshot").glob("*.png"):
            shutil.copyfile(png, out_dir / "snapshot" / png.name)


def _prediction(lab: Path, folder: Path) -> Path:
    """A prediction: the liver shifted by one voxel, the smallest tumour missed, a tumour invented."""
    import cc3d
    import nibabel as nib
    import numpy as np

    ref = nib.load(lab)
    gt = np.asarray(ref.dataobj).astype(np.uint8)
    cc, n = cc3d.connected_components(gt == 2, connectivity=26, return_N=True)
    smallest = int(np.argmin(np.bincount(cc.ravel())[1:])) + 1
    pred = np.roll(gt, 2, axis=1)
    pred[np.roll(cc == smallest, 2, axis=1)] = 1
    liver = np.argwhere(pred == 1)
    centres = [np.argwhere(cc == t).mean(axis=0) for t in range(1, n + 1)]
    spacing = np.abs(np.diag(ref.affine))[:3]
    far = np.all([np.linalg.norm((liver - c) * spacing, axis=1) > 45 for c in centres], axis=0)
    centre = liver[far][len(liver[far]) // 2]
    ball = np.linalg.norm((np.indices(gt.shape).reshape(3, -1).T - centre) * spacing, axis=1) <= 9.0
    pred[ball.reshape(gt.shape) & (pred == 1)] = 2
    out = folder / "predictions" / "liver_phantom_label.nii.gz"
    out.parent.mkdir(exist_ok=True)
    nib.save(nib.Nifti1Image(pred, ref.affine), out)
    return out


def _compare_shots(img: Path, lab: Path, out_dir: Path) -> None:
    """compare_2d.png (errors by voxel on the missed tumour's slice) and compare_3d.png (distance surface)."""
    import napari

    from napari_liverct._napari.scene3d import anterior_view
    from napari_liverct._qt.compare_widget import CompareWidget
    from napari_liverct.io.reader import read_nifti_layers

    viewer = napari.Viewer(title="napari-liverct")
    viewer.window.resize(1500, 950)
    viewer.open(str(img), plugin="napari-liverct")  # the CT and its labels (the ground truth)
    for data, kwargs, kind in read_nifti_layers(str(_prediction(lab, img.parent)), kind="labels", pair=False):
        kwargs["name"] = "prediction"
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Compare segmentations")
    widget.gt_combo.value = viewer.layers["liver_phantom_label"]
    widget.pred_combo.value = viewer.layers["prediction"]
    widget.run_button.native.click()
    while widget.outcome is None:
        _settle(viewer, 0.2)
    rows = widget.result.lesion_rows()
    missed = next(i for i, r in enumerate(rows) if r["status"] == "FN")
    widget.lesion_table.selectRow(missed)  # moves the viewer to it, as a click does
    _settle(viewer, 1.0)
    viewer.screenshot(str(out_dir / "compare_2d.png"), canvas_only=False)
    viewer.dims.ndisplay = 3
    anterior_view(viewer)
    _settle(viewer, 1.5)
    viewer.screenshot(str(out_dir / "compare_3d.png"), canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    main(*sys.argv[1:2])
