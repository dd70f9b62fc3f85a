"""DICOM series in: a folder (or one file of a series) read as one volume in HU.

The rules, as highdicom, SimpleITK and dcm2niix read a series:

* files are grouped by SeriesInstanceUID; a folder with several series reads the one
  asked for (``series_uid``), else the largest CT series, and says which in a warning;
* slices are sorted by ImagePositionPatient projected on the normal of
  ImageOrientationPatient (never by file name or InstanceNumber);
* RescaleSlope / RescaleIntercept are applied (HU); orientation and spacing come from
  ImageOrientationPatient, ImagePositionPatient and PixelSpacing;
* the array is stored (columns, rows, slices), i.e. (x, y, z) as dcm2niix and
  SimpleITK's transposed array have it, with the RAS affine of LPS geometry.

What a real export gets wrong is an error naming the file (missing attribute, NaN
position, zero spacing, truncated pixel data, a missing slice, two different slices at
one position, uneven spacing, an enhanced multi-frame CT) or a stated warning (an exact
duplicate file dropped, files of another orientation or size left out, non-image files
skipped, gantry tilt resampled onto the orthogonal grid as dcm2niix does).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dicom_scan import (
    SEG_SOP_CLASS,
    DicomSeriesError,
    DicomWarning,
    SeriesInfo,
    _as_list,
    _fail,
    _Instance,
    _warn,
    choose_series,
    default_series,
    list_series,
    scan_dicom,
)
from .volume import HeaderSummary, Volume

# the series scan's public names are re-exported: ``volumes.dicom`` is the module users import
__all__ = ["read_dicom", "DicomSeriesError", "DicomWarning", "list_series", "default_series", "SeriesInfo"]


def _floats(inst: _Instance, key: str, n: int) -> np.ndarray:
    val = inst.get(key)
    if val is None or val == "":
        raise _fail(inst.path, f"{key} is missing; a slice of a volume needs it")
    try:
        arr = np.asarray([float(v) for v in _as_list(val)], float)
    except (TypeError, ValueError) as exc:
        raise _fail(inst.path, f"{key} is not numeric ({val!r})") from exc
    if arr.size != n:
        raise _fail(inst.path, f"{key} has {arr.size} values, not {n}")
    if not np.all(np.isfinite(arr)):
        raise _fail(inst.path, f"{key} holds a non-finite value ({list(arr)})")
    return arr


def _geometry(inst: _Instance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iop = _floats(inst, "ImageOrientationPatient", 6)
    ipp = _floats(inst, "ImagePositionPatient", 3)
    ps = _floats(inst, "PixelSpacing", 2)
    if np.any(ps <= 0):
        raise _fail(inst.path, f"PixelSpacing {list(ps)} is not positive")
    r, c = iop[:3], iop[3:]
    if abs(np.linalg.norm(r) - 1) > 1e-3 or abs(np.linalg.norm(c) - 1) > 1e-3 or abs(r @ c) > 1e-3:
        raise _fail(inst.path, f"ImageOrientationPatient {list(iop)} is not two orthogonal unit vectors")
    for key in ("Rows", "Columns"):
        if not inst.get(key):
            raise _fail(inst.path, f"{key} is missing or zero")
    return iop, ipp, ps


def _keep_largest(groups: dict, what: str, notes: list) -> list:
    if len(groups) == 1:
        return next(iter(groups.values()))
    key, keep = max(groups.items(), key=lambda kv: len(kv[1]))
    left = sum(len(v) for v in groups.values()) - len(keep)
    example = next(v[0][0].path for k, v in groups.items() if k != key)
    _warn(
        f"the series mixes {len(groups)} {what}s; reading the {len(keep)} slices of {what} {key} and leaving "
        f"out {left} file(s) of another {what} (e.g. {example})",
        notes,
    )
    return keep


def _sort_slices(path: Path, insts: list, notes: list):
    """Slices sorted along the normal, duplicates and gaps checked: (instances, positions along normal, geometry)."""
    geo = [_geometry(i) for i in insts]
    by_orient: dict = {}
    for inst, g in zip(insts, geo):
        key = (tuple(np.round(g[0], 4)), int(inst.get("Rows")), int(inst.get("Columns")))
        by_orient.setdefault(key, []).append((inst, g))
    if len(by_orient) > 1:
        by_orient = {f"{list(k[0])} {k[1]}x{k[2]}": v for k, v in by_orient.items()}
    pairs = _keep_largest(by_orient, "orientation/size", notes)
    iop = pairs[0][1][0]
    normal = np.cross(iop[:3], iop[3:])
    d = np.array([g[1] @ normal for _, g in pairs])
    order = np.argsort(d, kind="stable")
    pairs = [pairs[i] for i in order]
    d = d[order]
    ps = pairs[0][1][2]
    if len(pairs) > 1:
        tol = max(1e-3, 1e-3 * float(np.median(np.diff(d)) if np.any(np.diff(d) > 1e-3) else 1.0))
        keep = [0]
        for k in range(1, len(pairs)):
            if d[k] - d[keep[-1]] > tol:
                keep.append(k)
                continue
            a, b = pairs[keep[-1]][0], pairs[k][0]
            ua, ub = str(a.get("SOPInstanceUID", "")), str(b.get("SOPInstanceUID", ""))
            if ua and ua == ub:
                _warn(f"{b.path} is a copy of {a.path} (same SOP Instance UID, same position); it is left out", notes)
                continue
            raise _fail(
                path,
                f"two different slices at the same position {d[k]:.3f} mm along the slice normal: {a.path.name} and "
                f"{b.path.name} (SOP Instance UIDs differ; acquisition numbers {a.get('AcquisitionNumber')} / "
                f"{b.get('AcquisitionNumber')}): the folder may mix two acquisitions; keep one",
            )
        pairs = [pairs[k] for k in keep]
        d = d[keep]
    if len(pairs) > 2:
        gaps = np.diff(d)
        med = float(np.median(gaps))
        bad = np.flatnonzero(np.abs(gaps - med) > max(0.01, 0.01 * med))
        if bad.size:
            k = int(bad[0])
            a, b = pairs[k][0].path.name, pairs[k + 1][0].path.name
            ratio = gaps[k] / med
            if abs(ratio - round(ratio)) < 0.1 and round(ratio) >= 2:
                raise _fail(
                    path,
                    f"{int(round(ratio)) - 1} slice(s) missing between {a} and {b} (positions {d[k]:.3f} and "
                    f"{d[k + 1]:.3f} mm, a gap of {gaps[k]:.3f} mm where the other slices are {med:.3f} mm apart)",
                )
            raise _fail(
                path,
                f"uneven slice spacing: {gaps.min():.3f} to {gaps.max():.3f} mm (first off between {a} and {b}); "
                "the series is not resampled; export it with even spacing",
            )
    return [p[0] for p in pairs], d, (iop, ps, normal, [p[1][1] for p in pairs])


def _hu_dtype(insts: list, stored: np.dtype):
    """The array dtype and the rescale: ``(dtype, None)`` for stored values, ``(dtype, (slope, intercept))``.

    An integer slope and intercept on integer pixels give the smallest integer dtype
    that holds every value BitsStored allows (int16 for a 12-bit CT), else float32.
    """
    slopes = {float(i.get("RescaleSlope", 1) or 1) for i in insts}
    inters = {float(i.get("RescaleIntercept", 0) or 0) for i in insts}
    if len(slopes) > 1 or len(inters) > 1:
        return np.dtype(np.float32), "per slice"
    s, b = slopes.pop(), inters.pop()
    if (s, b) == (1.0, 0.0):
        return stored, None
    if stored.kind not in "iu" or not (s.is_integer() and b.is_integer()):
        return np.dtype(np.float32), (s, b)
    bits = int(insts[0].get("BitsStored", stored.itemsize * 8) or stored.itemsize * 8)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if stored.kind == "i" else (0, 2**bits - 1)
    ends = [lo * s + b, hi * s + b]
    for cand in (np.int16, np.int32):
        info = np.iinfo(cand)
        if info.min <= min(ends) and max(ends) <= info.max:
            return np.dtype(cand), (s, b)
    return np.dtype(np.float64), (s, b)


_NATIVE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")  # implicit / explicit VR little endian


def _native_pixels(ds, rows: int, cols: int) -> np.ndarray | None:
    """The stored pixels of an uncompressed little-endian greyscale slice, straight from
    its bytes (pydicom's general pixel machinery costs several ms a slice); None otherwise."""
    meta = getattr(ds, "file_meta", None)
    bits = ds.get("BitsAllocated")
    if (
        str(getattr(meta, "TransferSyntaxUID", "")) not in _NATIVE
        or bits not in (8, 16, 32)
        or int(ds.get("SamplesPerPixel", 1) or 1) != 1
        or int(ds.get("NumberOfFrames", 1) or 1) != 1
    ):
        return None
    raw = ds.PixelData
    dtype = np.dtype(f"<{'i' if ds.get('PixelRepresentation') else 'u'}{bits // 8}")
    if len(raw) < rows * cols * dtype.itemsize:
        raise ValueError(f"{len(raw)} bytes of pixel data, {rows * cols * dtype.itemsize} needed for {rows} x {cols}")
    return np.frombuffer(raw, dtype=dtype, count=rows * cols).reshape(rows, cols)


def _pixels(inst: _Instance, rows: int, cols: int) -> np.ndarray:
    try:
        arr = _native_pixels(inst.ds, rows, cols)
        if arr is None:
            arr = inst.ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - pydicom/pylibjpeg raise many types for broken pixel data
        raise _fail(inst.path, f"its pixel data cannot be decoded ({type(exc).__name__}: {exc})") from exc
    if arr.shape != (rows, cols):
        raise _fail(inst.path, f"its pixel data has shape {arr.shape}, not Rows x Columns = {(rows, cols)}")
    return arr


def _summary(path: Path, first: _Instance, n: int, spacing: float, notes: list) -> HeaderSummary:
    ds = first.ds
    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None)
    kernel = ds.get("ConvolutionKernel", "")
    fields = {
        "series description": str(ds.get("SeriesDescription", "") or ""),
        "modality": str(ds.get("Modality", "") or ""),
        "patient position": str(ds.get("PatientPosition", "") or ""),
        "kVp": str(ds.get("KVP", "") or ""),
        "kernel": "\\".join(str(v) for v in _as_list(kernel) if v is not None),
        "slice thickness (mm)": str(ds.get("SliceThickness", "") or ""),
        "slice spacing (mm)": f"{spacing:.6g}",
        "pixel spacing (mm)": "\\".join(f"{float(v):g}" for v in ds.get("PixelSpacing", [])),
        "series UID": str(ds.get("SeriesInstanceUID", "") or "") or "(none: the files have no SeriesInstanceUID)",
        "series number": str(ds.get("SeriesNumber", "") or ""),
        "study UID": str(ds.get("StudyInstanceUID", "") or ""),
        "frame of reference UID": str(ds.get("FrameOfReferenceUID", "") or ""),
        "manufacturer": " ".join(str(ds.get(k, "") or "") for k in ("Manufacturer", "ManufacturerModelName")).strip(),
        "transfer syntax": f"{ts} ({ts.name})" if ts else "",
        "slices": n,
        "rescale": f"slope {ds.get('RescaleSlope', 1)}, intercept {ds.get('RescaleIntercept', 0)}",
        "folder": str(path),
    }
    return HeaderSummary("DICOM", fields, notes=tuple(notes))


