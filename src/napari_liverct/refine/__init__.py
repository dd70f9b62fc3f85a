"""Correct a draft on the CPU: one pure function per edit, an edit log in RAS mm, its replay (issue 24)."""

from .files import read_case, refine_files, write_refined
from .log import (
    EditLogError,
    apply_edit,
    edit_entry,
    iter_replay,
    log_path_for,
    log_text,
    new_log,
    read_log,
    replay,
)
from .ops import add_lesion, delete_lesion, merge_lesions, relabel, split_lesion
from .result import EditResult
from .strokes import grow, interpolate

__all__ = [
    "EditResult",
    "EditLogError",
    "add_lesion",
    "delete_lesion",
    "split_lesion",
    "merge_lesions",
    "relabel",
    "grow",
    "interpolate",
    "new_log",
    "edit_entry",
    "apply_edit",
    "iter_replay",
    "replay",
    "log_text",
    "read_log",
    "log_path_for",
    "refine_files",
    "read_case",
    "write_refined",
]
