"""Foreground cropping with exactly MONAI's ``CropForeground`` semantics, geometry kept.

Structured like MONAI: :func:`foreground_box` computes the box (MONAI's
``CropForeground.compute_bounding_box``), :func:`apply_box` crops one array and
shifts its affine, :func:`crop_arrays` / :func:`crop_foreground` apply the same box
to several arrays (MONAI's ``CropForegroundd``).

Boxes are ``(start, end)`` voxel indices in the **stored** array order (what MONAI's
``LoadImage`` yields and stores as ``foreground_start_coord`` / ``foreground_end_coord``);
``end`` is exclusive and either may lie outside the image (MONAI then pads).

The box is found without copying the volume: it is read at most once, in slabs along
its slowest axis.  The first and last slices holding foreground are found by scanning
inwards from both ends (a maximum per slab), and only the slabs between them are
reduced to a running maximum-intensity projection (one plane); the threshold is then
applied to that small plane.  The cropped
result is a view (slicing) unless the box reaches outside the image.

Pure numpy: no napari, Qt, torch or MONAI import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EmptyForegroundError",
    "CropResult",
    "foreground_box",
    "box_is_empty",
    "describe_rule",
    "apply_box",
    "crop_arrays",
    "crop_foreground",
]

#: Voxels per slab when scanning for the box (about 4 MB of int16): small enough to
#: stay in cache for the two reductions, large enough to amortise numpy overhead.
SLAB_VOXELS = 1 << 21


class EmptyForegroundError(ValueError):
    """No voxel satisfies the foreground rule (MONAI would return a zero-size crop)."""


@dataclass
class CropResult:
    """Arrays cropped with one box, their new affine and the box (stored order)."""

    arrays: dict
    affine: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape of the cropped arrays (``end - start``)."""
        return tuple(int(v) for v in self.end - self.start)


def describe_rule(threshold: float | None = None, select_fn: Callable | None = None) -> str:
    """Human wording of the foreground rule, for messages."""
    if select_fn is not None:
        return f"select_fn {getattr(select_fn, '__name__', repr(select_fn))}"
    return f"value > {0 if threshold is None else threshold:g}"


#: Largest |margin| (voxels) a user may give: no volume is that large; NaN/inf/1e12 are refused.
MAX_MARGIN = 100_000


def parse_per_axis(values, kind=float, name: str = "margin"):
    """One number or three (one per axis), from text (``"2"``, ``"2, 3, 1"``, ``"2 3 1"``) or a
    sequence; ``"2"`` -> 2, three -> a tuple.  The one parser of the CLI and the widgets.

    Raises
    ------
    ValueError
        Naming ``name``: not numbers, not one or three of them, NaN/inf, or a margin
        beyond ``MAX_MARGIN``.
    """
    import re

    parts = [p for p in re.split(r"[,\s;]+", values.strip()) if p] if isinstance(values, str) else list(values)
    try:
        vals = [kind(p) for p in parts]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {values!r} is not one number or three") from None
    if len(vals) not in (1, 3):
        raise ValueError(f"{name}: give one number or three (one per axis), not {values!r}")
    for v in vals:
        if not (v == v and abs(v) <= MAX_MARGIN):
            raise ValueError(f"{name}: {v!r} is not a usable number of voxels (|{name}| <= {MAX_MARGIN})")
    return vals[0] if len(vals) == 1 else tuple(vals)


def empty_foreground_error(name: str, rule: str, start) -> "EmptyForegroundError":
    """The one message for an empty foreground (MONAI would silently return a zero-size box)."""
    return EmptyForegroundError(
        f"{name}: empty foreground, no voxel has {rule}. MONAI's CropForegroundd returns "
        f"foreground_start_coord = foreground_end_coord = {list(start)} and a zero-size array in this case; "
        "nothing was cropped."
    )


def _per_axis(value, n: int, name: str) -> tuple:
    if np.ndim(value) == 0:
        return (value,) * n
    seq = tuple(value)
    if len(seq) == 1:
        return seq * n
    if len(seq) != n:
        raise ValueError(f"{name} must be one value or {n} (one per axis), got {list(seq)}")
    return seq


