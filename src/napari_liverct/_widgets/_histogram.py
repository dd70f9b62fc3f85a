"""A matplotlib canvas for per-label intensity histograms (log counts), embeddable in Qt."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

__all__ = ["HistogramCanvas"]


class HistogramCanvas(FigureCanvasQTAgg):
    """Step histograms of intensity per label on a log count axis, dark like napari."""

    def __init__(self, parent=None) -> None:
        self.figure = Figure(figsize=(4, 2.6), tight_layout=True, facecolor="#262930")
        super().__init__(self.figure)
        self.setParent(parent)
        self.axes = self.figure.add_subplot(111)
        self.lines: dict[str, object] = {}
        self._style()

    def _style(self) -> None:
        ax = self.axes
        ax.set_facecolor("#262930")
        for spine in ax.spines.values():
            spine.set_color("#888888")
        ax.tick_params(colors="#dddddd", labelsize=8)
        ax.xaxis.label.set_color("#dddddd")
        ax.yaxis.label.set_color("#dddddd")

    def plot(
        self,
        edges: np.ndarray,
        counts: dict[str, np.ndarray],
        colors: dict[str, tuple] | None = None,
        whole: np.ndarray | None = None,
        xlabel: str = "intensity (HU)",
    ) -> None:
        """Draw one step curve per label (and the whole image in grey).

        Parameters
        ----------
        edges
            Shared bin edges.
        counts
            Label name -> counts per bin.
        colors
            Label name -> RGBA colour (the labels layer's).
        whole
            Counts of the whole image, drawn in grey behind the labels.
        """
        ax = self.axes
        ax.clear()
        self._style()
        self.lines = {}
        if whole is not None and np.any(whole):
            ax.stairs(np.maximum(whole, 0), edges, color="#999999", alpha=0.6, label="image (all voxels)")
        for name, c in counts.items():
            color = (colors or {}).get(name)
            art = ax.stairs(c, edges, color=color, linewidth=1.4, label=name)
            self.lines[name] = art
        ax.set_yscale("log")
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("voxels (log)", fontsize=8)
        if counts or whole is not None:
            leg = ax.legend(fontsize=7, facecolor="#262930", edgecolor="#888888")
            for text in leg.get_texts():
                text.set_color("#dddddd")
        self.draw_idle()