def read_dicom(path: str | os.PathLike, series_uid: str | None = None) -> Volume:
    """Read one DICOM series (a folder, or one file standing for its series) in HU.

    A DICOM-SEG file goes to :func:`napari_liverct.volumes.seg.read_seg`.

    Raises
    ------
    DicomSeriesError
        Naming the file and the problem; see the module docstring.
    """
    path = Path(path)
    notes: list[str] = []
    file_uid = None
    if path.is_file():
        import pydicom

        try:
            head = pydicom.dcmread(path, defer_size=256)
        except Exception as exc:  # noqa: BLE001 - InvalidDicomError and friends
            raise _fail(path, f"not a DICOM file ({type(exc).__name__}: {exc})") from exc
        if str(head.get("SOPClassUID", "")) == SEG_SOP_CLASS:
            from .seg import read_seg

            return read_seg(path)
        if "PixelData" not in head and "FloatPixelData" not in head:
            raise _fail(path, f"a DICOM file without an image (SOP class {head.get('SOPClassUID', 'unknown')})")
        file_uid = str(head.get("SeriesInstanceUID", "") or "")
        folder = path.parent
    else:
        folder = path
    found, skipped, segs = scan_dicom(folder)
    if file_uid is not None and series_uid is None:
        series_uid = file_uid
    chosen = choose_series(path, found, series_uid, None)
    if skipped:
        _warn(
            f"{len(skipped)} file(s) in {folder} are not DICOM images and were skipped, e.g. {skipped[0][0].name}: {skipped[0][1]}",
            notes,
        )
    if segs:
        notes.append(f"{len(segs)} DICOM-SEG file(s) in the folder were not read as images (open them on their own)")
    if chosen.multiframe:
        raise _fail(
            chosen.instances[0].path,
            f"series {chosen.uid or '(no UID)'} is a multi-frame (enhanced) image; this reader takes one slice per "
            "file (classic CT); convert it with dcm2niix, or emf2sf from dcm4che",
        )
    insts, d, (iop, ps, normal, ipps) = _sort_slices(path, chosen.instances, notes)
    rows, cols = int(insts[0].get("Rows")), int(insts[0].get("Columns"))
    n = len(insts)
    if n > 1:
        spacing = float((d[-1] - d[0]) / (n - 1))
    else:  # one slice: its thickness must be stated, never assumed (issue 23)
        stated = insts[0].get("SpacingBetweenSlices") or insts[0].get("SliceThickness")
        if stated is None:
            raise _fail(path, "a single slice without SliceThickness or SpacingBetweenSlices: its thickness is unknown")
        spacing = float(stated)
    if not np.isfinite(spacing) or spacing <= 0:
        raise _fail(path, f"the slice spacing ({spacing:g} mm) is not a positive number")
    offsets = np.array([ipp - ipps[0] - (dk - d[0]) * normal for ipp, dk in zip(ipps, d)])
    tilted = bool(np.abs(offsets).max() > 0.01)
    first = _pixels(insts[0], rows, cols)
    dtype, rescale = _hu_dtype(insts, first.dtype)
    data = np.empty((cols, rows, n), dtype=dtype, order="F")
    for k, inst in enumerate(insts):
        arr = first if k == 0 else _pixels(inst, rows, cols)
        if rescale is None:
            data[:, :, k] = arr.T
        else:
            s = float(inst.get("RescaleSlope", 1) or 1)
            b = float(inst.get("RescaleIntercept", 0) or 0)
            if dtype.kind == "f":
                data[:, :, k] = arr.T * s + b
            else:  # exact: integer maths in the target dtype, which holds every BitsStored value
                if s == 1.0:  # the usual CT: one add, computed in the target dtype
                    np.add(arr.T, dtype.type(int(b)), out=data[:, :, k], dtype=dtype, casting="unsafe")
                else:
                    np.multiply(arr.T, dtype.type(int(s)), out=data[:, :, k], dtype=dtype, casting="unsafe")
                    data[:, :, k] += dtype.type(int(b))
        inst.ds = None if k else inst.ds  # drop each dataset's pixels once copied
    if tilted:
        data = _untilt(path, data, offsets, iop, ps, d, notes)
    lps = np.eye(4)
    lps[:3, 0] = iop[:3] * ps[1]
    lps[:3, 1] = iop[3:] * ps[0]
    lps[:3, 2] = normal * spacing
    lps[:3, 3] = ipps[0]
    from .itk import lps_to_ras

    summary = _summary(folder, insts[0], n, spacing, notes)
    return Volume(
        data=data,
        affine=lps_to_ras @ lps,
        header=summary,
        path=path,
        scaled=rescale is not None,
        sources=() if tilted else tuple(i.path for i in insts),
    )


