"""Which prediction values are compared with which ground-truth class.

A comparison is made per **ground-truth class** ``G``: its prediction mask is the set
of voxels whose prediction value ``P`` is mapped to ``G``.  Three modes:

* ``identity`` (default): ``P`` is compared with ``G == P`` for every non-zero value in
  either map and every class named in ``names`` (a class absent from both is reported
  with ``both_empty``);
* ``map``: explicit pairs ``P:G`` (for example TotalSegmentator liver 5 -> MSD liver 1);
  several ``P`` may map to one ``G``; unmapped prediction values count as background
  and only the mapped ``G`` are evaluated;
* ``foreground``: any non-zero value against any non-zero value, one class ``1``.

The maps are turned into two small look-up tables that relabel both arrays into one
shared class-index space (0 = background), so that every later step works on two
``uint8``/``uint16`` arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["ClassPlan", "parse_map", "plan_classes", "relabel", "suggest_map"]


@dataclass(frozen=True)
class ClassPlan:
    """The evaluated classes and how each map's values become class indices 1..n."""

    mode: str
    labels: tuple[int, ...]  # ground-truth label value of class index i+1
    names: tuple[str, ...]
    pred_values: tuple[tuple[int, ...], ...]  # prediction values mapped to class index i+1
    gt_lut: dict[int, int]  # ground-truth value -> class index (absent: 0)
    pred_lut: dict[int, int]  # prediction value -> class index (absent: 0)

    def index_of(self, label: int) -> int:
        return self.labels.index(int(label)) + 1


def parse_map(items) -> dict[int, int]:
    """``["5:1", "6:2"]`` (or pairs, or a dict) -> ``{pred_value: gt_value}``.

    Raises
    ------
    ValueError
        For an item that is not ``P:G`` with two integers, or a prediction value
        mapped to two different classes.
    """
    if items is None:
        return {}
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            if isinstance(item, str):
                parts = item.split(":")
                if len(parts) != 2:
                    raise ValueError(f"class map {item!r}: expected PRED:GT, e.g. 5:1")
                try:
                    pairs.append((int(parts[0]), int(parts[1])))
                except ValueError:
                    raise ValueError(f"class map {item!r}: PRED and GT must be integers") from None
            else:
                p, g = item
                pairs.append((int(p), int(g)))
    out: dict[int, int] = {}
    for p, g in pairs:
        if p == 0 or g == 0:
            raise ValueError(f"class map {p}:{g}: background (0) cannot be mapped")
        if out.get(p, g) != g:
            raise ValueError(f"class map: prediction value {p} is mapped to both {out[p]} and {g}")
        out[p] = g
    return out


def _present(values) -> list[int]:
    return sorted(int(v) for v in values if int(v) != 0)


def plan_classes(
    gt_values,
    pred_values,
    *,
    mapping: dict[int, int] | None = None,
    foreground: bool = False,
    names: dict[int, str] | None = None,
) -> ClassPlan:
    """Work out the classes to evaluate.

    Parameters
    ----------
    gt_values, pred_values
        Values present in each map (0 may be included; it is background).
    mapping
        ``{pred_value: gt_value}``; empty or None for the identity mode.
    foreground
        Compare any non-zero value with any non-zero value.
    names
        Ground-truth class names (dataset.json); unnamed classes are called ``label N``.
    """
    names = dict(names or {})
    gt_present, pred_present = _present(gt_values), _present(pred_values)
    if foreground:
        return ClassPlan(
            "foreground",
            (1,),
            ("foreground",),
            (tuple(pred_present),),
            {v: 1 for v in gt_present},
            {v: 1 for v in pred_present},
        )
    if mapping:
        labels = tuple(sorted(set(mapping.values())))
        idx = {g: i + 1 for i, g in enumerate(labels)}
        pred_lut = {p: idx[g] for p, g in mapping.items()}
        pvals = tuple(tuple(sorted(p for p, g in mapping.items() if g == lab)) for lab in labels)
        mode = "map"
    else:
        declared = [int(k) for k in names if int(k) != 0]
        labels = tuple(sorted(set(gt_present) | set(pred_present) | set(declared)))
        idx = {g: i + 1 for i, g in enumerate(labels)}
        pred_lut = {p: idx[p] for p in pred_present}
        pvals = tuple((lab,) for lab in labels)
        mode = "identity"
    gt_lut = {g: idx[g] for g in gt_present if g in idx}
    label_names = tuple(str(names.get(lab, f"label {lab}")) for lab in labels)
    return ClassPlan(mode, labels, label_names, pvals, gt_lut, pred_lut)


def relabel(arr: np.ndarray, lut: dict[int, int], n_classes: int) -> np.ndarray:
    """``arr`` with each value replaced by ``lut[value]`` (0 when absent), as uint8/uint16."""
    dtype = np.uint8 if n_classes < 255 else np.uint16
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.view(np.uint8)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype)
    lo, hi = int(arr.min()), int(arr.max())
    if lo >= 0 and hi < 1 << 16:
        table = np.zeros(hi + 1, dtype)
        for v, c in lut.items():
            if 0 <= v <= hi:
                table[v] = c
        return table[arr]
    vals, inv = np.unique(arr, return_inverse=True)
    table = np.array([lut.get(int(v), 0) for v in vals], dtype)
    return table[inv].reshape(arr.shape)


# ------------------------------------------------------------------ naming rule
def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", str(name).lower())


def suggest_map(gt_names: dict[int, str], pred_names: dict[int, str]) -> list[str]:
    """``["P:G", ...]`` pairing classes of the same name stored under different values.

    Empty when the names agree value for value (the identity mode is right), or
    when no name is shared (nothing to go on; placeholder ``label N`` names never count).
    """
    gt = {_norm(n): int(v) for v, n in gt_names.items() if int(v) != 0 and not str(n).startswith("label ")}
    pairs = [
        (int(p), gt[_norm(n)])
        for p, n in pred_names.items()
        if int(p) != 0 and _norm(n) in gt and not str(n).startswith("label ")
    ]
    if not pairs or all(p == g for p, g in pairs):
        return []
    return [f"{p}:{g}" for p, g in sorted(pairs)]
