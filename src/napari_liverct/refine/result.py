"""What one correction returns: the new labels and what changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["EditResult", "changed_box"]


def changed_box(old: np.ndarray, new: np.ndarray) -> tuple[slice, slice, slice] | None:
    """The tight box of the voxels that differ (None when none do)."""
    diff = old != new
    if not diff.any():
        return None
    out = []
    for axis in range(3):
        hit = np.flatnonzero(diff.any(axis=tuple(a for a in range(3) if a != axis)))
        out.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(out)


@dataclass
class EditResult:
    """The labels after one edit (stored order, same dtype) and what changed.

    ``box`` bounds every changed voxel (stored order; None when nothing changed), ``changed``
    counts them, ``summary`` says it in words, ``details`` holds figures of the operation
    (component sizes, probabilities, seconds) for the log and the widget.
    """

    op: str
    labels: np.ndarray
    box: tuple[slice, slice, slice] | None
    changed: int
    summary: str
    details: dict = field(default_factory=dict)

    @classmethod
    def between(cls, op: str, old: np.ndarray, new: np.ndarray, summary: str, **details) -> EditResult:
        box = changed_box(old, new)
        n = 0 if box is None else int((old[box] != new[box]).sum())
        return cls(op=op, labels=new, box=box, changed=n, summary=summary, details=details)

    @classmethod
    def within(cls, op: str, old: np.ndarray, new: np.ndarray, region, summary: str, **details) -> EditResult:
        """As :meth:`between` when nothing outside the box ``region`` changed (only it is compared)."""
        inner = changed_box(old[region], new[region])
        if inner is None:
            return cls(op=op, labels=new, box=None, changed=0, summary=summary, details=details)
        box = tuple(slice(r.start + i.start, r.start + i.stop) for r, i in zip(region, inner))
        n = int((old[box] != new[box]).sum())
        return cls(op=op, labels=new, box=box, changed=n, summary=summary, details=details)
