"""Issue 19.5: the main job's 3D screenshot shows the 3D tumour view as a user sees it
after "Show in 3D": the lesion navigator lists the lesions (it said "no lesions yet",
because the picture was made around the docked widget, not through it)."""

from __future__ import annotations

import cc3d
import numpy as np
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