def _untilt(path, data, offsets, iop, ps, d, notes):
    """Resample a gantry-tilted (sheared) stack onto the orthogonal grid of its first slice."""
    from scipy import ndimage

    steps = np.diff(offsets, axis=0)
    if len(steps) > 1 and np.abs(steps - steps.mean(axis=0)).max() > 0.05:
        raise _fail(
            path, "the slice positions are not on one line (neither a straight stack nor a constant gantry tilt)"
        )
    shift_x = offsets @ iop[:3] / ps[1]  # along columns (x)
    shift_y = offsets @ iop[3:] / ps[0]  # along rows (y)
    total = np.hypot(offsets[-1] @ iop[:3], offsets[-1] @ iop[3:])
    angle = float(np.degrees(np.arctan2(total, d[-1] - d[0])))
    out = np.empty(data.shape, dtype=np.float32 if data.dtype.kind == "f" else data.dtype, order="F")
    fill = float(data.min())
    for k in range(data.shape[2]):
        moved = ndimage.shift(data[:, :, k].astype(np.float32), (shift_x[k], shift_y[k]), order=1, cval=fill)
        out[:, :, k] = moved if out.dtype.kind == "f" else np.rint(moved)
    _warn(
        f"{path}: gantry tilt of {angle:.2f} degrees (slices sheared up to {total:.2f} mm): resampled onto the "
        "orthogonal grid of the first slice (linear interpolation, as dcm2niix does); a DICOM-SEG cannot "
        "reference these resampled slices",
        notes,
    )
    return out
