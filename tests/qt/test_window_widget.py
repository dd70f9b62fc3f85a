"""The CT window widget's percentile preset in a real viewer."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.gui
def test_display_widget_percentile_preset(make_napari_viewer):
    from napari_liverct._qt.window_widget import PERCENTILE, DisplayWidget

    viewer = make_napari_viewer()
    rng = np.random.default_rng(2)
    mr = viewer.add_image(rng.gamma(2.0, 200.0, (20, 30, 30)).astype(np.float32), name="mr")
    widget = DisplayWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image.value = mr
    widget._preset.value = PERCENTILE
    widget._apply.native.click()
    lo, hi = mr.contrast_limits
    assert lo == pytest.approx(np.percentile(mr.data, 0.5), rel=1e-3)
    assert hi == pytest.approx(np.percentile(mr.data, 99.5), rel=1e-3)
