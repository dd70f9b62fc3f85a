"""A matplotlib canvas for per-label intensity histograms (log counts), embeddable in Qt."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

__all__ = ["HistogramCanvas", "MAX_LEGEND_ENTRIES"]

#: Legend entries shown (the labels with most voxels); the rest are summarised.
MAX_LEGEND_ENTRIES = 8


class HistogramCanvas(FigureCanvasQTAgg):
    """Step histograms of intensity per label on a log count axis, dark like napari."""

    def __init__(self, parent=None) -> None:
        # constrained layout keeps the legend (outside, right of the axes) in the figure
        self.figure = Figure(figsize=(4, 2.6), layout="constrained", facecolor="#262930")
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
            self._legend(counts, whole)
        self.draw_idle()

    def _legend(self, counts: dict, whole) -> None:
        """Legend outside the plot (right); with many classes only the largest are listed."""
        ax = self.axes
        handles, labels = ax.get_legend_handles_labels()
        by_name = dict(zip(labels, handles))
        ranked = sorted(counts, key=lambda n: -float(np.sum(counts[n])))
        keep = ranked[:MAX_LEGEND_ENTRIES]
        names = (["image (all voxels)"] if "image (all voxels)" in by_name else []) + keep
        shown_h, shown_l = [by_name[n] for n in names if n in by_name], [n for n in names if n in by_name]
        rest = len(ranked) - len(keep)
        if rest > 0:
            from matplotlib.lines import Line2D

            shown_h.append(Line2D([], [], color="none"))
            shown_l.append(f"+ {rest} more (largest shown)")
        leg = ax.legend(
            shown_h,
            shown_l,
            fontsize=7,
            facecolor="#262930",
            edgecolor="#888888",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            frameon=True,
        )
        for text in leg.get_texts():
            text.set_color("#dddddd")
