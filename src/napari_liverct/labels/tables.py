"""Label names and colours, dataset.json (the image-versus-labels rule and the pairing
are in :mod:`napari_liverct.labels.kind`, re-exported here).

Rule for label names (first that applies wins; see :func:`label_table_for`):

1. names the user gives (a colour table loaded in the viewer, ``--label-names`` on the CLI);
2. a sidecar JSON beside the file, ``<stem>.json``, mapping ids to names
   (``{"1": "spleen", "5": "liver"}``, or the same under a ``"labels"`` key);
3. the file's own label table (Caret / Workbench / TotalSegmentator XML extension);
4. ``dataset.json`` beside the file or up to three folders above (MSD or nnU-Net);
5. the liver task defaults 1 = liver, 2 = tumour, only where the data says liver: an
   MSD ``Task03_Liver`` / nnU-Net ``Dataset003_Liver`` folder, or a ``liver_*`` or
   LiTS-style (``segmentation-N``, ``volume-N``) file name;
6. otherwise ``label N`` for every value present.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..volumes.nifti import is_nifti_path, nifti_stem
from ..volumes.volume import HeaderSummary
from .dataset_json import DatasetJsonError, _load_json, find_dataset_json, parse_label_names, read_dataset_json
from .kind import (
    MAX_LABEL_CLASSES,
    NotALabelMapError,
    _as_int,
    _is_int,
    caret_info,
    checked_label_map,
    content_says_labels,
    content_verdict,
    find_label_sibling,
    header_says_labels,
    integral_labels,
    looks_like_labels,
)

__all__ = [
    "DEFAULT_LABEL_NAMES",
    "LIVER_COLOR",
    "TUMOUR_COLOR",
    "find_dataset_json",
    "read_dataset_json",
    "DatasetJsonError",
    "label_names_for",
    "label_colors",
    "looks_like_labels",
    "find_label_sibling",
    "parse_label_names",
    "integral_labels",
    "checked_label_map",
    "NotALabelMapError",
    "LabelTable",
    "label_table_for",
    "label_table_from_header",
    "header_says_labels",
    "content_says_labels",
    "content_verdict",
    "read_color_table",
    "named_labels",
    "caret_label_xml",
    "header_with_label_table",
    "says_liver",
    "distinct_color",
    "is_lesion_name",
    "is_organ_name",
    "lesion_label_ids",
    "organ_label_ids",
    "MAX_LABEL_CLASSES",
]

DEFAULT_LABEL_NAMES = {0: "background", 1: "liver", 2: "tumour"}

LIVER_COLOR = (0.87, 0.45, 0.35, 1.0)  # warm brown-red, 3D Slicer's liver hue
TUMOUR_COLOR = (0.15, 0.90, 0.25, 1.0)  # vivid green, never confused with liver
VESSEL_COLOR = (0.25, 0.45, 1.0, 1.0)


@dataclass(frozen=True)
class LabelTable:
    """Names (and colours where the source gives them) of a labels volume, and where they came from."""

    names: dict[int, str]
    source: str
    colors: dict[int, tuple] = field(default_factory=dict)

    @property
    def says_liver(self) -> bool:
        return bool(organ_label_ids(self.names))


def label_table_from_header(header) -> LabelTable | None:
    """The file's own label table (Caret / Workbench / TotalSegmentator XML, a DICOM-SEG's segments), if any."""
    if isinstance(header, HeaderSummary):
        if not header.label_names:
            return None
        names = {int(k): str(v) for k, v in sorted(header.label_names.items())}
        names.setdefault(0, "background")
        return LabelTable(names, header.label_source or f"the {header.format} file's own label names")
    info = caret_info(header) if header is not None else None
    if not info or not info[1]:
        return None
    table = info[1]
    names = {k: n for k, (n, _) in sorted(table.items())}
    names.setdefault(0, "background")
    return LabelTable(names, "the file's own label table", {k: c for k, (_, c) in table.items() if k != 0})


#: Names that only stand for a value ("label 3"): never written as if they were names.
_PLACEHOLDER = re.compile(r"^label \d+$")


def named_labels(names: dict) -> dict[int, str]:
    """The real names of ``names`` (int ids, background and ``label N`` placeholders left out)."""
    out: dict[int, str] = {}
    for key, name in (names or {}).items():
        if not _is_int(key) or not isinstance(name, str) or not name.strip():
            continue
        k = _as_int(key)
        if k != 0 and not _PLACEHOLDER.match(name.strip()):
            out[k] = name.strip()
    return dict(sorted(out.items()))


def caret_label_xml(names: dict[int, str], colors: dict | None = None) -> bytes:
    """A Caret/Workbench XML extension (``<VolumeType>Label``, the form TotalSegmentator
    writes and :func:`label_table_from_header` reads) naming ``names`` in ``colors``
    (RGBA 0-1; :func:`label_colors` for any id without one)."""
    from html import escape

    fallback = label_colors({0: "background", **names})
    given = colors or {}
    rows = []
    for key, name in sorted(names.items()):
        rgba = given.get(key)
        if rgba is None:
            rgba = fallback.get(key, (0.8, 0.8, 0.8, 1.0))
        r, g, b, a = (min(1.0, max(0.0, float(c))) for c in (tuple(rgba) + (1.0,))[:4])
        rows.append(
            f'<Label Key="{key}" Red="{r:.4f}" Green="{g:.4f}" Blue="{b:.4f}" Alpha="{a:.4f}">'
            f"<![CDATA[{escape(name)}]]></Label>"
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<CaretExtension Version="1.0">\n'
        ' <VolumeInformation Index="0">\n  <VolumeType>Label</VolumeType>\n'
        f"  <LabelTable>\n{chr(10).join(rows)}\n  </LabelTable>\n </VolumeInformation>\n</CaretExtension>\n"
    )
    return xml.encode("utf-8")


def header_with_label_table(header, names: dict[int, str], colors: dict | None = None):
    """A copy of ``header`` (a new NIfTI-1 header when None) whose label table is ``names``
    in ``colors``: intent 'label', any Caret extension it had replaced by the new one."""
    import nibabel as nib

    hdr = nib.Nifti1Header() if header is None else header.copy()
    if not isinstance(hdr, nib.Nifti1Header):  # Analyze / NIfTI-2 headers: a NIfTI-1 one keeps the table
        hdr = nib.Nifti1Header.from_header(hdr)
    keep = [ext for ext in hdr.extensions if not _is_caret(ext)]
    hdr.extensions.clear()
    hdr.extensions.extend(keep)
    hdr.set_intent("label")
    # ecode 0, as TotalSegmentator writes it: nibabel hands code 30 (caret) to a class whose
    # get_content() raises NotImplementedError, so readers built on nibabel could not read it.
    hdr.extensions.append(nib.nifti1.Nifti1Extension(0, caret_label_xml(names, colors)))
    return hdr


def _is_caret(ext) -> bool:
    """True for a Caret/Workbench XML extension (a label table this header will replace)."""
    try:
        raw = ext.get_content()
    except Exception:  # noqa: BLE001 - unreadable: not a table anyone reads, kept as it is
        return False
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    return isinstance(raw, (bytes, bytearray)) and b"CaretExtension" in raw[:4096]


def read_color_table(path: str | os.PathLike) -> LabelTable:
    """Read a 3D Slicer colour table (``.ctbl``/``.txt``) or an ITK-SNAP label description file.

    Slicer: ``id name R G B A`` per line (0-255).  ITK-SNAP: ``id R G B A VIS MSH "name"``
    with A in 0-1.  Lines starting with ``#`` are comments.

    Raises
    ------
    ValueError
        Naming the file, when no line can be parsed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"Cannot read colour table {path}: {exc}") from exc
    names: dict[int, str] = {}
    colors: dict[int, tuple] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        quoted = re.search(r'"([^"]*)"', line)
        parts = line.split()
        try:
            if quoted:  # ITK-SNAP: IDX R G B A VIS MSH "LABEL"
                idx, r, g, b, a = int(parts[0]), *map(float, parts[1:5])
                names[idx] = quoted.group(1)
                colors[idx] = (r / 255, g / 255, b / 255, max(0.0, min(1.0, a)))
            else:  # Slicer: id name R G B A
                idx = int(parts[0])
                r, g, b, a = (float(v) for v in parts[2:6])
                names[idx] = parts[1]
                colors[idx] = (r / 255, g / 255, b / 255, a / 255)
        except (ValueError, IndexError):
            continue
    if not names:
        raise ValueError(f"Cannot read colour table {path}: no 'id name R G B A' or ITK-SNAP label lines found")
    names.setdefault(0, "background")
    colors.pop(0, None)
    return LabelTable(dict(sorted(names.items())), f"colour table {path.name}", colors)


