"""Image or labels? The rule, the pairing of an image with its segmentation, and
integer label volumes.

Rule for deciding whether a file is a segmentation (applied in this order):

1. an explicit choice (the "open as labels" / "open as image" readers, ``kind=``);
2. the file lies in a ``labelsTr``/``labelsTs``/``labels`` folder;
3. the name (without .nii/.nii.gz) ends in ``_label``, ``_labels``, ``_seg``,
   ``_segmentation``, ``_mask`` or ``_gt`` (also with ``-`` or ``.`` instead of ``_``),
   or starts with ``seg_``, ``lab_``, ``label_``, ``labels_``, ``mask_`` or ``segmentation``;
4. the header says labels: intent code NIFTI_INTENT_LABEL (1002) or
   NIFTI_INTENT_NEURONAME (1007), or a Caret/Workbench XML extension with
   ``<VolumeType>Label</VolumeType>`` or a ``<LabelTable>`` (TotalSegmentator);
5. the content says labels: integer data whose strided sample (about 200k voxels) holds
   only non-negative values and at most ``MAX_LABEL_CLASSES`` distinct ones (and at most
   one per 16 sampled voxels); a CT or MR volume has thousands;
6. otherwise the file is an image.

:func:`content_verdict` says why rule 5 fails (``compare`` names it when it refuses a CT
given as a label map).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..volumes.nifti import nifti_stem
from ..volumes.volume import HeaderSummary

__all__ = [
    "MAX_LABEL_CLASSES",
    "looks_like_labels",
    "header_says_labels",
    "content_says_labels",
    "content_verdict",
    "find_label_sibling",
    "caret_info",
    "integral_labels",
    "NotALabelMapError",
    "checked_label_map",
    "MAX_LABEL_VALUE",
]

#: Largest label magnitude accepted from a float volume: every integer up to 2**53 is exact
#: in float64, so such a value converts to int64 without rounding or wrapping.
MAX_LABEL_VALUE = 2**53


class NotALabelMapError(ValueError):
    """A file given as labels whose content says image (the rule of :func:`content_verdict`)."""


_LABEL_DIRS = {"labelstr", "labelsts", "labels", "segmentations", "masks"}
_LABEL_SUFFIX = re.compile(r"[_\-.](label|labels|seg|segmentation|mask|gt)$", re.IGNORECASE)
_LABEL_PREFIX = re.compile(r"^(seg|lab|label|labels|mask|segmentation)[_\-.]|^segmentation", re.IGNORECASE)
#: Most distinct values a strided sample of a labels volume may hold (TotalSegmentator: 117).
MAX_LABEL_CLASSES = 255
_LABEL_SIBLING_SUFFIXES = ("_label", "_labels", "_seg", "_segmentation", "_mask")
NIFTI_INTENT_LABEL = 1002
NIFTI_INTENT_NEURONAME = 1007


def looks_like_labels(path: str | os.PathLike, header=None) -> bool:
    """Apply rules 2-4 of the module docstring to a path and optional header."""
    p = Path(path)
    if p.parent.name.lower() in _LABEL_DIRS:
        return True
    stem = nifti_stem(p)
    if _LABEL_SUFFIX.search(stem) or _LABEL_PREFIX.search(stem):
        return True
    return header is not None and header_says_labels(header)


def header_says_labels(header) -> bool:
    """Intent code 1002/1007, a Caret XML extension with a label table / VolumeType Label, or a
    segmentation format (DICOM-SEG)."""
    if isinstance(header, HeaderSummary):
        return header.labels
    try:
        code = int(header["intent_code"])
    except (KeyError, ValueError, TypeError):
        code = 0
    if code in (NIFTI_INTENT_LABEL, NIFTI_INTENT_NEURONAME):
        return True
    info = caret_info(header)
    return info is not None and (info[0] or bool(info[1]))


def content_says_labels(data: np.ndarray, target: int = 200_000) -> bool:
    """Integer data with few distinct non-negative values in a strided sample.

    A CT or MR volume holds thousands of distinct values (and CT negative ones); a
    segmentation holds a handful, at most ``MAX_LABEL_CLASSES``.
    """
    return content_verdict(data, target) is None


def content_verdict(data: np.ndarray, target: int = 200_000) -> tuple[str, str] | None:
    """None when rule 5 says labels, else ``(kind, why)``: kind ``"type"``, ``"values"``
    (too many distinct values: an image) or ``"negative"`` (few values, some negative)."""
    if data.dtype.kind not in "iub" or data.size == 0:
        return "type", f"its voxels are {data.dtype} with shape {data.shape} (labels are integers)"
    n = int(np.prod(data.shape[:3]))
    step = max(1, int(round((n / target) ** (1 / 3))))
    sample = np.asarray(data[(slice(None, None, step),) * 3])
    # the size cap keeps tiny volumes (an arange test volume) with many values images
    cap = min(MAX_LABEL_CLASSES, max(2, sample.size // 16))
    values = np.unique(sample)
    if len(values) > cap:
        return "values", (
            f"a sample of {sample.size} of its voxels holds {len(values)} distinct values from {values[0]} to "
            f"{values[-1]} (a label map holds at most {cap}): it looks like an image"
        )
    return ("negative", f"it holds negative values (down to {values[0]})") if values[0] < 0 else None


def _nifti_variants(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}{ext}" for ext in (".nii.gz", ".nii", ".NII.GZ", ".NII")]


def find_label_sibling(path: str | os.PathLike) -> Path | None:
    """The segmentation that belongs to an image file, if one exists.

    ``liver_0.nii.gz`` -> ``liver_0_label.nii.gz`` (also ``_labels``, ``_seg``,
    ``_segmentation``, ``_mask``) in the same folder; ``imagesTr/X.nii.gz`` ->
    ``labelsTr/X.nii.gz`` (and ``imagesTs`` -> ``labelsTs``), including nnU-Net's
    channel suffix ``X_0000.nii.gz`` -> ``labelsTr/X.nii.gz``.
    """
    p = Path(path)
    if looks_like_labels(p):
        return None
    stem = nifti_stem(p)
    candidates: list[Path] = []
    for suf in _LABEL_SIBLING_SUFFIXES:
        candidates += _nifti_variants(p.parent, stem + suf)
    parent = p.parent.name
    if parent.lower().startswith("images"):
        label_dir = p.parent.parent / ("labels" + parent[len("images") :])
        stems = [stem]
        m = re.match(r"^(.*)_\d{4}$", stem)
        if m:
            stems.insert(0, m.group(1))
        for s in stems:
            candidates += _nifti_variants(label_dir, s)
    for c in candidates:
        if c.is_file() and c.resolve() != p.resolve():
            return c
    return None


def _is_int(v) -> bool:
    if isinstance(v, bool):
        return False
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return False
    return f.is_integer() and 0 <= f < 2**31


def _as_int(v) -> int:
    return int(float(v))


def caret_info(header) -> tuple[bool, dict[int, tuple[str, tuple]]] | None:
    """(VolumeType is Label, {key: (name, rgba)}) from a Caret/Workbench XML extension."""
    exts = getattr(header, "extensions", None) or []
    for ext in exts:
        try:
            raw = ext.get_content()
        except Exception:  # noqa: BLE001 - an unreadable extension is not ours to judge
            continue
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "replace")
        if not isinstance(raw, (bytes, bytearray)) or b"CaretExtension" not in raw[:4096]:
            continue
        try:
            root = ET.fromstring(bytes(raw).strip(b"\x00 \t\r\n"))
        except ET.ParseError:
            continue
        is_label = any((el.text or "").strip().lower() == "label" for el in root.iter("VolumeType"))
        table: dict[int, tuple[str, tuple]] = {}
        for lab in root.iter("Label"):
            key = lab.get("Key")
            if not _is_int(key):
                continue
            try:
                rgba = tuple(
                    float(lab.get(c, d)) for c, d in (("Red", 0.8), ("Green", 0.8), ("Blue", 0.8), ("Alpha", 1.0))
                )
            except ValueError:
                rgba = (0.8, 0.8, 0.8, 1.0)
            rgba = tuple(min(1.0, max(0.0, v)) if np.isfinite(v) else 0.8 for v in rgba)
            table[_as_int(key)] = ((lab.text or "").strip() or f"label {_as_int(key)}", rgba)
        return is_label, table
    return None


def integral_labels(data: np.ndarray, source: str = "labels") -> np.ndarray:
    """Return integer labels; floats are converted when every value is integral.

    Raises
    ------
    ValueError
        When a float label volume holds non-integral values.
    """
    if data.dtype.kind in "iu":
        return data
    if data.dtype.kind == "b":
        return data.astype(np.uint8)
    if data.dtype.kind != "f":
        raise ValueError(f"{source}: labels of type {data.dtype} are not supported")
    finite = np.isfinite(data)
    if not finite.all():
        example = data[~finite].flat[0]
        raise ValueError(f"{source}: the label volume holds NaN or infinite values (for example {example!r})")
    too_big = np.abs(data) > MAX_LABEL_VALUE
    if too_big.any():
        example = data[too_big].flat[0]
        raise ValueError(
            f"{source}: the label volume holds the value {float(example):g}, beyond the largest label "
            f"{MAX_LABEL_VALUE:g} (2**53, exact as an integer); the header's scl_slope/scl_inter may be corrupt"
        )
    rounded = np.rint(data)
    bad = rounded != data
    if bad.any():
        example = data[bad].flat[0]
        raise ValueError(
            f"{source}: the label volume is stored as floats with non-integral values "
            f"(for example {example!r}); open it as an image instead"
        )
    lo, hi = (rounded.min(), rounded.max()) if rounded.size else (0, 0)
    for cand in (np.uint8, np.uint16, np.int16, np.int32):
        info = np.iinfo(cand)
        if info.min <= lo and hi <= info.max:
            return rounded.astype(cand)
    return rounded.astype(np.int64)


def checked_label_map(data: np.ndarray, source: str, force: bool = False) -> np.ndarray:
    """``data`` as integer labels, refused (naming ``source``) when it is no label map.

    The one rule for every file given as labels (compare, evaluate, report, crop, stats,
    snapshot): non-integral or out-of-range values are refused (:func:`integral_labels`);
    content that says image (:func:`content_verdict`: thousands of values, as a CT) raises
    :class:`NotALabelMapError` unless ``force``; negative values are always refused.
    """
    data = integral_labels(np.asarray(data), source)
    verdict = None if force else content_verdict(data)
    if verdict is not None and verdict[0] != "negative":
        raise NotALabelMapError(
            f"{source}: not a label map: {verdict[1]}; if it really is one, use --force-labels "
            "(force_labels=True in Python)"
        )
    if data.dtype.kind == "i" and data.size and int(data.min()) < 0:
        raise ValueError(f"{source}: labels must not be negative")
    return data
