"""DICOM Segmentation objects (SEG): written from labels on a DICOM series, read back as labels.

Written with highdicom (``hd.seg.Segmentation``), one BINARY segment per label value
present, named by the label table, with every frame of the source series (empty
frames kept, so the SEG's grid is the series' grid, frame for frame).

Codes (DICOM PS3.16; SNOMED CT as pydicom's code dictionary spells them):

* liver: category SCT 91723000 "Anatomical Structure" (CID 7150), type SCT 10200004
  "Liver" (CID 7166 / CID 4031);
* a lesion / tumour: category SCT 49755003 "Morphologically Abnormal Structure"
  (CID 7150), type SCT 108369006 "Neoplasm" (CID 7151 / CID 7159 "Lesion Segmentation
  Types"; pydicom names this code ``Tumor``), anatomic region SCT 10200004 "Liver";
* any other label: category SCT 91723000 "Anatomical Structure", type SCT 85756007
  "Tissue" (CID 7151), its own name as the segment label (no meaning invented).

The algorithm is "napari-liverct draft (pyliverlesionseg 0.3 weights)", family DCM
113112 "Artificial Intelligence" (CID 7162), type AUTOMATIC for a draft as the network
left it, SEMIAUTOMATIC once a person edited it; MANUAL labels carry no algorithm.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .volume import HeaderSummary, Volume, VolumeReadError, VolumeWarning

__all__ = [
    "ALGORITHM_NAME",
    "ORIGINS",
    "SegWriteError",
    "read_seg",
    "write_seg",
    "write_seg_on_series",
    "segment_codes",
    "load_sources",
]

ALGORITHM_NAME = "napari-liverct draft (pyliverlesionseg 0.3 weights)"
ORIGINS = {"draft": "AUTOMATIC", "edited": "SEMIAUTOMATIC", "manual": "MANUAL"}


class SegWriteError(ValueError):
    """A DICOM-SEG cannot be written for these labels and this series; the message says why."""


def _version() -> str:
    """The installed napari-liverct version (without importing the package root, which imports napari)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("napari-liverct")
    except PackageNotFoundError:
        return "unknown"


def segment_codes(name: str):
    """``(category, type, anatomic regions)`` of a segment named ``name`` (see the module docstring)."""
    from pydicom.sr.coding import Code

    from ..labels.tables import is_lesion_name, is_organ_name

    liver = Code("10200004", "SCT", "Liver")
    if is_lesion_name(name):
        return (
            Code("49755003", "SCT", "Morphologically Abnormal Structure"),
            Code("108369006", "SCT", "Neoplasm"),
            [liver],
        )
    anatomy = Code("91723000", "SCT", "Anatomical Structure")
    if is_organ_name(name, "liver"):
        return anatomy, liver, None
    return anatomy, Code("85756007", "SCT", "Tissue"), None


def load_sources(files) -> list:
    """The source series' datasets (headers only), with what an anonymiser emptied put back.

    An empty SOP Instance UID / SOP Class UID is taken from the file meta; an empty
    Study / Series Instance UID is made up deterministically from the instances' UIDs,
    with a warning (the SEG then references a series UID the files do not carry).
    """
    import pydicom
    from pydicom.uid import generate_uid

    out = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    filled = []
    for ds in out:
        meta = ds.file_meta
        if not ds.get("SOPInstanceUID"):
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            filled.append("SOPInstanceUID")
        if not ds.get("SOPClassUID"):
            ds.SOPClassUID = meta.MediaStorageSOPClassUID
            filled.append("SOPClassUID")
    sops = sorted(str(ds.SOPInstanceUID) for ds in out)
    for key in ("StudyInstanceUID", "SeriesInstanceUID"):
        if not all(ds.get(key) for ds in out):
            uid = generate_uid(entropy_srcs=[key, *sops])
            for ds in out:
                setattr(ds, key, uid)
            filled.append(key)
    if filled:
        warnings.warn(
            f"the source series lacks {', '.join(sorted(set(filled)))} (anonymised?): taken from the file meta "
            "or made up from the instances' UIDs, so the SEG still references each instance",
            VolumeWarning,
            stacklevel=2,
        )
    return out