def _table_from_json(json_path: Path, source: str, sidecar: bool) -> LabelTable | None:
    """Names from a JSON file (a sidecar maps ids to names, at the top or under "labels";
    dataset.json under "labels"); None, with a warning naming the file, when unusable."""
    spec = _load_json(json_path)
    labels = spec.get("labels") if isinstance(spec, dict) else None
    if sidecar and not isinstance(labels, dict):
        labels = spec
    names = parse_label_names(labels) if isinstance(labels, dict) else {}
    if not names:
        if spec is not None:
            warnings.warn(f"{json_path}: ignored, it maps no label ids to names", UserWarning, stacklevel=3)
        return None
    names.setdefault(0, "background")
    return LabelTable(names, source)


def _sidecar(path: Path) -> LabelTable | None:
    side = path.with_name(nifti_stem(path) + ".json")
    return _table_from_json(side, f"sidecar {side.name}", sidecar=True) if side.is_file() else None


def _dataset_json(path: Path) -> LabelTable | None:
    ds = find_dataset_json(path)
    return _table_from_json(ds, f"dataset.json ({ds})", sidecar=False) if ds is not None else None


_LIVER_DIR = re.compile(r"^(task0?0?3_liver|dataset0?0?3_liver|lits)", re.IGNORECASE)
_LIVER_NAME = re.compile(r"^(liver[_\-]|segmentation-\d+$|volume-\d+$)", re.IGNORECASE)


