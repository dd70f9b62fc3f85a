"""RECIST 1.1 response between two time points: lesions paired in world mm, the category.

The definitions (pairing, CR/PR/SD/PD/NE thresholds) are written out in
:mod:`napari_liverct.stats.recist` and the README.  Nothing here imports napari or Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .recist import TargetRule, choose_targets, mark_targets

if TYPE_CHECKING:
    from .results import LesionStats

__all__ = [
    "ResponsePair",
    "RecistResponse",
    "pair_lesions",
    "recist_response",
    "PR_DECREASE",
    "PD_INCREASE",
    "PD_ABSOLUTE_MM",
]

#: PR: the sum is at least this fraction smaller than the baseline sum.
PR_DECREASE = 0.30
#: PD: the sum is at least this fraction larger than the nadir ...
PD_INCREASE = 0.20
#: ... and at least this many mm larger.
PD_ABSOLUTE_MM = 5.0


@dataclass(frozen=True)
class ResponsePair:
    """One baseline target and its follow-up partner (None: disappeared)."""

    baseline_id: int
    followup_id: int | None
    baseline_long_mm: float
    followup_long_mm: float
    distance_mm: float | None

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RecistResponse:
    """The RECIST 1.1 target-lesion response between two time points (module docstring)."""

    category: str
    baseline_sum_mm: float | None
    followup_sum_mm: float | None
    nadir_mm: float | None
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    targets: tuple[ResponsePair, ...]
    new_lesions: tuple[int, ...]
    max_distance_mm: float
    reason: str
    thresholds: dict = field(
        default_factory=lambda: {
            "CR": "every target lesion has disappeared",
            "PD": f"sum >= nadir * {1 + PD_INCREASE:g} and sum - nadir >= {PD_ABSOLUTE_MM:g} mm",
            "PR": f"sum <= baseline sum * {1 - PR_DECREASE:g}",
            "SD": "neither PR nor PD",
            "NE": "no measurable target lesion at baseline",
        }
    )

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "targets"}
        out["new_lesions"] = list(self.new_lesions)
        out["targets"] = [p.to_json() for p in self.targets]
        return out

    def to_rows(self) -> list[dict]:
        rows = [{"kind": "target", **p.to_json()} for p in self.targets]
        rows.append(
            {
                "kind": "response",
                "category": self.category,
                "baseline_sum_mm": self.baseline_sum_mm,
                "followup_sum_mm": self.followup_sum_mm,
                "nadir_mm": self.nadir_mm,
                "change_from_baseline_pct": self.change_from_baseline_pct,
                "change_from_nadir_pct": self.change_from_nadir_pct,
                "new_lesions": " ".join(str(i) for i in self.new_lesions),
            }
        )
        return rows


def pair_lesions(
    baseline: Sequence[LesionStats], followup: Sequence[LesionStats], max_distance_mm: float = 20.0
) -> dict[int, tuple[int, float]]:
    """Baseline id -> (follow-up id, centroid distance mm): the closest one-to-one pairing
    of lesion centroids in RAS mm (``linear_sum_assignment``), pairs farther than
    ``max_distance_mm`` left unpaired."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    if not baseline or not followup:
        return {}
    d = cdist(np.array([r.centroid_mm for r in baseline], float), np.array([r.centroid_mm for r in followup], float))
    big = 1e9
    rows, cols = linear_sum_assignment(np.where(d <= max_distance_mm, d, big))
    return {
        int(baseline[i].id): (int(followup[j].id), float(d[i, j]))
        for i, j in zip(rows, cols)
        if d[i, j] <= max_distance_mm
    }


def recist_response(
    baseline: Sequence[LesionStats],
    followup: Sequence[LesionStats],
    *,
    targets: Sequence[int] | None = None,
    rule: TargetRule | None = None,
    nadir_mm: float | None = None,
    max_distance_mm: float = 20.0,
) -> RecistResponse:
    """RECIST 1.1 target response from the lesions of two time points (module docstring).

    Parameters
    ----------
    baseline, followup
        Lesions of each time point (:func:`~napari_liverct.stats.lesion_stats`), centroids in RAS mm.
    targets
        Baseline lesion ids that are the targets; None: :func:`choose_targets` with ``rule``.
    nadir_mm
        The smallest sum of diameters on study before the follow-up, when smaller than
        the baseline sum (default: the baseline sum).
    max_distance_mm
        Largest centroid distance at which two lesions are the same lesion.
    """
    ids = tuple(targets) if targets is not None else choose_targets(baseline, rule)
    base = {int(r.id): r for r in mark_targets(baseline, ids)}
    fol = {int(r.id): r for r in followup}
    pairs = pair_lesions(baseline, followup, max_distance_mm)
    new = tuple(sorted(set(fol) - {f for f, _ in pairs.values()}))
    rows = []
    for i in ids:
        b = base[int(i)]
        f, dist = pairs.get(int(i), (None, None))
        rows.append(
            ResponsePair(int(i), f, float(b.long_axis_mm or 0.0), float(fol[f].long_axis_mm or 0.0) if f else 0.0, dist)
        )
    if not rows:
        return RecistResponse("NE", None, None, None, None, None, (), new, float(max_distance_mm), "no target lesion")
    b_sum = float(sum(p.baseline_long_mm for p in rows))
    f_sum = float(sum(p.followup_long_mm for p in rows))
    nadir = b_sum if nadir_mm is None else min(b_sum, float(nadir_mm))
    from_base = 100.0 * (f_sum - b_sum) / b_sum if b_sum > 0 else None
    from_nadir = 100.0 * (f_sum - nadir) / nadir if nadir > 0 else None
    if all(p.followup_id is None or p.followup_long_mm == 0.0 for p in rows):
        cat, why = "CR", "every target lesion has disappeared"
    elif f_sum >= nadir * (1 + PD_INCREASE) and f_sum - nadir >= PD_ABSOLUTE_MM:
        cat, why = "PD", f"sum {f_sum:.1f} mm >= {1 + PD_INCREASE:g} x nadir {nadir:.1f} mm and >= nadir + 5 mm"
    elif f_sum <= b_sum * (1 - PR_DECREASE):
        cat, why = "PR", f"sum {f_sum:.1f} mm <= {1 - PR_DECREASE:g} x baseline {b_sum:.1f} mm"
    else:
        cat, why = "SD", "neither a 30 % decrease from baseline nor a 20 % and 5 mm increase over the nadir"
    return RecistResponse(
        cat, b_sum, f_sum, nadir, from_base, from_nadir, tuple(rows), new, float(max_distance_mm), why
    )
