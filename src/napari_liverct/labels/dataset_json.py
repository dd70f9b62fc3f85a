"""dataset.json: finding it beside a file, reading it (the one reader), and its label map."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from .kind import _as_int, _is_int

__all__ = ["find_dataset_json", "parse_label_names", "DatasetJsonError", "read_dataset_json"]


def find_dataset_json(path: str | os.PathLike, levels: int = 3) -> Path | None:
    """dataset.json beside the file or in up to ``levels`` parent folders.

    The folders of the path as given are searched first, then those of its resolved
    target: an MSD folder whose files are symlinks into a shared store keeps its names.
    """
    given = Path(os.path.abspath(path)).parent  # ".." removed, symlinks kept
    for start in dict.fromkeys((given, Path(path).resolve().parent)):
        folder = start
        for _ in range(levels):
            cand = folder / "dataset.json"
            if cand.is_file():
                return cand
            if folder.parent == folder:
                break
            folder = folder.parent
    return None


def parse_label_names(spec: dict) -> dict[int, str]:
    """Parse MSD ``{"0": "background"}`` or nnU-Net ``{"background": 0}`` label maps.

    Entries that are not an integer id with a name (``"1.5"``, nested objects, ids
    beyond 2**31) are skipped, never raised.
    """
    names: dict[int, str] = {}
    if not isinstance(spec, dict):
        return names
    for key, value in spec.items():
        if isinstance(value, str) and _is_int(key):
            names[_as_int(key)] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and _is_int(value):
            names[_as_int(value)] = str(key)
        elif isinstance(value, (list, tuple)) and len(value) == 1 and _is_int(value[0]):
            names[_as_int(value[0])] = str(key)  # nnU-Net region with a single label
    return dict(sorted(names.items()))


class DatasetJsonError(ValueError):
    """A dataset.json (or a label sidecar) that is not a readable JSON object; the message names the file."""


def read_dataset_json(path: str | os.PathLike) -> dict:
    """The one reader of dataset.json (and of label sidecars): the JSON object it holds.

    Raises :class:`DatasetJsonError` naming the file when it cannot be read, is larger than
    16 MiB, is not UTF-8 JSON or does not hold an object (``__cause__`` says why, None for
    valid JSON that is not an object).  Used by :func:`napari_liverct.datasets.folder.load_dataset`
    (which refuses such a file), the label names here (which warn and go on) and the CT
    window's modality (which ignores it).
    """
    path = Path(path)
    try:
        if path.stat().st_size > 16 * 1024**2:
            raise ValueError("larger than 16 MiB")
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise DatasetJsonError(
            f"{path}: cannot read the dataset.json ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
    if not isinstance(spec, dict):
        raise DatasetJsonError(f"{path}: dataset.json must hold a JSON object")
    return spec


def _load_json(path: Path):
    """:func:`read_dataset_json`, or None (with a warning naming the file) when it is unusable; valid JSON
    that is not an object gives ``[]`` (the caller then says it maps no label ids)."""
    try:
        return read_dataset_json(path)
    except DatasetJsonError as exc:
        cause = exc.__cause__
        if cause is None:
            return []
        warnings.warn(
            f"{path}: ignored, not readable JSON ({type(cause).__name__}: {str(cause)[:120]})",
            UserWarning,
            stacklevel=3,
        )
        return None
