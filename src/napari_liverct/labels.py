"""Label names and colours, dataset.json, and the image-versus-labels rule.

Rule for deciding whether a file is a segmentation (applied in this order):

1. an explicit choice (the "open as labels" / "open as image" readers, ``kind=``);
2. the file lies in a ``labelsTr``/``labelsTs``/``labels`` folder;
3. the name (without .nii/.nii.gz) ends in ``_label``, ``_labels``, ``_seg``,
   ``_segmentation``, ``_mask`` or ``_gt`` (also with ``-`` or ``.`` instead of ``_``);
4. the header's intent code is NIFTI_INTENT_LABEL (1002) or NIFTI_INTENT_NEURONAME;
5. otherwise the file is an image.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from .nifti import is_nifti_path, nifti_stem

__all__ = [
    "DEFAULT_LABEL_NAMES",
    "LIVER_COLOR",
    "TUMOUR_COLOR",
    "find_dataset_json",
    "label_names_for",
    "label_colors",
    "looks_like_labels",
    "find_label_sibling",
    "parse_label_names",
    "integral_labels",
    "is_lesion_name",
    "is_organ_name",
    "lesion_label_ids",
    "organ_label_ids",
]

DEFAULT_LABEL_NAMES = {0: "background", 1: "liver", 2: "tumour"}

LIVER_COLOR = (0.87, 0.45, 0.35, 1.0)  # warm brown-red, 3D Slicer's liver hue
TUMOUR_COLOR = (0.15, 0.90, 0.25, 1.0)  # vivid green, never confused with liver
VESSEL_COLOR = (0.25, 0.45, 1.0, 1.0)
_PALETTE = [
    (1.0, 0.85, 0.1, 1.0),
    (0.6, 0.3, 0.9, 1.0),
    (0.1, 0.8, 0.9, 1.0),
    (1.0, 0.4, 0.7, 1.0),
    (0.6, 0.6, 0.2, 1.0),
    (0.9, 0.5, 0.0, 1.0),
    (0.5, 0.8, 0.5, 1.0),
]

_LABEL_DIRS = {"labelstr", "labelsts", "labels", "segmentations", "masks"}
_LABEL_SUFFIX = re.compile(r"[_\-.](label|labels|seg|segmentation|mask|gt)$", re.IGNORECASE)
_LABEL_SIBLING_SUFFIXES = ("_label", "_labels", "_seg", "_segmentation", "_mask")
NIFTI_INTENT_LABEL = 1002
NIFTI_INTENT_NEURONAME = 1007


def looks_like_labels(path: str | os.PathLike, header=None) -> bool:
    """Apply rules 2-4 of the module docstring to a path and optional header."""
    p = Path(path)
    if p.parent.name.lower() in _LABEL_DIRS:
        return True
    if _LABEL_SUFFIX.search(nifti_stem(p)):
        return True
    if header is not None:
        try:
            code = int(header["intent_code"])
        except (KeyError, ValueError, TypeError):
            code = 0
        if code in (NIFTI_INTENT_LABEL, NIFTI_INTENT_NEURONAME):
            return True
    return False


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


def find_dataset_json(path: str | os.PathLike, levels: int = 3) -> Path | None:
    """dataset.json beside the file or in up to ``levels`` parent folders."""
    folder = Path(path).resolve().parent
    for _ in range(levels):
        cand = folder / "dataset.json"
        if cand.is_file():
            return cand
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def parse_label_names(spec: dict) -> dict[int, str]:
    """Parse MSD ``{"0": "background"}`` or nnU-Net ``{"background": 0}`` label maps."""
    names: dict[int, str] = {}
    for key, value in spec.items():
        if isinstance(value, str) and _is_int(key):
            names[int(key)] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            names[int(value)] = str(key)
        elif isinstance(value, (list, tuple)) and len(value) == 1 and _is_int(value[0]):
            names[int(value[0])] = str(key)  # nnU-Net region with a single label
    return dict(sorted(names.items()))


def _is_int(v) -> bool:
    try:
        return float(v).is_integer()
    except (TypeError, ValueError):
        return False


def label_names_for(path: str | os.PathLike | None) -> dict[int, str]:
    """Label names from a dataset.json near ``path``, else 1 = liver, 2 = tumour."""
    if path is not None and is_nifti_path(path):
        ds = find_dataset_json(path)
        if ds is not None:
            try:
                spec = json.loads(ds.read_text()).get("labels")
            except (OSError, ValueError, AttributeError):
                spec = None
            if isinstance(spec, dict):
                names = parse_label_names(spec)
                if names:
                    names.setdefault(0, "background")
                    return names
    return dict(DEFAULT_LABEL_NAMES)


#: Words in a class name that make it a lesion class (tumour burden, lesion tables,
#: the navigator, lesion matching).  Nothing else is ever treated as a lesion.
LESION_WORDS = ("tumo", "lesion", "cancer", "metast", "neoplas", "carcinom", "nodule", "malignan", "hcc")


def is_lesion_name(name: str) -> bool:
    """True when a class name says tumour / lesion / cancer / metastasis / nodule."""
    low = str(name).lower()
    return any(w in low for w in LESION_WORDS)


def is_organ_name(name: str, organ: str = "liver") -> bool:
    """True when a class name names the organ (``liver``) and is not itself a lesion."""
    low = str(name).lower()
    return organ in low and not is_lesion_name(low)


def lesion_label_ids(names: dict[int, str]) -> list[int]:
    """Label values whose name says tumour/lesion; empty when none does (never a guess)."""
    return sorted(int(k) for k, n in names.items() if int(k) != 0 and is_lesion_name(n))


def organ_label_ids(names: dict[int, str], organ: str = "liver") -> list[int]:
    """Label values whose name is the organ (default liver); empty when none is."""
    return sorted(int(k) for k, n in names.items() if int(k) != 0 and is_organ_name(n, organ))


def _color_for(index: int, name: str) -> tuple[float, float, float, float]:
    low = name.lower()
    if "liver" in low:
        return LIVER_COLOR
    if any(k in low for k in ("tumo", "cancer", "lesion", "metast")):
        return TUMOUR_COLOR
    if any(k in low for k in ("vessel", "vein", "arter", "portal")):
        return VESSEL_COLOR
    return _PALETTE[(index - 1) % len(_PALETTE)]


def label_colors(names: dict[int, str]) -> dict[int | None, tuple]:
    """A fixed colour per class (liver brown-red, tumour green); background transparent."""
    colors: dict[int | None, tuple] = {0: (0.0, 0.0, 0.0, 0.0), None: (0.8, 0.8, 0.8, 1.0)}
    for idx, name in names.items():
        if idx != 0:
            colors[idx] = _color_for(idx, name)
    return colors


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
        raise ValueError(f"{source}: the label volume holds NaN or infinite values")
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
