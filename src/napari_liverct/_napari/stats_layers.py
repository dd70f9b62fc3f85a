"""The napari face of the Statistics widget, without Qt: layers in, arrays out; results onto layers.

* :func:`stats_inputs`: the image and labels layers as the stored-order arrays the
  core measures (``layer_disk_view``), the labels put on the image grid by the rule
  of ``napari-liverct stats`` (flips/permutations are the same grid; resampling only
  when asked), the class names and the oblique residual of the grid.
* :func:`write_label_features`: per-label results into the labels layer's
  ``features`` (napari's own features table shows them).
* :func:`lesion_rings`: a Points layer with a ring around every lesion, placed
  through :func:`~napari_liverct._napari.layer_utils.world_position` (the results
  hold RAS mm).
* :func:`summary_text`: the line over the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .compat import camera_of
from .layer_utils import format_label_list, layer_disk_view, world_position
from .navigate import MARKER_LINE_PX

if TYPE_CHECKING:
    from ..stats.results import LesionStats, StatsResult

__all__ = [
    "StatsInputs",
    "stats_inputs",
    "write_label_features",
    "lesion_rings",
    "select_ring",
    "summary_text",
    "RING_COLOR",
    "SELECTED_COLOR",
]

RING_COLOR = np.array([0.0, 0.9, 1.0, 0.9])
SELECTED_COLOR = np.array([1.0, 0.9, 0.0, 1.0])


@dataclass
class StatsInputs:
    """What the core's ``iter_stats_on_grid`` needs, taken from the layers."""

    image: np.ndarray | None
    labels: np.ndarray | None
    affine: np.ndarray
    names: dict
    residual: np.ndarray | None
    grid_note: str | None = None


def stats_inputs(image_layer, labels_layer, resample: bool = False) -> StatsInputs:
    """Arrays, affine, names and residual of the chosen layers (ValueError / GridMismatchError readable)."""
    from ..geometry.grids import conform_to_grid

    if image_layer is None and labels_layer is None:
        raise ValueError("Pick an image layer and/or a labels layer.")
    image = affine = labels = None
    note, names = None, {}
    if image_layer is not None:
        image, affine = layer_disk_view(image_layer)
    if labels_layer is not None:
        labels, lab_affine = layer_disk_view(labels_layer)
        if image is not None:
            labels, note = conform_to_grid(
                labels,
                lab_affine,
                image.shape,
                affine,
                resample=bool(resample),
                names=(f"labels '{labels_layer.name}'", f"image '{image_layer.name}'"),
                hint="tick 'resample labels onto the image grid' to resample them (nearest neighbour)",
            )
        else:
            affine = lab_affine
        md = labels_layer.metadata or {}
        names = dict(md.get("label_names") or {})
        if not names:
            from ..labels.tables import label_names_for

            names = label_names_for(md.get("source_path"))
    for arr, layer in ((image, image_layer), (labels, labels_layer)):
        if arr is not None and arr.ndim != 3:
            raise ValueError(f"Layer '{layer.name}' is not 3D (shape {arr.shape}).")
    grid_layer = image_layer if image_layer is not None else labels_layer
    return StatsInputs(image, labels, affine, names, (grid_layer.metadata or {}).get("residual"), note)


def write_label_features(layer, result: StatsResult) -> None:
    """Per-label results into the labels layer's ``features`` (one row per class, named or present)."""
    import pandas as pd

    from ..stats.results import flatten_row

    rows = {r.label: flatten_row({k: v for k, v in r.to_json().items() if k != "label"}) for r in result.labels}
    names = dict((layer.metadata or {}).get("label_names") or {})
    index = sorted(set(names) | set(rows))
    columns = list(dict.fromkeys(c for r in rows.values() for c in r))
    data = {"index": index, "name": [rows.get(i, {}).get("name", names.get(i, f"label {i}")) for i in index]}
    for c in columns:
        if c != "name":
            data[c] = [rows.get(i, {}).get(c, np.nan) for i in index]
    layer.features = pd.DataFrame(data)


