"""Pre-processing of pyliverlesionseg 0.3, on arrays whose geometry comes from the affine.

Transcribed from ``cnn_liver_lesion_seg_CT_MR_main`` and the sampling classes it uses
(``general.DeepVoxNet.predict``, ``sampling.ExtractSegment3D2``), with these departures:

- orientation: the package reorients with ``nib.as_closest_canonical``; so do we
  (:func:`to_canonical`), for any stored orientation or axis order, and map results back;
- the crop (``crop_ct_image``) needs lungs *and* hips in view and fails on current scipy;
  :func:`crop_box` keeps its in-plane body box (largest eroded soft-tissue component) and
  only cuts along the head-foot axis when the scan is longer than the liver network's
  408 mm field, keeping the 408 mm below a point 70 mm above the lung bases (or below the
  top of the scan when no lungs are found).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "Canonical",
    "crop_box",
    "ct_window",
    "LungSlab",
    "extract_centered",
    "inner_air",
    "lesion_tile_starts",
    "lung_slab",
    "package_tile_starts",
    "to_canonical",
]

# crop_ct_image(size_mm_max=[489, 408, 408], liver_dome_margin_mm=70.)
FIELD_MM = (489.0, 408.0, 408.0)
DOME_MARGIN_MM = 70.0
TISSUE_HU = -150.0
LUNG_HU = -600.0


@dataclass
class Canonical:
    """A volume reoriented to the closest RAS+ axes (the networks' X, Y, Z)."""

    data: np.ndarray
    affine: np.ndarray
    ornt: np.ndarray  # io_orientation of the stored affine: stored -> RAS

    @property
    def spacing(self) -> np.ndarray:
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    def back(self, arr: np.ndarray) -> np.ndarray:
        """An array on the canonical grid, put back in the stored axis order and direction."""
        from nibabel.orientations import apply_orientation, ornt_transform

        inv = ornt_transform(np.array([[0, 1], [1, 1], [2, 1]]), self.ornt)
        return np.ascontiguousarray(apply_orientation(arr, inv))


def to_canonical(volume: np.ndarray, affine: np.ndarray) -> Canonical:
    """``nib.as_closest_canonical`` on an array: axis order and direction from the affine."""
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

    affine = np.asarray(affine, dtype=float)
    ornt = io_orientation(affine)
    data = apply_orientation(np.asarray(volume), ornt)
    new_affine = affine @ inv_ornt_aff(ornt, np.asarray(volume).shape)
    return Canonical(data=data, affine=new_affine, ornt=ornt)


def ct_window(volume: np.ndarray) -> np.ndarray:
    """The package's CT normalisation: ``np.clip(x / 1000, -0.2, 0.2) * 2.5``."""
    return (np.clip(np.asarray(volume, dtype=np.float32) / 1000, -0.2, 0.2) * 2.5).astype(np.float32)


def _largest_component_box(mask: np.ndarray):
    lab, n = ndimage.label(mask)
    if n == 0:
        return None
    sizes = np.bincount(lab.ravel())[1:]
    return ndimage.find_objects((lab == (int(np.argmax(sizes)) + 1)).astype(np.uint8))[0]


def _box_erode(mask: np.ndarray, size: int) -> np.ndarray:
    """``binary_erosion(mask, np.ones((size,)*3))`` (border outside = False), separably."""
    out = mask.astype(np.uint8)
    for axis in range(3):
        out = ndimage.minimum_filter1d(out, size, axis=axis, mode="constant", cval=0)
    return out.astype(bool)


@dataclass(frozen=True)
class LungSlab:
    """The slices (along the canonical Z, i.e. towards superior) where the lungs are seen:
    ``lo``..``hi`` inclusive, ``peak`` the slice with the most lung air, ``peak_mm2`` its
    area; ``air`` the air inside the body on those slices (canonical grid, bool)."""

    lo: int
    hi: int
    peak: int
    peak_mm2: float
    air: np.ndarray


def inner_air(vol: np.ndarray) -> np.ndarray:
    """Air (< -600 HU) inside the body: not connected, slice by slice in plane, to the air
    around it (the in-plane border padded with air, as the package does)."""
    air = vol < LUNG_HU
    air = np.pad(air, ((3, 3), (3, 3), (0, 0)), constant_values=True)
    lab, n = ndimage.label(air)
    if n == 0:
        return np.zeros(vol.shape, bool)
    outside = np.unique(np.concatenate([lab[0].ravel(), lab[-1].ravel(), lab[:, 0].ravel(), lab[:, -1].ravel()]))
    return (air & ~np.isin(lab, outside[outside > 0]))[3:-3, 3:-3]


def lung_slab(vol: np.ndarray, spacing) -> LungSlab | None:
    """The lungs on a canonical CT, or None when none are seen.

    :func:`inner_air` summed per slice, smoothed over 7 slices; the lungs are the run of
    slices above half the maximum that holds the maximum, and only count when that maximum
    is at least 5000 mm^2 (bowel gas stays far below)."""
    inner = inner_air(vol)
    profile = np.convolve(inner.sum(axis=(0, 1)).astype(float), np.ones(7), "same") / 7
    area = profile * spacing[0] * spacing[1]
    if area.max() < 5000.0:
        return None
    peak = int(np.argmax(profile))
    above = profile > 0.5 * profile[peak]
    lo = hi = peak
    while lo > 0 and above[lo - 1]:
        lo -= 1
    while hi < len(above) - 1 and above[hi + 1]:
        hi += 1
    air = np.zeros_like(inner)
    air[:, :, lo : hi + 1] = inner[:, :, lo : hi + 1]
    return LungSlab(lo=lo, hi=hi, peak=peak, peak_mm2=float(area[peak]), air=air)


def _lung_base(vol: np.ndarray, spacing) -> int | None:
    """Index (along Z, RAS) of the lowest slice of the lungs, or None when none are seen."""
    slab = lung_slab(vol, spacing)
    return None if slab is None else slab.lo


def crop_box(vol: np.ndarray, spacing) -> tuple[slice, slice, slice]:
    """Box (on the canonical grid) the liver network sees; see the module docstring."""
    spacing = np.asarray(spacing, dtype=float)
    nz = vol.shape[2]
    zsl = slice(0, nz)
    if nz * spacing[2] > FIELD_MM[2]:
        base = _lung_base(vol, spacing)
        top = nz if base is None else min(nz, base + int(DOME_MARGIN_MM / spacing[2]))
        bottom = max(0, top - int(np.floor(FIELD_MM[2] / spacing[2])))
        zsl = slice(bottom, top)
    sub = vol[:, :, zsl]
    box1 = _largest_component_box(ndimage.binary_erosion(sub > TISSUE_HU))
    if box1 is None:
        return (slice(0, vol.shape[0]), slice(0, vol.shape[1]), zsl)
    box2 = _largest_component_box(_box_erode(sub[box1[0], box1[1]] > TISSUE_HU, 5))
    if box2 is None:
        return (box1[0], box1[1], zsl)
    x = slice(box1[0].start + box2[0].start, box1[0].start + box2[0].stop)
    y = slice(box1[1].start + box2[1].start, box1[1].start + box2[1].stop)
    return (x, y, zsl)


def extract_centered(img: np.ndarray, size, center=None, fill: float = 0.0) -> np.ndarray:
    """``ExtractSegment3D2`` at ``center`` (default the centre sampler's ``n // 2``): the
    ``size`` segment from ``center - size // 2``, ``fill`` outside the image."""
    center = [n // 2 for n in img.shape] if center is None else list(center)
    out = np.full(tuple(size), fill, dtype=np.float32)
    src, dst = [], []
    for n, s, c in zip(img.shape, size, center):
        start = c - s // 2
        lo, hi = max(0, start), min(n, start + s)
        src.append(slice(lo, hi))
        dst.append(slice(lo - start, hi - start))
    out[tuple(dst)] = img[tuple(src)]
    return out


def package_tile_starts(n: int, out: int) -> list[int]:
    """``DeepVoxNet.predict``'s tile origins along one axis, in its order, for output tiles of
    ``out`` voxels (an even size with an even input, as the lesion network's).

    The sampling step is ``out`` when ``out < n``, else ``n``: ``range(0, n, step)``, then
    ``n - step`` when ``step`` does not divide ``n``; a tile sampled at ``x`` is centred at
    ``ceil(x + (step - 1) / 2) - 0.5``.  When ``n <= out`` that is one tile centred on the
    axis, sticking out on both sides.  Later tiles overwrite earlier ones where they overlap.
    """
    step = out if out < n else n
    samples = list(range(0, n, step))
    if n % step:
        samples.append(n - step)
    return [math.ceil(x + (step - 1) / 2) - out // 2 for x in samples]


def lesion_tile_starts(n: int, out: int) -> list[int]:
    """The tiles of :func:`package_tile_starts` whose output survives the overwriting: a tile
    that runs past the end (``s + out > n``) is entirely overwritten by the final ``n - out``
    tile, so it is not computed (same result, fewer tiles)."""
    starts = package_tile_starts(n, out)
    if n <= out:
        return starts
    return [s for s in starts if s + out <= n]
