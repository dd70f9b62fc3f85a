"""The edit log: every correction as JSON, points in RAS mm, replayable on any storage order.

A log is ``{"format": ..., "version": 1, "roles": {"liver": L, "lesion": T}, "base": {...},
"edits": [...]}``; each edit names its ``op`` and its parameters (points in RAS mm rounded
to 0.1 micrometre, so a point names the same voxel on every storage order of the grid) and
what it changed (``changed``, voxels).  :func:`apply_edit` applies one entry with the core's
functions, :func:`replay` a whole log.  An edit is always applied from its normalised entry
(:func:`edit_entry`), in a session as in a replay, so both pick the same voxels.
:func:`log_text` writes one edit per line, deterministically: the same edits give the same
bytes.  ``base`` names the labels file the edits start from (its sha256), so that a viewer
reopening that file can offer to replay them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .ops import add_lesion, delete_lesion, merge_lesions, relabel, split_lesion
from .result import EditResult
from .strokes import grow, interpolate

__all__ = [
    "LOG_FORMAT",
    "OPS",
    "new_log",
    "edit_entry",
    "apply_edit",
    "iter_replay",
    "replay",
    "log_text",
    "read_log",
    "check_log",
    "EditLogError",
    "log_path_for",
]

LOG_FORMAT = "napari-liverct edit log"
LOG_VERSION = 1
_DECIMALS = 4

#: op -> (point parameters, other parameters with their types)
OPS: dict[str, tuple[tuple[str, ...], dict[str, Callable]]] = {
    "add_lesion": (("point_ras_mm",), {"threshold": float}),
    "delete_lesion": (("point_ras_mm",), {}),
    "split_lesion": (("points_ras_mm",), {"parts": int}),
    "merge_lesions": (("points_ras_mm",), {}),
    "grow": (("foreground_ras_mm", "background_ras_mm"), {"label": int}),
    "interpolate": (("drawn_ras_mm",), {"label": int, "axis": str}),
    "relabel": (("point_ras_mm",), {"to": int}),
}
_DEFAULTS = {"add_lesion": {"threshold": 0.5}, "interpolate": {"axis": "S"}, "grow": {"background_ras_mm": []}}


class EditLogError(ValueError):
    """A log that cannot be used; the message names the file and the problem."""


def log_path_for(labels_path: str | os.PathLike) -> Path:
    """Where the log of a labels file lives: ``<stem>.edits.json`` beside it."""
    from ..volumes.nifti import nifti_stem

    p = Path(labels_path)
    return p.with_name(nifti_stem(p) + ".edits.json")


def new_log(liver: int = 1, lesion: int = 2, base: dict | None = None) -> dict:
    """An empty log for labels whose liver is ``liver`` and lesions ``lesion``."""
    return {
        "format": LOG_FORMAT,
        "version": LOG_VERSION,
        "roles": {"liver": int(liver), "lesion": int(lesion)},
        "base": dict(base or {}),
        "edits": [],
    }


def _round_points(value, name: str, single: bool) -> list:
    arr = np.asarray(value, dtype=float)
    if single:
        if arr.shape != (3,):
            raise ValueError(f"{name} must be one point [x, y, z], got {value!r}")
    else:
        arr = arr.reshape(-1, 3) if arr.size else np.zeros((0, 3))
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds a coordinate that is not a finite number")
    out = np.round(arr, _DECIMALS) + 0.0  # + 0.0: no "-0.0" in the text
    return out.tolist()


def edit_entry(op: str, **params) -> dict:
    """The normalised log entry of one edit (ValueError for an unknown op or bad parameter)."""
    if op not in OPS:
        raise ValueError(f"unknown edit {op!r}; the edits are {', '.join(OPS)}")
    point_keys, kinds = OPS[op]
    params = {**_DEFAULTS.get(op, {}), **params}
    entry: dict = {"op": op}
    for key in point_keys:
        if key not in params:
            raise ValueError(f"edit {op!r} needs {key}")
        entry[key] = _round_points(params.pop(key), key, single=key == "point_ras_mm")
    for key, kind in kinds.items():
        if key in params and params[key] is not None:
            try:
                entry[key] = kind(params.pop(key))
            except (TypeError, ValueError):
                raise ValueError(f"edit {op!r}: {key} must be a {kind.__name__}") from None
        else:
            params.pop(key, None)
    for key in ("changed",):
        if key in params:
            entry[key] = int(params.pop(key))
    if params:
        raise ValueError(f"edit {op!r} does not take {', '.join(sorted(params))}")
    return entry


def apply_edit(ct, affine, labels, entry: dict, roles: dict, *, threads: int | None = None, **extra) -> EditResult:
    """Apply one normalised log entry with the core's functions."""
    entry = edit_entry(**entry)
    liver, lesion = int(roles["liver"]), int(roles["lesion"])
    op = entry["op"]
    if op == "add_lesion":
        return add_lesion(
            ct,
            affine,
            labels,
            entry["point_ras_mm"],
            threshold=entry["threshold"],
            liver=liver,
            lesion=lesion,
            threads=threads,
            **extra,
        )
    if op == "delete_lesion":
        return delete_lesion(ct, affine, labels, entry["point_ras_mm"], lesion=lesion)
    if op == "split_lesion":
        return split_lesion(ct, affine, labels, entry["points_ras_mm"], parts=entry.get("parts"), lesion=lesion)
    if op == "merge_lesions":
        return merge_lesions(ct, affine, labels, entry["points_ras_mm"], lesion=lesion)
    if op == "grow":
        return grow(ct, affine, labels, entry["label"], entry["foreground_ras_mm"], entry["background_ras_mm"])
    if op == "interpolate":
        return interpolate(ct, affine, labels, entry["label"], entry["drawn_ras_mm"], axis=entry["axis"])
    return relabel(ct, affine, labels, entry["point_ras_mm"], entry["to"])