def _profiles(
    source: np.ndarray, n: int, threshold: float | None, select_fn: Callable | None
) -> list[np.ndarray] | None:
    """Boolean foreground profile of each spatial axis (None when the foreground is empty).

    Reads the volume at most once, in slabs along its slowest axis: the first and last
    slices with foreground are found by scanning inwards from both ends (a contiguous
    maximum per slab), then only the slabs between them are projected onto one plane.
    Slices outside that range hold no foreground, so they cannot change the plane.
    """
    src = np.asarray(source) if not isinstance(source, np.ndarray) else source
    if select_fn is None and src.dtype.kind == "b":
        src = src.view(np.uint8)
    shape = src.shape[:n]
    chan_axes = tuple(range(n, src.ndim))
    strides = [abs(s) for s in src.strides[:n]]
    ax = int(np.argmax(strides)) if n > 1 else 0  # slowest spatial axis
    others = tuple(a for a in range(n) if a != ax)
    per_slice = max(1, int(np.prod([shape[a] for a in others] + [src.shape[c] for c in chan_axes])))
    step = max(1, SLAB_VOXELS // per_slice)
    use_value = select_fn is None
    t = 0 if threshold is None else threshold
    # fmax: a NaN voxel is never > t, as in MONAI, and must not hide its neighbours
    red = (np.fmax if src.dtype.kind == "f" else np.maximum) if use_value else np.logical_or

    def slab(lo: int, hi: int) -> np.ndarray:
        idx = [slice(None)] * src.ndim
        idx[ax] = slice(lo, hi)
        chunk = src[tuple(idx)]
        if not use_value:
            chunk = np.asarray(select_fn(chunk), dtype=bool)
        return red.reduce(chunk, axis=chan_axes) if chan_axes else chunk

    def hits(chunk: np.ndarray) -> np.ndarray:
        prof = red.reduce(chunk, axis=others) if others else chunk
        return np.flatnonzero(prof > t if use_value else prof)

    size = shape[ax]
    first = last = None
    for lo in range(0, size, step):  # inwards from the start
        h = hits(slab(lo, min(lo + step, size)))
        if h.size:
            first = lo + int(h[0])
            break
    if first is None:
        return None
    for hi in range(size, first, -step):  # inwards from the end
        lo = max(hi - step, first)
        h = hits(slab(lo, hi))
        if h.size:
            last = lo + int(h[-1])
            break
    plane = None
    for lo in range(first, last + 1, step):  # project only the slabs in between
        pm = red.reduce(slab(lo, min(lo + step, last + 1)), axis=ax)
        plane = np.array(pm, copy=True) if plane is None else red(plane, pm, out=plane)
    mask = plane > t if use_value else plane
    prof_ax = np.zeros(size, bool)
    prof_ax[[first, last]] = True
    out: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    out[ax] = prof_ax
    for i, a in enumerate(others):
        rest = tuple(j for j in range(len(others)) if j != i)
        out[a] = np.asarray(mask.any(axis=rest) if rest else mask, bool)
    return out


def foreground_box(
    source: np.ndarray,
    select_fn: Callable | None = None,
    threshold: float | None = None,
    margin: float | Sequence[float] = 0,
    k_divisible: int | Sequence[int] = 1,
    allow_smaller: bool = False,
    *,
    spatial_dims: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Foreground bounding box with MONAI ``CropForeground.compute_bounding_box`` semantics.

    Parameters
    ----------
    source
        Array whose first ``spatial_dims`` axes are spatial (stored order, no channel
        axis first); trailing axes, if any, are channels (foreground in any channel).
    select_fn
        Voxel-wise function returning a boolean mask (applied slab by slab, so it
        must not depend on the whole volume).  Default: MONAI's ``is_positive``.
    threshold
        Shortcut for ``select_fn = lambda x: x > threshold`` (fast path).  The
        default rule (both None) is ``value > 0``.
    margin
        Voxels added on each side of the box, one value or one per axis; float
        values are truncated towards zero after adding, as MONAI's int16 cast does.
    k_divisible
        Box size rounded up to a multiple of k per axis (k <= 0 keeps the size),
        the growth split as MONAI does: ``(new - old) // 2`` before the start.
    allow_smaller
        True: the margin-expanded box is clipped to the image.  False (MONAI 1.6.1's
        default): it may reach outside, and cropping then pads.

    Returns
    -------
    (start, end)
        int64 arrays, ``end`` exclusive.  Like MONAI, an empty foreground gives
        ``start == end == 0``; check with :func:`box_is_empty`.
    """
    if select_fn is not None and threshold is not None:
        raise ValueError("give either select_fn or threshold, not both")
    n = int(spatial_dims or min(3, np.ndim(source)))
    shape = np.shape(source)[:n]
    margins = _per_axis(margin, n, "margin")
    for m in margins:
        if m < 0:
            raise ValueError(f"margin value should not be negative number, got {margin}.")
    ks = _per_axis(k_divisible, n, "k_divisible")
    if any(d == 0 for d in shape):
        return np.zeros(n, np.int64), np.zeros(n, np.int64)
    profiles = _profiles(source, n, threshold, select_fn)
    if profiles is None:  # MONAI: "if no foreground, return all zero bounding box coords"
        return np.zeros(n, np.int64), np.zeros(n, np.int64)
    start = np.zeros(n, np.int64)
    end = np.zeros(n, np.int64)
    for d, prof in enumerate(profiles):
        hits = np.flatnonzero(prof)
        if hits.size == 0:
            return np.zeros(n, np.int64), np.zeros(n, np.int64)
        lo = hits[0] - margins[d]
        hi = hits[-1] + margins[d] + 1
        if allow_smaller:
            lo = max(lo, 0)
            hi = min(hi, shape[d])
        start[d] = int(np.trunc(lo))
        end[d] = int(np.trunc(hi))
    size = end - start
    new = np.array([int(np.ceil(s / k) * k) if k > 0 else int(s) for s, k in zip(size, ks)], np.int64)
    start = start - (new - size) // 2
    return start, start + new


def box_is_empty(start: Sequence[int], end: Sequence[int]) -> bool:
    """True when the box holds no voxel (MONAI's answer for an empty foreground)."""
    return bool(np.any(np.asarray(end) - np.asarray(start) <= 0))


def apply_box(
    data: np.ndarray,
    affine: np.ndarray,
    start: Sequence[int],
    end: Sequence[int],
    *,
    pad_value: float = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``data`` to ``[start, end)`` and shift the affine so voxels stay in place.

    Parameters
    ----------
    data
        Array, first ``len(start)`` axes spatial in stored order.
    affine
        Its 4x4 voxel-to-world (RAS) affine.
    start, end
        Box in voxel indices; may reach outside the array.
    pad_value
        Value outside the image (MONAI pads with constant 0 by default).

    Returns
    -------
    (cropped, new_affine)
        A view when the box lies inside the array, else a new padded array;
        ``new_affine = affine @ translation(start)``.
    """
    start = np.asarray(start, np.int64)
    end = np.asarray(end, np.int64)
    n = len(start)
    if box_is_empty(start, end):
        raise EmptyForegroundError(f"the crop box {start.tolist()}-{end.tolist()} holds no voxel")
    shape = np.asarray(data.shape[:n])
    shift = np.eye(4)
    shift[:n, 3] = start
    new_affine = np.asarray(affine, float) @ shift
    lo = np.clip(start, 0, shape)
    hi = np.clip(end, 0, shape)
    inner = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    if np.all(start >= 0) and np.all(end <= shape):
        return data[inner], new_affine
    out = np.full(tuple(int(v) for v in end - start) + data.shape[n:], pad_value, dtype=data.dtype)
    dst = tuple(slice(int(a - s), int(b - s)) for a, b, s in zip(lo, hi, start))
    if np.all(hi > lo):
        out[dst] = data[inner]
    return out, new_affine


def crop_arrays(
    arrays: Mapping[str, np.ndarray],
    affine: np.ndarray,
    start: Sequence[int],
    end: Sequence[int],
    *,
    pad_values: Mapping[str, float] | None = None,
) -> CropResult:
    """Apply one box to several arrays on the same grid (MONAI ``CropForegroundd``)."""
    start = np.asarray(start, np.int64)
    end = np.asarray(end, np.int64)
    n = len(start)
    shapes = {k: tuple(v.shape[:n]) for k, v in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"cannot crop arrays on different grids together: {shapes}")
    pad_values = pad_values or {}
    out = {}
    new_affine = None
    for key, arr in arrays.items():
        out[key], new_affine = apply_box(arr, affine, start, end, pad_value=pad_values.get(key, 0))
    if new_affine is None:
        raise ValueError("no array to crop")
    return CropResult(out, new_affine, start, end)


def crop_foreground(
    arrays: Mapping[str, np.ndarray],
    affine: np.ndarray,
    source_key: str,
    *,
    threshold: float | None = None,
    select_fn: Callable | None = None,
    margin: float | Sequence[float] = 0,
    k_divisible: int | Sequence[int] = 1,
    allow_smaller: bool = False,
    source_name: str | None = None,
) -> CropResult:
    """Box from ``arrays[source_key]``, applied to every array (``CropForegroundd``).

    Raises
    ------
    EmptyForegroundError
        When no voxel of the source satisfies the rule; the message names the source
        and says what MONAI returns in that case.  Nothing is cropped.
    """
    if source_key not in arrays:
        raise ValueError(f"source {source_key!r} is not among the arrays {list(arrays)}")
    start, end = foreground_box(
        arrays[source_key],
        select_fn=select_fn,
        threshold=threshold,
        margin=margin,
        k_divisible=k_divisible,
        allow_smaller=allow_smaller,
    )
    if box_is_empty(start, end):
        raise empty_foreground_error(source_name or source_key, describe_rule(threshold, select_fn), start.tolist())
    return crop_arrays(arrays, affine, start, end)