def write_seg(
    path: str | os.PathLike,
    labels: np.ndarray,
    names: dict,
    sources,
    *,
    origin: str = "draft",
    protected=(),
) -> Path:
    """Write ``labels`` (on the grid of the DICOM series ``sources``) as a DICOM-SEG, atomically.

    Parameters
    ----------
    labels
        Integer array (columns, rows, slices) as :func:`napari_liverct.volumes.dicom.read_dicom`
        stores the series: ``labels[:, :, k]`` lies on the file ``sources[k]``.
    names
        Label value -> class name (the layer's label table).
    sources
        The series' files in slice order (``Volume.sources``).
    origin
        ``"draft"`` (AUTOMATIC), ``"edited"`` (SEMIAUTOMATIC) or ``"manual"`` (MANUAL).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from ..outputs.units import atomic_write

    path = Path(path)
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {sorted(ORIGINS)}, not {origin!r}")
    sources = [Path(s) for s in sources]
    if not sources:
        raise SegWriteError(
            f"Cannot write {path}: the labels' image did not come from a DICOM series (or its slices were "
            "resampled, as for a gantry tilt), so there are no source instances to reference"
        )
    for src in [*sources, *map(Path, protected)]:
        if path.exists() and src.exists() and os.path.samefile(path, src):
            raise SegWriteError(f"Refusing to overwrite {path}: it is one of the input files")
    labels = np.asarray(labels)
    if labels.ndim != 3 or labels.shape[2] != len(sources):
        raise SegWriteError(
            f"Cannot write {path}: labels of shape {labels.shape} do not match the series "
            f"({len(sources)} slices); labels must be on the series' own grid"
        )
    datasets = load_sources(sources)
    rows, cols = int(datasets[0].Rows), int(datasets[0].Columns)
    if labels.shape[:2] != (cols, rows):
        raise SegWriteError(
            f"Cannot write {path}: labels {labels.shape[:2]} are not the series' {cols} x {rows} pixels"
        )
    values = [int(v) for v in np.unique(labels) if v != 0]
    if not values:
        raise SegWriteError(f"Cannot write {path}: the labels are empty (a SEG needs at least one segment)")
    algo_type = ORIGINS[origin]
    algo = None
    if origin != "manual":
        algo = hd.AlgorithmIdentificationSequence(
            name=ALGORITHM_NAME, family=codes.cid7162.ArtificialIntelligence, version=_version()
        )
    descriptions = []
    frames = np.zeros((len(sources), rows, cols), dtype=np.uint8 if len(values) < 256 else np.uint16)
    for number, value in enumerate(values, start=1):
        name = str((names or {}).get(value) or f"label {value}")
        cat, typ, regions = segment_codes(name)
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=name[:64],
                segmented_property_category=cat,
                segmented_property_type=typ,
                algorithm_type=algo_type,
                algorithm_identification=algo,
                anatomic_regions=regions,
                tracking_uid=hd.UID(),
                tracking_id=f"{name} (label {value})"[:64],
            )
        )
        frames[labels.transpose(2, 1, 0) == value] = number
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(datasets[0].get("SeriesNumber") or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="napari-liverct",
        manufacturer_model_name="napari-liverct",
        software_versions=_version(),
        device_serial_number="0",
        omit_empty_frames=False,
        series_description=f"napari-liverct segmentation ({algo_type.lower()})",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: seg.save_as(tmp))
    return path


def write_seg_on_series(
    path,
    labels: np.ndarray,
    labels_affine,
    names: dict,
    series_shape,
    series_affine,
    sources,
    *,
    origin: str,
    protected=(),
) -> tuple[Path, str | None]:
    """:func:`write_seg` for labels stored in any axis order on the series' grid.

    Labels whose grid is the series' up to axis flips and permutations (a NIfTI written
    by dcm2niix, a napari layer saved back) are viewed on the series' own order; any
    other grid is refused (a SEG holds the series' own slices; resample first).
    Returns the path and what was done to the axes (or None).
    """
    from ..geometry.grids import grid_mismatch, reorient_onto

    on = reorient_onto(np.asarray(labels), labels_affine, series_shape, series_affine)
    if on is None:
        why = grid_mismatch(np.shape(labels), labels_affine, series_shape, series_affine, names=("labels", "series"))
        raise SegWriteError(
            f"Cannot write {path}: the labels are not on the DICOM series' grid ({why}); a DICOM-SEG holds "
            "the series' own slices: resample the labels onto the series first"
        )
    return write_seg(path, on[0], names, sources, origin=origin, protected=protected), on[1]


def read_seg(path: str | os.PathLike) -> Volume:
    """A DICOM-SEG as a labels :class:`Volume`: segment numbers as values, segment labels as names.

    The grid is the SEG's own frames (for a SEG written here: the source series' grid).
    """
    import highdicom as hd

    from .itk import lps_to_ras

    path = Path(path)
    try:
        seg = hd.seg.segread(path)
        vol = seg.get_volume(combine_segments=True, relabel=False)
    except Exception as exc:  # noqa: BLE001 - highdicom raises many types for broken objects
        raise VolumeReadError(f"Cannot open {path}: not a readable DICOM-SEG ({type(exc).__name__}: {exc})") from exc
    arr = np.asarray(vol.array)  # (slices, rows, columns), LPS affine of (slice, row, column) indices
    lps = np.asarray(vol.affine, float)
    data = arr.transpose(2, 1, 0)  # (columns, rows, slices)
    perm = np.eye(4)[:, [2, 1, 0, 3]]
    affine = lps @ perm
    if np.linalg.det(affine[:3, :3]) < 0:  # highdicom stacks slices top down; the series reader bottom up
        flip = np.diag([1.0, 1.0, -1.0, 1.0])
        flip[2, 3] = data.shape[2] - 1
        data, affine = data[:, :, ::-1], affine @ flip
    affine = lps_to_ras @ affine
    names = {int(item.SegmentNumber): str(item.SegmentLabel) for item in seg.SegmentSequence}
    refs = [str(s.SeriesInstanceUID) for s in seg.get("ReferencedSeriesSequence", [])]
    algos = sorted({str(item.SegmentAlgorithmType) for item in seg.SegmentSequence})
    fields = {
        "series description": str(seg.get("SeriesDescription", "") or ""),
        "segments": ", ".join(f"{k}: {v}" for k, v in names.items()),
        "algorithm type": ", ".join(algos),
        "referenced series UID": ", ".join(refs),
        "series UID": str(seg.SeriesInstanceUID),
        "frame of reference UID": str(seg.get("FrameOfReferenceUID", "")),
        "segmentation type": str(seg.SegmentationType),
        "manufacturer": str(seg.get("Manufacturer", "")),
    }
    summary = HeaderSummary(
        "DICOM-SEG", fields, label_names=names, label_source="the DICOM-SEG's segment labels", labels=True
    )
    return Volume(data=data, affine=affine, header=summary, path=path)
