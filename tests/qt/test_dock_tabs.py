"""Issue 19.8: the docked widgets' tab titles are read in full in a 1600 x 1000 window."""

from __future__ import annotations

import os
from pathlib import Path

from qtpy.QtWidgets import QApplication, QStyle, QTabBar

from napari_liverct._napari.compat import qt_main_window
from napari_liverct._napari.session import DOCKED_WIDGETS, TAB_TITLES, dock_widgets


def test_dock_tab_titles_are_not_cut(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1600, 1000)
    viewer.open_sample("napari-liverct", "liver_phantom")
    assert dock_widgets(viewer) == []
    for _ in range(5):
        QApplication.processEvents()
    win = qt_main_window(viewer)
    # the main window's own tab bars (one per group of tabified docks)
    bars = [tb for tb in win.findChildren(QTabBar) if tb.parent() is win and tb.isVisible() and tb.count() > 1]
    assert len(bars) == 1
    bar = bars[0]
    assert [bar.tabText(i) for i in range(bar.count())] == [TAB_TITLES[n] for n in DOCKED_WIDGETS]
    hspace = bar.style().pixelMetric(QStyle.PixelMetric.PM_TabBarTabHSpace, None, bar)
    for i in range(bar.count()):
        text = bar.tabText(i)
        need = bar.fontMetrics().horizontalAdvance(text)
        room = bar.tabRect(i).width()
        # Qt elides ("Stati…") when the tab is narrower than its text and padding
        assert room >= need + min(hspace, 10), f"tab {text!r} cut: {room} px for {need} px of text"
        assert bar.tabRect(i).right() <= bar.width(), f"tab {text!r} runs off the tab bar"
    out = os.environ.get("LIVERCT_WIDGET_SHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        viewer.window.screenshot(str(Path(out) / "dock_tabs_1600x1000.png"), canvas_only=False)
        bar.grab().save(str(Path(out) / "dock_tab_bar.png"))