def says_liver(path: str | os.PathLike | None) -> bool:
    """True where the data says liver: MSD Task03_Liver / nnU-Net Dataset003_Liver / LiTS
    folders, or a ``liver_*`` or LiTS-style (``segmentation-N``, ``volume-N``) file name."""
    if path is None:
        return False
    p = Path(path)
    if _LIVER_NAME.search(nifti_stem(p)):
        return True
    return any(_LIVER_DIR.search(part) for part in p.parts[-4:-1])


def label_table_for(path: str | os.PathLike | None, header=None, present=None) -> LabelTable:
    """Label names for a labels file, by the rule in the module docstring (user names aside).

    ``present`` (label values in the volume, or a volume whose values are found with
    :func:`present_labels`) is used only for the last rule, ``label N``: a volume is
    scanned only when no name source exists.
    """
    p = Path(path) if path is not None and is_nifti_path(path) else None
    if p is not None:
        for found in (_sidecar(p), label_table_from_header(header), _dataset_json(p)):
            if found is not None:
                return found
    elif header is not None and (found := label_table_from_header(header)) is not None:
        return found
    if says_liver(p):
        return LabelTable(dict(DEFAULT_LABEL_NAMES), "liver task defaults (the path says liver)")
    if isinstance(present, np.ndarray):
        present = present_labels(present)
    names = {0: "background"}
    for v in present if present is not None else ():
        if int(v) != 0:
            names[int(v)] = f"label {int(v)}"
    return LabelTable(names, "no names found: label N")


def label_names_for(path: str | os.PathLike | None, header=None, present=None) -> dict[int, str]:
    """Label names for ``path`` by :func:`label_table_for` (never invented)."""
    return dict(label_table_for(path, header, present).names)


def present_labels(data: np.ndarray) -> list[int]:
    """Sorted label values present in an integer volume (bincount for small ranges)."""
    if data.size == 0:
        return []
    flat = np.asarray(data).ravel(order="K")
    if data.dtype.kind in "ub" or (data.dtype.kind == "i" and data.dtype.itemsize <= 2):
        lo = int(flat.min())
        if lo >= 0 and int(flat.max()) < 1 << 16:
            return [
                int(v)
                for v in np.flatnonzero(
                    np.bincount(flat.astype(np.intp, copy=False) if flat.dtype.kind == "b" else flat)
                )
            ]
    return [int(v) for v in np.unique(flat)]


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


@__import__("functools").lru_cache(maxsize=1)
def _palette() -> np.ndarray:
    """256 colours chosen by farthest-point sampling of an RGB grid (as glasbey does),
    skipping near-black and near-white; deterministic."""
    levels = np.linspace(0.1, 1.0, 10)
    grid = np.array(np.meshgrid(levels, levels, levels, indexing="ij")).reshape(3, -1).T
    grid = grid[(grid.sum(axis=1) > 0.6) & (grid.min(axis=1) < 0.85)]
    chosen = [int(np.argmin(np.linalg.norm(grid - (1.0, 0.85, 0.1), axis=1)))]
    dist = np.linalg.norm(grid - grid[chosen[0]], axis=1)
    for _ in range(255):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(grid - grid[nxt], axis=1))
    return grid[chosen]


def distinct_color(index: int) -> tuple[float, float, float, float]:
    """Colour of label ``index`` from a palette of 256 distinguishable colours (farthest-point
    sampling, as glasbey palettes are made); the same id always gets the same colour."""
    r, g, b = _palette()[(int(index) - 1) % 256]
    return (float(r), float(g), float(b), 1.0)


def _color_for(index: int, name: str) -> tuple[float, float, float, float]:
    low = name.lower()
    if is_organ_name(low):
        return LIVER_COLOR
    if is_lesion_name(low):
        return TUMOUR_COLOR
    if any(k in low for k in ("vessel", "portal vein", "hepatic vein")):
        return VESSEL_COLOR
    return distinct_color(index)


def label_colors(names: dict[int, str], file_colors: dict[int, tuple] | None = None) -> dict[int | None, tuple]:
    """A colour per class; background transparent.

    The file's (or colour table's) own colours where given, as long as no two classes
    share one (TotalSegmentator cycles 12 colours over 117 classes: those repeats get
    palette colours instead); otherwise liver brown-red, tumour green, vessels blue,
    and a distinct palette colour per id for everything else.
    """
    colors: dict[int | None, tuple] = {0: (0.0, 0.0, 0.0, 0.0), None: (0.8, 0.8, 0.8, 1.0)}
    seen: set[tuple] = set()
    given = file_colors or {}
    for idx, name in names.items():
        if idx == 0:
            continue
        rgba = given.get(idx)
        key = tuple(round(float(v), 3) for v in rgba[:3]) if rgba is not None else None
        if rgba is None or key in seen:
            rgba = _color_for(idx, name)
        seen.add(tuple(round(float(v), 3) for v in rgba[:3]))
        colors[idx] = tuple(float(v) for v in rgba)
    return colors
