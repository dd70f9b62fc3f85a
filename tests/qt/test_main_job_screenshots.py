"""The main job's screenshots.

Issue 19.5: the 3D screenshot shows the 3D tumour view as a user sees it after "Show in
3D": the lesion navigator lists the lesions (it said "no lesions yet", because the picture
was made around the docked widget, not through it).  Issue 22.7: the main job opens the
real example CT, drafts it with the Segment widget and its pictures show that draft."""

from __future__ import annotations

import cc3d
import numpy as np
import pytest
from PIL import Image

from napari_liverct._napari import session


def test_view_screenshots_go_through_the_docked_3d_view(make_napari_viewer, phantom_files, tmp_path, monkeypatch):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1600, 1000)
    img, lab = phantom_files
    viewer.open([str(img)], plugin="napari-liverct")  # pairs its labels
    docked: dict = {}
    assert session.dock_widgets(viewer, docked=docked) == []
    view3d = docked["3D tumour view"]

    seen = {}
    save = session._save_png

    def spy(path, pixels):  # what the widget said when each picture was taken
        seen[path.name] = (view3d.lesion_label.text(), viewer.dims.ndisplay)
        save(path, pixels)

    monkeypatch.setattr(session, "_save_png", spy)
    paths = session.screenshots(viewer, tmp_path / "shots", view3d=view3d)
    assert [p.name for p in paths] == ["view_2d.png", "view_3d.png"]

    # the navigator's count is the number of tumour components (26-connected), by cc3d
    labels = next(layer for layer in viewer.layers if layer.name.endswith("_label"))
    n = cc3d.connected_components(np.asarray(labels.data) == 2, connectivity=26, return_N=True)[1]
    text, ndisplay = seen["view_3d.png"]
    assert ndisplay == 3
    assert text.startswith(f"{n} lesion(s)"), text
    # tumours (green) are drawn in the 3D picture, and the viewer is back in 2D afterwards
    rgb = np.asarray(Image.open(paths[1]))[..., :3].astype(int)
    green = (rgb[..., 1] > rgb[..., 0] + 40) & (rgb[..., 1] > rgb[..., 2] + 40)
    assert green.sum() > 500
    assert viewer.dims.ndisplay == 2
    assert all(layer.visible for layer in viewer.layers)


def test_the_main_job_drafts_the_real_ct_and_shows_it(make_napari_viewer, monkeypatch, tmp_path):
    """Issue 22.7: ``scripts/run.sh`` (``view --example --draft``, no display) opens
    TotalSegmentator's example CT, clicks Segment, and its pictures show that CT with the
    draft.  The networks' outputs come from the suite's network cache (tests/conftest.py); everything else
    (widgets, layers, Statistics, 3D view, files) runs as in the command.  Oracles: nibabel
    reads of the example CT, TotalSegmentator's own liver (label 5) and the draft file."""
    import nibabel as nib

    from napari_liverct._napari.layer_utils import layer_disk_view
    from napari_liverct.cli import build_parser
    from napari_liverct.cli.view import session_run
    from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1600, 1000)
    shots = tmp_path / "shots"
    args = build_parser().parse_args(["view", "--example", "--draft", "--threads", "2", "--screenshots", str(shots)])
    seen = {}
    save = session._save_png

    def spy(path, pixels):  # the viewer's state when each picture is taken
        seen[path.name] = {
            "visible": [ly.name for ly in viewer.layers if ly.visible],
            "ndisplay": viewer.dims.ndisplay,
        }
        save(path, pixels)

    monkeypatch.setattr(session, "_save_png", spy)
    docked, paths = session_run(viewer, args, [str(real(EXAMPLE_CT))], shots)

    assert [p.name for p in paths[:3]] == ["view_2d.png", "view_3d.png", "draft.nii.gz"]
    assert sorted(p.name for p in paths[3:]) == ["3d.png", "axial.png", "coronal.png", "sagittal.png"]
    # the real CT is the image shown, unchanged
    ct = viewer.layers["example_ct"]
    ref = nib.load(real(EXAMPLE_CT))
    assert ct.metadata["source_path"] == str(real(EXAMPLE_CT))
    assert np.array_equal(np.asarray(layer_disk_view(ct)[0]), np.asanyarray(ref.dataobj))
    # the draft: a labels layer over it, the same array as draft.nii.gz, liver where
    # TotalSegmentator's liver is
    draft = session.draft_layer(viewer, "example_ct")
    saved = nib.load(paths[2])
    np.testing.assert_allclose(saved.affine, ref.affine)
    labels = np.asanyarray(saved.dataobj)
    assert np.array_equal(np.asarray(layer_disk_view(draft)[0]), labels)
    liver, ts_liver = labels >= 1, np.asanyarray(nib.load(real(EXAMPLE_SEG_FAST)).dataobj) == 5
    dice = 2 * (liver & ts_liver).sum() / (liver.sum() + ts_liver.sum())
    voxel_ml = float(np.prod(ref.header.get_zooms()[:3])) / 1000.0
    assert liver.sum() * voxel_ml > 800 and dice > 0.9, (liver.sum() * voxel_ml, dice)  # an adult liver
    # the Segment widget finished the run it was asked for (liver and tumours)
    seg = docked[session.SEGMENT_WIDGET]
    assert not seg.running and seg.status.value.startswith("done"), seg.status.value
    assert seg.progress.value == seg.progress.max
    # Statistics computed on the CT and the draft: the liver's volume is its voxels' volume
    stats = docked["Statistics"]
    assert stats.labels_combo.value is draft and stats.image_combo.value is ct
    row = next(r for r in stats.result.labels if r.name == "liver")
    assert row.volume_ml == pytest.approx((labels == 1).sum() * voxel_ml, rel=1e-6)
    # the 2D picture is the CT with the draft over it; the 3D one the 3D view of the draft
    assert {"example_ct", draft.name} <= set(seen["view_2d.png"]["visible"])
    assert seen["view_2d.png"]["ndisplay"] == 2 and seen["view_3d.png"]["ndisplay"] == 3
    assert any(name.startswith(draft.name) and "surface" in name for name in seen["view_3d.png"]["visible"])
    liver_rgb = np.array(draft.get_color(1)[:3]) * 255
    shot = np.asarray(Image.open(paths[0]))[..., :3].astype(float)
    # liver-coloured pixels (the labels layer blends the colour over the CT at 0.6)
    near = np.linalg.norm(shot - 0.6 * liver_rgb, axis=-1) < 60
    assert near.sum() > 2000
