"""OpenGL-free slice overlays for the QC report: numpy + Pillow, as the viewer shows them.

The volumes go through :func:`napari_liverct.display.layers.array_to_layer_data`, the very
function the reader uses, so the thumbnails get the viewer's reorientation (array axes
``(S, P, L)``, see :mod:`napari_liverct.geometry.grids`), its window
(:func:`napari_liverct.display.layers.choose_window`) and its label colours
(:func:`napari_liverct.labels.tables.label_colors`).  Planes are drawn as napari's default
2D camera shows them (and as ``napari-liverct snapshot`` writes them):

* axial: rows P (anterior at the top), columns L (the patient's right on the left);
* coronal: rows S (superior at the top), columns L (the patient's right on the left);
* sagittal: rows S (superior at the top), columns P (anterior on the left).

Pixels are resampled to the true spacing (square pixels in mm) by nearest neighbour,
napari's 2D interpolation.  Labels are outlined (2 px) in their layer colours on the
windowed CT; a comparison draws ground truth and prediction in two fixed colours and
rings missed and false lesions.  No napari, Qt or OpenGL import.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "VIEWS",
    "DisplayVolume",
    "display_volume",
    "plane",
    "render_plane",
    "png_bytes",
    "GT_COLOR",
    "PRED_COLOR",
    "MISSED_COLOR",
    "FALSE_COLOR",
    "world_index",
]

#: view name -> (axis held fixed in the (S, P, L) display array, flip rows, orientation letters
#: (top, bottom, left, right)).
VIEWS: dict[str, tuple[int, bool, tuple[str, str, str, str]]] = {
    "axial": (0, False, ("A", "P", "R", "L")),
    "coronal": (1, True, ("S", "I", "R", "L")),
    "sagittal": (2, True, ("S", "I", "A", "P")),
}
GT_COLOR = (255, 215, 0)  # ground truth: gold
PRED_COLOR = (0, 200, 255)  # prediction: cyan
MISSED_COLOR = (255, 60, 60)  # missed lesion (FN) ring: red
FALSE_COLOR = (255, 0, 255)  # false lesion (FP) ring: magenta


@dataclass
class DisplayVolume:
    """A volume in the viewer's display order ``(S, P, L)`` with its world transform."""

    data: np.ndarray
    scale: np.ndarray
    translate: np.ndarray
    residual: np.ndarray
    contrast_limits: tuple[float, float] | None = None
    window: str | None = None
    colors: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)


def display_volume(
    data, affine, *, kind: str, name: str = "volume", header=None, source_path=None, label_names=None
) -> DisplayVolume:
    """The LayerData the reader would give napari, reduced to what a thumbnail needs."""
    from ..display.layers import array_to_layer_data

    view, kw, _ = array_to_layer_data(
        data, affine, kind=kind, name=name, header=header, source_path=source_path, label_names=label_names
    )
    view = np.asarray(view)
    while view.ndim > 3:  # time/channel axes come first: take the first volume
        view = view[0]
    meta = kw["metadata"]
    scale = np.asarray(kw["scale"], float)[-3:]
    translate = np.asarray(kw["translate"], float)[-3:]
    if kind == "labels":
        colors = {k: v for k, v in kw["colormap"].items() if k is not None}
        return DisplayVolume(
            view, scale, translate, meta["residual"], colors=colors, names=dict(meta.get("label_names") or {})
        )
    clim = tuple(float(v) for v in kw["contrast_limits"]) if "contrast_limits" in kw else None
    if clim is None:  # napari's default: the data range
        s = view[::4, ::4, ::4]
        clim = (float(np.nanmin(s)), float(np.nanmax(s))) if s.size else (0.0, 1.0)
        if not clim[1] > clim[0]:
            clim = (clim[0], clim[0] + 1.0)
    return DisplayVolume(view, scale, translate, meta["residual"], contrast_limits=clim, window=meta.get("ct_window"))


def world_index(vol: DisplayVolume, ras_mm) -> np.ndarray:
    """Continuous display index ``(s, p, l)`` of an RAS+ mm point."""
    from ..geometry.grids import ras_to_world

    world = np.asarray(ras_to_world(np.asarray(ras_mm, float), vol.residual), float)
    return (world - vol.translate) / vol.scale


def plane(arr: np.ndarray, view: str, index: int) -> np.ndarray:
    """The 2D plane of a display-order volume, rows and columns as the viewer shows them."""
    axis, flip, _ = VIEWS[view]
    sl = [slice(None)] * 3
    sl[axis] = int(np.clip(index, 0, arr.shape[axis] - 1))
    p = np.asarray(arr[tuple(sl)])
    return p[::-1] if flip else p


def _plane_spacing(vol: DisplayVolume, view: str) -> tuple[float, float]:
    axis = VIEWS[view][0]
    rest = [a for a in range(3) if a != axis]
    return float(vol.scale[rest[0]]), float(vol.scale[rest[1]])


