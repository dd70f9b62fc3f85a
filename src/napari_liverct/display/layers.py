"""Turn arrays + affines into napari LayerData tuples, and layers back into files.

This is the one place where geometry becomes napari kwargs: the reader, the sample
data, the crop, the MONAI preview and the writer all go through it.  No napari
import: a LayerData tuple is ``(data, kwargs, layer_type)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..constants import ROBUST_RANGE
from ..geometry.grids import (
    display_geometry,
    layer_world_affine,
    orientation_code,
    ras_affine_from_world,
    reorient_to_disk,
    reorient_to_display,
    warn_if_oblique,
)
from ..labels.tables import (
    LabelTable,
    header_with_label_table,
    integral_labels,
    label_colors,
    label_table_for,
    named_labels,
)
from ..volumes.nifti import write_nifti
from ..volumes.volume import Volume

__all__ = [
    "CT_WINDOWS",
    "looks_like_hu",
    "window_limits",
    "choose_window",
    "body_lung_share",
    "thorax_slice_share",
    "dataset_modality",
    "array_to_layer_data",
    "volume_to_layer_data",
    "layer_to_disk",
    "save_layer",
]

#: CT display windows as (width, level) in HU.
CT_WINDOWS: dict[str, tuple[float, float]] = {
    "abdomen": (400.0, 40.0),
    "liver": (150.0, 30.0),
    "bone": (1800.0, 400.0),
    "lung": (1500.0, -600.0),
}


def window_limits(name: str) -> tuple[float, float]:
    """Contrast limits (low, high) of a named CT window."""
    width, level = CT_WINDOWS[name]
    return (level - width / 2.0, level + width / 2.0)


def _sample(data: np.ndarray, target: int = 200_000) -> np.ndarray:
    """A strided sample of about ``target`` voxels (no pass over the whole volume)."""
    n = int(np.prod(data.shape[:3]))
    step = max(1, int(round((n / target) ** (1 / 3))))
    sl = tuple(slice(None, None, step) for _ in range(3))
    return np.asarray(data[sl])


#: Below this a CT value is the scanner's padding outside the field of view (-2000, -2048,
#: -3024, -32768 are common), not air.
_PADDING_HU = -1100.0


def looks_like_hu(data: np.ndarray) -> bool:
    """True when a strided sample of a signed volume looks like CT in Hounsfield units.

    Air (its minimum above the padding is -1100..-500 HU) and tissue up to bone (its
    99.9th percentile 0..4000 HU; metal may go beyond); values below -1100 HU are
    taken for the padding scanners write outside the field of view (GE -3024, others
    -2048 or -32768), as long as the rest looks like HU.
    """
    if data.dtype.kind not in "if":
        return False
    s = _sample(data)
    s = s[np.isfinite(s)] if s.dtype.kind == "f" else s.ravel()
    s = s[s >= _PADDING_HU]
    if s.size == 0:
        return False
    lo, hi = float(s.min()), float(np.percentile(s, 99.9))
    return lo <= -500.0 and 0.0 <= hi <= 4000.0


#: An axial slice passes through the lungs when lung density (-950..-500 HU) fills at least
#: this share of the body's cross-section in it.  Measured on real CTs
#: (tests/io/test_ct_window_real.py): slices through the thorax 0.25-0.35; the lung bases
#: in the top slices of abdominal CTs reach 0.10-0.13, on a few slices only.
LUNG_SLICE_SHARE = 0.10
#: A CT opens in the lung window when at least this share of its axial slices through the
#: body pass through the lungs: the scan is mostly thorax.  Measured (full resolution /
#: the plugin's sample): pyradiomics' chest CTs lung1 0.79/0.83 and lung2 0.64/0.62,
#: TotalSegmentator's CT angiogram from neck to upper abdomen 0.72/0.70; its abdominal CTs
#: 0.00-0.07.  The old rule, lung in a quarter of the body's volume, opened lung1 (0.248)
#: and lung2 (0.18) in the abdomen window: how much lung a chest CT holds depends on how
#: much neck, shoulder and abdomen the scan also covers, how many of its slices pass
#: through the lungs much less.
THORAX_SLICES = 0.5
#: HU above which a voxel is tissue (the body outline) and the lung-density range.
_TISSUE_HU = -500.0
_LUNG_HU = (-950.0, -500.0)
#: Percentiles of the window for data that is not CT (MR, PET, unknown units).
PERCENTILE_WINDOW = ROBUST_RANGE
_CT_WORDS = ("ct", "computed tomography")


def dataset_modality(source_path: str | os.PathLike | None) -> str | None:
    """The imaging modality a dataset.json near ``source_path`` declares, e.g. ``"CT"``/``"MRI"``.

    MSD ``"modality": {"0": "CT"}`` and nnU-Net v2 ``"channel_names": {"0": "CT"}``;
    several channels (e.g. ``FLAIR, T1w...``) give the first; None when unknown.
    """
    if not source_path:
        return None
    from ..labels.tables import find_dataset_json, read_dataset_json

    try:
        ds = find_dataset_json(source_path)
        spec = read_dataset_json(ds) if ds is not None else None
    except (OSError, ValueError):
        return None
    if not isinstance(spec, dict):
        return None
    for key in ("modality", "channel_names"):
        value = spec.get(key)
        if isinstance(value, dict) and value:
            first = value.get("0", next(iter(value.values())))
            return str(first)
        if isinstance(value, str) and value:
            return value
    return None


def _is_ct(modality: str) -> bool:
    low = modality.strip().lower()
    return low in _CT_WORDS or low.startswith("ct") or "computed tomography" in low


def body_outline(sample: np.ndarray) -> np.ndarray:
    """The body of a CT sample in HU: tissue (> -500 HU) with every hole filled.

    Holes are filled slice by slice along each of the three axes (union), so the lungs,
    the airways and the bowel gas enclosed by the body wall in any plane are inside,
    whatever the axis order of the array, while the air around the patient, the
    table's gaps and the scanner's field-of-view corners are outside.  Lungs cut by a
    tight crop (open to the array's edge in every plane) stay outside.
    """
    from scipy import ndimage as ndi

    tissue = np.asarray(sample) > _TISSUE_HU
    body = tissue.copy()
    if tissue.ndim != 3:
        return ndi.binary_fill_holes(tissue)
    for axis in range(3):
        moved = np.moveaxis(body, axis, 0)
        for i, plane in enumerate(np.moveaxis(tissue, axis, 0)):
            moved[i] |= ndi.binary_fill_holes(plane)
    return body


def _lung_in_body(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(body, lung) masks of the strided sample of a CT in HU (:func:`body_outline`)."""
    s = _sample(data)
    if s.dtype.kind == "f":
        s = np.where(np.isfinite(s), s, -1024.0)
    body = body_outline(s)
    return body, body & (s > _LUNG_HU[0]) & (s <= _LUNG_HU[1])


def body_lung_share(data: np.ndarray) -> float:
    """Share of the body's voxels at lung density (-950..-500 HU), from a strided sample.

    The body is :func:`body_outline` of the sample of about 200,000 voxels, never a
    pass over the volume: the air around the patient (often noisy, -1000..-800 HU on
    DICOM-derived CTs) no longer counts as lung, as it did when the share was taken
    over every voxel above -950 HU (an upper-abdominal CT read 26 % "lung").
    """
    body, lung = _lung_in_body(data)
    n_body = int(body.sum())
    return float(lung.sum()) / n_body if n_body else 0.0


def thorax_slice_share(data: np.ndarray) -> float:
    """Share of the axial slices through the body that pass through the lungs.

    ``data`` is in the viewer's axis order, head-foot first (``(S, P, L)``, as the reader
    gives it).  A slice of the strided sample passes through the lungs when lung density
    fills at least :data:`LUNG_SLICE_SHARE` of the body in it.
    """
    body, lung = _lung_in_body(data)
    n_body = body.sum(axis=(1, 2))
    slices = n_body > 0
    if not slices.any():
        return 0.0
    per_slice = lung.sum(axis=(1, 2))[slices] / n_body[slices]
    return float((per_slice >= LUNG_SLICE_SHARE).mean())


def choose_window(data: np.ndarray, modality: str | None = None) -> tuple[str, tuple[float, float]] | None:
    """Display window of an image by modality and content, from a strided sample.

    Returns ``(name, (low, high))``:

    * ``"lung"`` for CT (by ``modality``, or values that look like HU) that is mostly
      thorax: at least :data:`THORAX_SLICES` of its axial slices through the body pass
      through the lungs (:func:`thorax_slice_share`; ``data`` head-foot axis first);
    * ``"abdomen"`` (W400/L40, the soft-tissue window of abdomen and mediastinum) for
      other CT;
    * ``"percentile"`` (:data:`PERCENTILE_WINDOW` of the sample) for data that is
      not CT: a declared non-CT modality (MR, PET...), or values that are not HU;

    None for an empty or constant sample (napari's default then applies).
    """
    if data.dtype.kind not in "iuf":
        return None
    s = _sample(data)
    s = s[np.isfinite(s)] if s.dtype.kind == "f" else s.ravel()
    if s.size == 0:
        return None
    declared_ct = modality is not None and _is_ct(modality)
    declared_other = modality is not None and not declared_ct
    if not declared_other and looks_like_hu(data):
        name = "lung" if thorax_slice_share(data) >= THORAX_SLICES else "abdomen"
        return name, window_limits(name)
    lo, hi = (float(v) for v in np.percentile(s, PERCENTILE_WINDOW))
    if not hi > lo:
        lo, hi = float(s.min()), float(s.max())
        if not hi > lo:
            return None
    return "percentile", (lo, hi)


def array_to_layer_data(
    data: np.ndarray,
    affine: np.ndarray,
    *,
    kind: str,
    name: str,
    header=None,
    source_path: str | os.PathLike | None = None,
    label_names: dict[int, str] | LabelTable | None = None,
    extra_metadata: dict | None = None,
) -> tuple:
    """Build a napari LayerData tuple from a stored-order array and its RAS affine.

    The array is reoriented with zero-copy transposes/flips so that napari sees only
    scale + translate in world (S, P, L) mm; the file's affine, orientation,
    header and path go into ``metadata``.  A fourth (time/channel) axis becomes the
    first napari axis (a slider).
    """
    if kind not in ("image", "labels"):
        raise ValueError(f"kind must be 'image' or 'labels', not {kind!r}")
    affine = np.asarray(affine, dtype=float)
    geom = display_geometry(affine, data.shape)
    warn_if_oblique(geom, str(source_path or name))
    view = reorient_to_display(data, geom.ornt)
    extra_axes = view.ndim - 3
    if extra_axes > 0:
        view = np.moveaxis(view, tuple(range(3, view.ndim)), tuple(range(extra_axes)))
    scale = (1.0,) * extra_axes + geom.scale
    translate = (0.0,) * extra_axes + geom.translate
    metadata = {
        "source_path": str(source_path) if source_path else None,
        "affine": affine,
        "orientation": orientation_code(affine),
        "header": header,
        "ornt": geom.ornt,
        "residual": geom.residual,
        "stored_shape": tuple(data.shape),
        "extra_axes": extra_axes,
    }
    if extra_metadata:
        metadata.update(extra_metadata)
    kwargs: dict = {"name": name, "scale": scale, "translate": translate, "metadata": metadata}
    if kind == "labels":
        view = integral_labels(view, str(source_path or name))
        if isinstance(label_names, LabelTable):
            table = label_names
        elif label_names:
            table = LabelTable(dict(label_names), "given by the caller")
        else:
            table = label_table_for(source_path, header, present=view)
        names = dict(table.names)
        metadata["label_names"] = names
        metadata["label_names_source"] = table.source
        kwargs["colormap"] = label_colors(names, table.colors)
        kwargs["features"] = {"index": list(names), "name": list(names.values())}
        kwargs["opacity"] = 0.6
        kwargs["blending"] = "translucent"
    else:
        kwargs["colormap"] = "gray"
        modality = dataset_modality(source_path)
        window = choose_window(view, modality)
        if modality is not None:
            metadata["modality"] = modality
        if window is not None:
            metadata["ct_window"], kwargs["contrast_limits"] = window[0], window[1]
        kwargs["interpolation3d"] = "linear"
    return (view, kwargs, kind)


def volume_to_layer_data(vol: Volume, kind: str, name: str | None = None) -> tuple:
    """LayerData tuple for a volume read by :func:`napari_liverct.volumes.dispatch.read_volume`.

    A DICOM series' files go into ``metadata['dicom_sources']`` (in slice order), what a
    DICOM-SEG saved from a labels layer on this image references.
    """
    extra = {"read_dtype": str(vol.data.dtype), "scaled": bool(vol.scaled), "format": vol.format}
    if vol.sources:
        extra["dicom_sources"] = [str(p) for p in vol.sources]
    return array_to_layer_data(
        vol.data,
        vol.affine,
        kind=kind,
        name=name or vol.name,
        header=vol.header,
        source_path=vol.path,
        # what the reader made of the stored values (the File information panel says it)
        extra_metadata=extra,
    )


def layer_to_disk(data: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(array in the original file's axis order, voxel-to-RAS affine)``.

    The affine is rebuilt from the layer's *current* world transform (scale,
    translate, affine), so a cropped or moved layer is saved where napari shows it.
    """
    data = np.asarray(data)
    md = meta.get("metadata") or {}
    extra_axes = max(0, data.ndim - 3)
    if extra_axes:
        data = np.moveaxis(data, tuple(range(extra_axes)), tuple(range(3, data.ndim)))
    world = layer_world_affine(meta)
    ras = ras_affine_from_world(world, md.get("residual"))
    ornt = md.get("ornt")
    if ornt is None:
        return data, ras
    return reorient_to_disk(data, ras, np.asarray(ornt))


def save_layer(
    path: str | os.PathLike,
    data: np.ndarray,
    meta: dict,
    *,
    overwrite_source: bool = False,
    label_table: LabelTable | None = None,
) -> Path:
    """Save one layer (image or labels) to NIfTI with its current world geometry.

    With ``label_table`` (a labels layer's class names and colours, whatever they came
    from) the file's own label table holds them (:func:`header_with_label_table`), so the
    file reopens with the same names and colours wherever it is moved.
    """
    md = meta.get("metadata") or {}
    disk, affine = layer_to_disk(data, meta)
    if disk.dtype == np.float64:
        disk = disk.astype(np.float32)
    if disk.dtype.kind == "b":
        disk = disk.astype(np.uint8)
    header = md.get("header")
    named = named_labels(label_table.names) if label_table is not None else {}
    if named:
        header = header_with_label_table(header, named, label_table.colors)
    protected = tuple(p for p in [md.get("source_path")] if p)
    return write_nifti(
        path,
        np.ascontiguousarray(disk) if not disk.flags.f_contiguous else disk,
        affine,
        header=header,
        protected=protected,
        overwrite_source=overwrite_source,
    )