def lesion_rings(viewer, points, lesions: Sequence[LesionStats], residual, name: str):
    """Add or update the Points layer ringing every lesion (features = the lesion table); returns it."""
    import pandas as pd

    from .compat import add_without_selecting
    from .pick import tag_output

    if points is not None and points not in viewer.layers:
        points = None
    if not lesions:
        if points is not None:
            points.data = np.empty((0, 3))
        return points
    coords = world_position([r.centroid_mm for r in lesions], residual=residual).reshape(-1, 3)
    sizes = np.array([max(r.max_diameter_mm, 3.0) * 1.3 for r in lesions])
    features = pd.DataFrame([{k: v for k, v in r.to_row().items() if k != "kind"} for r in lesions])
    if points is None:
        from napari.layers import Points

        points = Points(
            coords,
            name=name,
            size=sizes,
            face_color="transparent",
            border_color=RING_COLOR,
            border_width=MARKER_LINE_PX / max(float(camera_of(viewer).zoom), 1e-6),  # thin lines, in mm
            border_width_is_relative=False,
            features=features,
            symbol="o",
            # on every slice near the centroid, not only its own: the navigator and a row
            # click show a lesion on its RECIST slice (napari shrinks the ring with distance)
            out_of_slice_display=True,
            metadata=tag_output(None, "lesion_rings"),
            text={"string": "{id}", "color": "yellow", "size": 10, "anchor": "upper_left"},
        )
        add_without_selecting(viewer, points)
        from .overlays import two_d_only

        two_d_only(viewer, points)  # a ring in 3D is a screen-facing disc over the scene
    else:
        points.data = coords
        points.features = features
        points.size = sizes
        points.border_color = np.tile(RING_COLOR, (len(coords), 1))
    return points


def select_ring(viewer, points, row: int) -> None:
    """Ring ``row`` in the selected colour (and selected), the others plain; thin at the current zoom."""
    if points is None or points not in viewer.layers or not len(points.data):
        return
    colors = np.tile(RING_COLOR, (len(points.data), 1))
    colors[row] = SELECTED_COLOR
    points.border_color = colors
    points.border_width = MARKER_LINE_PX / max(float(camera_of(viewer).zoom), 1e-6)
    points.selected_data = {row}


def summary_text(res: StatsResult, has_labels: bool) -> str:
    """The line over the tables: the image, the lesions of which classes, the tumour burden of what."""
    parts = []
    img = res.image
    if img is not None:
        parts.append(
            f"Image {tuple(img.shape)} {img.dtype}, spacing "
            f"{', '.join(f'{s:.3g}' for s in img.spacing_mm)} mm; min {img.min}, max {img.max}, "
            f"mean {img.mean:.1f}, std {img.std:.1f}, p0.5/p50/p99.5 "
            f"{img.p00_5:.0f}/{img.p50:.0f}/{img.p99_5:.0f}"
        )
    if has_labels:
        if res.lesion_labels:
            parts.append(
                f"{len(res.lesions)} lesion(s) of label {format_label_list(res.lesion_labels)} "
                f"({res.connectivity}-connectivity)"
            )
        else:
            parts.append("no lesion labels chosen: no lesion table, no tumour burden")
    if res.lesions:
        total = res.sum_of_diameters_mm
        ids = ", ".join(str(r.id) for r in res.lesions if r.target) or "none"
        parts.append(f"RECIST targets {ids}: sum of diameters " + ("-" if total is None else f"{total:.1f} mm"))
    if res.tumour_burden is not None:
        names = res.label_names()
        what = " + ".join(names.get(v, f"label {v}") for v in res.organ_labels) or "organ"
        parts.append(f"tumour burden {100 * res.tumour_burden:.2f} % of the {what}")
    return "; ".join(parts)
