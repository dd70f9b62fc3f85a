"""The helper layers of Correct draft: the strokes painted for Grow / Fill between slices, and
the points clicked for a split or merge.  Each is one layer, reused, tagged as the plugin's
own output (never offered as an input), on the grid of the labels being corrected."""

from __future__ import annotations

import numpy as np

from .layer_utils import layer_data_like
from .pick import tag_output

__all__ = ["points_layer", "strokes_layer"]


def strokes_layer(viewer, labels, shape, affine: np.ndarray, kind: str):
    """A new empty Labels layer on ``labels``' grid for strokes (1 foreground, 2 background);
    ``shape`` and ``affine`` are the labels' array as stored on disk and its affine."""
    zeros = np.zeros(shape, np.uint8)
    data, kwargs, _ = layer_data_like(labels, zeros, affine, "labels")
    kwargs["name"] = f"{labels.name} strokes (1 foreground, 2 background)"
    kwargs["metadata"] = tag_output(kwargs.get("metadata"), kind)
    kwargs.pop("features", None)
    layer = viewer.add_labels(data, **kwargs)
    viewer.layers.selection.active = labels
    return layer


def points_layer(viewer, labels, kind: str):
    """A new empty Points layer for the points clicked on ``labels`` for a split or merge."""
    layer = viewer.add_points(
        np.zeros((0, 3)),
        name=f"{labels.name} clicked points (split/merge)",
        size=6,
        face_color="magenta",  # far from every errors colour of Compare (colour_clashes)
        border_color="white",
        metadata=tag_output({}, kind),
    )
    viewer.layers.selection.active = labels
    return layer