def iter_replay(ct, affine, labels, log: dict, *, threads: int | None = None) -> Iterator[tuple[dict, EditResult]]:
    """Apply every edit of ``log`` in order; yields ``(entry, result)`` (the labels of each
    result are the input of the next)."""
    check_log(log)
    current = np.asarray(labels)
    for entry in log["edits"]:
        result = apply_edit(ct, affine, current, entry, log["roles"], threads=threads)
        current = result.labels
        yield entry, result


def replay(ct, affine, labels, log: dict, *, threads: int | None = None) -> tuple[np.ndarray, dict, list[str]]:
    """The labels after every edit of ``log``, the log with this run's voxel counts
    (``changed``), and a note for each edit whose count differs from the one recorded (the
    log was made on other inputs)."""
    current = np.asarray(labels)
    notes, entries = [], []
    for k, (entry, result) in enumerate(iter_replay(ct, affine, labels, log, threads=threads)):
        current = result.labels
        if "changed" in entry and int(entry["changed"]) != result.changed:
            notes.append(
                f"edit {k + 1} ({entry['op']}): {result.changed} voxels changed, the log says {entry['changed']}"
            )
        entries.append({**edit_entry(**entry), "changed": result.changed})
    return current, {**log, "edits": entries}, notes


def check_log(log, source: str = "the edit log") -> dict:
    """``log`` if it is a usable log; EditLogError naming ``source`` and the problem otherwise."""
    if not isinstance(log, dict) or log.get("format") != LOG_FORMAT:
        raise EditLogError(f'{source}: not a napari-liverct edit log (no "format": "{LOG_FORMAT}")')
    if log.get("version") != LOG_VERSION:
        raise EditLogError(f"{source}: edit log version {log.get('version')!r}; this version reads {LOG_VERSION}")
    roles = log.get("roles")
    if not isinstance(roles, dict) or not all(isinstance(roles.get(k), int) for k in ("liver", "lesion")):
        raise EditLogError(f'{source}: "roles" must give the liver and lesion label numbers')
    edits = log.get("edits")
    if not isinstance(edits, list):
        raise EditLogError(f'{source}: "edits" must be a list')
    for k, e in enumerate(edits):
        if not isinstance(e, dict):
            raise EditLogError(f"{source}: edit {k + 1} is not an object")
        try:
            edit_entry(**e)
        except (TypeError, ValueError) as exc:
            raise EditLogError(f"{source}: edit {k + 1}: {exc}") from None
    return log


def read_log(path: str | os.PathLike) -> dict:
    """Read and check a log file (EditLogError naming the file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EditLogError(f"{path}: no such edit log") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EditLogError(f"{path}: cannot read the edit log ({exc})") from None
    try:
        log = json.loads(text)
    except ValueError as exc:
        raise EditLogError(f"{path}: not JSON ({exc})") from None
    return check_log(log, str(path))


def log_text(log: dict) -> str:
    """The log as text: a header line, then one edit per line; the same log, the same bytes."""
    check_log(log)
    head = {k: log[k] for k in ("format", "version", "roles", "base")}
    lines = [json.dumps(edit_entry(**e), separators=(", ", ": ")) for e in log["edits"]]
    body = ",\n".join(lines)
    text = json.dumps(head, separators=(", ", ": "), sort_keys=True)[:-1]
    return text + ', "edits": [\n' + body + ("\n" if lines else "") + "]}\n"