def plane_pixel(vol: DisplayVolume, view: str, index3, size_px: tuple[int, int]) -> tuple[float, float]:
    """(row, column) pixel of a continuous display index ``(s, p, l)`` in a rendered plane."""
    axis, flip, _ = VIEWS[view]
    rest = [a for a in range(3) if a != axis]
    n_r, n_c = vol.data.shape[rest[0]], vol.data.shape[rest[1]]
    r, c = float(index3[rest[0]]), float(index3[rest[1]])
    if flip:
        r = n_r - 1 - r
    return (r + 0.5) * size_px[0] / n_r, (c + 0.5) * size_px[1] / n_c


def _out_size(shape2, spacing2, max_px: int) -> tuple[int, int]:
    h_mm, w_mm = shape2[0] * spacing2[0], shape2[1] * spacing2[1]
    k = max_px / max(h_mm, w_mm)
    return max(1, int(round(h_mm * k))), max(1, int(round(w_mm * k)))


def _resample_idx(n_src: int, n_out: int) -> np.ndarray:
    return np.minimum(((np.arange(n_out) + 0.5) * n_src / n_out).astype(np.intp), n_src - 1)


def _edges(lab: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels of a label image within ``width`` px inside a boundary (label > 0 only)."""
    edge = np.zeros(lab.shape, bool)
    for d in range(1, width + 1):
        for ax in (0, 1):
            a = np.swapaxes(lab, 0, ax)
            e = np.swapaxes(edge, 0, ax)
            diff = a[d:] != a[:-d]
            e[d:] |= diff
            e[:-d] |= diff
            # the image border closes a label that touches it
            e[:d] = True
            e[-d:] = True
    return edge & (lab > 0)


def render_plane(
    ct: DisplayVolume,
    view: str,
    index: int,
    *,
    labels: DisplayVolume | None = None,
    gt: DisplayVolume | None = None,
    pred: DisplayVolume | None = None,
    rings: list[tuple[np.ndarray, float, tuple]] = (),
    max_px: int = 288,
    caption: str | None = None,
):
    """Render one plane to a Pillow RGB image.

    Parameters
    ----------
    ct
        The image (its contrast limits are the viewer's window).
    view, index
        ``"axial"``/``"coronal"``/``"sagittal"`` and the index along the fixed axis.
    labels
        Outlined in their own layer colours.
    gt, pred
        Comparison: outlined in :data:`GT_COLOR` and :data:`PRED_COLOR` (any value > 0).
    rings
        ``(display index (s, p, l), radius mm, RGB)``: circles drawn where the point's
        sphere crosses this plane.
    """
    from PIL import Image, ImageDraw

    sp = _plane_spacing(ct, view)
    img2 = plane(ct.data, view, index).astype(np.float32)
    h, w = _out_size(img2.shape, sp, max_px)
    ri, ci = _resample_idx(img2.shape[0], h), _resample_idx(img2.shape[1], w)
    lo, hi = ct.contrast_limits
    grey = np.clip((img2[np.ix_(ri, ci)] - lo) / (hi - lo), 0, 1)
    rgb = np.repeat((grey * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
    if labels is not None:
        lab = plane(labels.data, view, index)[np.ix_(ri, ci)]
        edge = _edges(lab)
        for v in np.unique(lab[edge]):
            c = labels.colors.get(int(v), labels.colors.get(None, (0.8, 0.8, 0.8, 1.0)))
            rgb[edge & (lab == v)] = [int(round(255 * float(x))) for x in c[:3]]
    for vol, color in ((gt, GT_COLOR), (pred, PRED_COLOR)):
        if vol is not None:
            lab = plane(vol.data, view, index)[np.ix_(ri, ci)]
            rgb[_edges(lab)] = color  # class boundaries too (tumour inside liver)
    im = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(im)
    axis = VIEWS[view][0]
    px_per_mm = h / (img2.shape[0] * sp[0])
    for idx3, radius_mm, color in rings:
        dist = abs(float(idx3[axis]) - index) * ct.scale[axis]
        if dist > radius_mm:
            continue
        r_here = max(np.sqrt(max(radius_mm**2 - dist**2, 0.0)), 3.0) * px_per_mm + 5
        y, x = plane_pixel(ct, view, idx3, (h, w))
        draw.ellipse([x - r_here, y - r_here, x + r_here, y + r_here], outline=color, width=2)
    top, bottom, left, right = VIEWS[view][2]
    ink = (255, 255, 120)
    draw.text((w / 2 - 3, 2), top, fill=ink)
    draw.text((w / 2 - 3, h - 13), bottom, fill=ink)
    draw.text((3, h / 2 - 6), left, fill=ink)
    draw.text((w - 10, h / 2 - 6), right, fill=ink)
    if caption:
        draw.text((4, 2), caption, fill=ink)
    return im


def png_bytes(im) -> bytes:
    """PNG file bytes of a Pillow image (zlib level 6: ``optimize=True`` saves 5 % for 5x the time)."""
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
