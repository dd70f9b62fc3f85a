"""Liver then lesions: pyliverlesionseg 0.3's inference, as a generator of progress steps.

:func:`iter_segment` yields :class:`Progress` (the liver stage in :data:`LIVER_STEPS`: its
pre-processing, then its network's convolutions as they run; then one step per lesion tile)
and returns a :class:`SegmentationResult`; stopping the generator between steps cancels it
(the napari worker's Cancel; inside the liver network, before its next convolution).
:func:`segment` drains it.

Departures from the package (all documented in the README):

- post-processing resamples *probabilities* back to the input grid (linear, in world
  coordinates) and thresholds them at 0.5; the package zooms the binary mask linearly
  and keeps ``> 0``, which inflates every object by up to a voxel of the coarse grid;
- the liver patch's uncovered margin (outside its 163x136x136 output) is 0, not the
  nearest prediction;
- lesion tiles whose output the package computes and then overwrites entirely are not
  computed; with ``skip_empty_tiles`` tiles whose output holds no voxel of the dilated
  liver are skipped too (their input is the -0.5 background; measured in the benchmark);
- the networks run in ``channels_last_3d`` memory format (faster oneDNN kernels);
- with OpenVINO installed, the lesion network runs in its float32 runtime when its conversion
  agreed with torch (:mod:`.runtime`; ``$NAPARI_LIVERCT_RUNTIME=torch`` keeps torch);
- the liver network runs on three patches, the package's centred one and the same moved
  36 mm (12 slices of 3 mm) up and down along S (:data:`LIVER_OFFSETS`), and the liver is
  the mean of their probabilities (each voxel over the patches whose output covers it):
  the instance norm makes the output depend on what the patch holds, and on a CT with
  hypodense lesions in the inferior liver the centred patch alone gave Dice 0.869 against
  TotalSegmentator's liver, the mean 0.960 (example CT: 0.960 -> 0.961; the maximum and
  lower thresholds added false liver; ``benchmarks/bench_draft_variants.py``).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from itertools import product

import numpy as np
from scipy import ndimage

from .inputs import check_ct
from .plausibility import DraftCheck, ImplausibleDraftError, check_draft, check_extent
from .preprocess import (
    crop_box,
    ct_window,
    extract_centered,
    lesion_tile_starts,
    lung_slab,
    package_tile_starts,
    to_canonical,
)
from .resample import _check_axis_aligned, place_tile, resample_to
from .zoom import zoom3d, zoomed_affine, zoomed_shape

__all__ = ["CLASS_NAMES", "ImplausibleDraftError", "Progress", "SegmentationResult", "iter_segment", "segment"]

CLASS_NAMES = {1: "liver", 2: "liver tumour"}
LIVER_IN, LIVER_OUT = (189, 162, 162), (163, 136, 136)
LESION_IN, LESION_OUT = (180, 172, 86), (92, 84, 42)
#: patch positions of the liver stage, in 3 mm slices along S from the package's centre
LIVER_OFFSETS = (0, -12, 12)
LIVER_MM = np.array([3.0, 3.0, 3.0])  # header/voxel_size of the liver HDF5
LESION_MM = np.array([1.0, 1.0, 3.0])  # header/voxel_size of the lesion HDF5
#: The liver stage reports its progress in these steps: the first LIVER_PREP_STEPS for the
#: pre-processing (zooms, median filter: about a tenth of the stage on the example CT), the
#: rest as the network's convolutions run (their share of its multiply-adds).
LIVER_STEPS, LIVER_PREP_STEPS = 100, 10


@dataclass
class Progress:
    """One step: ``stage`` is "liver" or "lesions"; ``labels`` (stored grid) is set once the
    liver is done, so a viewer can show it while the lesion tiles run."""

    stage: str
    done: int
    total: int
    labels: np.ndarray | None = None


@dataclass
class SegmentationResult:
    """Labels on the input grid: 1 = liver, 2 = liver tumour (the model's own classes);
    ``check``: the plausibility findings (:mod:`~napari_liverct.segment.plausibility`),
    warnings only (a hard finding raises :class:`ImplausibleDraftError` instead)."""

    labels: np.ndarray
    affine: np.ndarray
    names: dict = field(default_factory=lambda: dict(CLASS_NAMES))
    liver_probability: np.ndarray | None = None
    lesion_probability: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    check: DraftCheck = field(default_factory=DraftCheck)


def run_network(model: str, patch: np.ndarray, monitor=None) -> np.ndarray:
    """One forward pass of ``model`` on one fixed-size patch (X, Y, Z) -> probabilities;
    ``monitor`` (a :class:`~napari_liverct.segment.net.ConvMonitor`) follows the pass; a pass
    already run is read back when ``NAPARI_LIVERCT_NETWORK_CACHE`` is set (``netcache``).
    OpenVINO runs it when :func:`~napari_liverct.segment.runtime.network` says so, else torch."""
    import torch

    from .netcache import remember
    from .runtime import network, run_torch

    ov_net = network(model, patch.shape, torch.get_num_threads())
    if ov_net is not None:
        tag, compute = ov_net.tag, lambda: ov_net(patch, monitor=monitor)
    else:
        tag, compute = f"torch-{torch.__version__}", lambda: run_torch(model, patch, monitor)
    return remember(model, patch, tag, compute, monitor=monitor)


def iter_network(model: str, patch: np.ndarray, poll: float = 0.5) -> Generator[float, None, np.ndarray]:
    """:func:`run_network` in a helper thread, yielding the share of its convolution work
    done (0-1, every ``poll`` seconds while it changes); returns the probabilities.

    Closing the generator (a Cancel) stops the pass before its next convolution.  torch
    releases the GIL in its kernels, and its intra-op thread count is process-wide, so the
    pass runs as fast as in the calling thread.
    """
    from concurrent.futures import ThreadPoolExecutor, wait

    from .net import ConvMonitor, PassStopped

    monitor = ConvMonitor()
    shown = 0.0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"liverct-{model}") as pool:
        future = pool.submit(run_network, model, patch, monitor=monitor)
        try:
            while not wait([future], timeout=poll).done:
                if monitor.fraction > shown:
                    shown = monitor.fraction
                    yield shown
        except GeneratorExit:
            monitor.stop()
            try:
                future.result()
            except PassStopped:
                pass
            raise
        return future.result()


# -- liver ---------------------------------------------------------------------------------
def liver_patch(data: np.ndarray, spacing, box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The package's liver pre-processing on the cropped canonical volume: zoom to 1.5 mm,
    median filter 3, zoom to 3 mm, CT window, centred 189x162x162 patch (0 outside).
    Returns the patch, the 3 mm grid (for its shape) and that grid's voxel->crop-voxel affine."""
    cropped = np.asarray(data[box], dtype=np.float32)
    z1 = np.asarray(spacing, dtype=float) / (LIVER_MM / 2)
    vol = zoom3d(cropped, z1)
    vol = ndimage.median_filter(vol, size=3)
    z2 = (LIVER_MM / 2) / LIVER_MM
    grid = ct_window(zoom3d(vol, z2))
    step = zoomed_affine(zoomed_affine(np.eye(4), cropped.shape, z1), zoomed_shape(cropped.shape, z1), z2)
    return extract_centered(grid, LIVER_IN), grid, step


def liver_mask_3mm(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """``cnn_liver_pred_postprocess`` up to the resize: > 0.5, erosion (18-connected 3x3x3),
    largest 6-connected component, dilation back."""
    ss = ndimage.iterate_structure(ndimage.generate_binary_structure(3, 2), 1)
    eroded = ndimage.binary_erosion(prob > threshold, structure=ss)
    lab, n = ndimage.label(eroded, structure=ndimage.generate_binary_structure(3, 1))
    if n == 0:
        return np.zeros(prob.shape, bool)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return ndimage.binary_dilation(lab == int(np.argmax(sizes)), structure=ss)


# -- lesions ----------------------------------------------------------------------------------
def lesion_grid(can, liver: np.ndarray):
    """The package's lesion input: the CT window and the liver mask zoomed to 1x1x3 mm, the
    liver (> 0.5) dilated by ``iterate_structure(generate_binary_structure(3, 2), 2)``, the
    image set to -0.5 outside it and clipped to [-0.5, 0.5], cropped to its box.
    Only the box is computed.  Returns (image, dilated liver, box on the 1x1x3 grid, zoom)."""
    zoom = can.spacing / LESION_MM
    full = zoomed_shape(can.data.shape, zoom)
    to_grid = np.linalg.inv(zoomed_affine(np.eye(4), can.data.shape, zoom))
    nz = np.argwhere(liver)
    corners = np.array([[*c, 1.0] for c in product(*zip(nz.min(0) - 1, nz.max(0) + 1))])
    g = (to_grid @ corners.T).T[:, :3]
    pad = 4  # dilation radius 2, linear interpolation 1, and one for rounding
    lo = np.maximum(np.floor(g.min(0)).astype(int) - pad, 0)
    hi = np.minimum(np.ceil(g.max(0)).astype(int) + pad + 1, np.array(full))
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    liv = zoom3d(liver.astype(np.float32), zoom, box=box) > 0.5
    ss = ndimage.iterate_structure(ndimage.generate_binary_structure(3, 2), 2)
    dil = ndimage.binary_dilation(liv, structure=ss)
    tight = ndimage.find_objects(dil.astype(np.uint8))
    if not tight:
        return None
    tight = tight[0]
    dil = dil[tight]
    box = tuple(slice(b.start + t.start, b.start + t.stop) for b, t in zip(box, tight))
    img = zoom3d(can.data, zoom, box=box, transform=ct_window)
    img = np.clip(np.where(dil, img, -0.5), -0.5, 0.5).astype(np.float32)
    return img, dil, box, zoom


def lesion_tiles(shape, dil=None, package=False) -> list[tuple[int, int, int]]:
    """Tile origins (output corners) in the package's order; see ``lesion_tile_starts``."""
    pick = package_tile_starts if package else lesion_tile_starts
    tiles = list(product(*(pick(n, o) for n, o in zip(shape, LESION_OUT))))
    if dil is not None:
        tiles = [t for t in tiles if dil[tuple(slice(max(s, 0), s + o) for s, o in zip(t, LESION_OUT))].any()]
    return tiles


def tile_input(img: np.ndarray, start) -> np.ndarray:
    """The 180x172x86 input of the tile whose output starts at ``start`` (0 outside)."""
    center = [s - (i - o) // 2 + i // 2 for s, i, o in zip(start, LESION_IN, LESION_OUT)]
    return extract_centered(img, LESION_IN, center=center, fill=0.0)


def _network_steps(model: str, patch, lo: int, hi: int, total: int):
    """:func:`iter_network` as ``Progress(model, lo..hi, total)`` steps; returns its output.
    A step is yielded only when the count moves."""
    net = iter_network(model, patch)
    last = lo
    try:
        while True:
            try:
                fraction = next(net)
            except StopIteration as stop:
                return stop.value
            done = lo + int(fraction * (hi - lo))
            if done > last:
                last = done
                yield Progress(model, done, total)
    finally:
        net.close()  # a Cancel: stops the pass before its next convolution


# -- the whole thing ---------------------------------------------------------------------------
def iter_segment(
    volume: np.ndarray,
    affine: np.ndarray,
    *,
    lesions: bool = True,
    probabilities: bool = False,
    threads: int | None = None,
    skip_empty_tiles: bool = True,
    package_tiles: bool = False,
    liver: np.ndarray | None = None,
    liver_offsets=None,
) -> Generator[Progress, None, SegmentationResult]:
    """Segment the liver (and its lesions) of a CT; see the module docstring.

    ``volume`` is the CT in HU as stored, ``affine`` its voxel-to-world (RAS mm) matrix;
    orientation and spacing come from the affine only.  With ``liver`` (a mask on the
    volume's grid, stored order: a liver the user corrected) the liver network is not run:
    only the lesion stage runs, searching the dilated ``liver`` as it searches the network's,
    and the result's labels are 1 on ``liver``, 2 where the lesion network finds tumour.
    ``liver_offsets``: the liver patch positions (3 mm slices along S; default
    :data:`LIVER_OFFSETS`; ``(0,)`` is the package's single centred patch).

    Raises :class:`ImplausibleDraftError` (a ValueError) before any network runs when the
    scan is too small to hold a liver, and after the liver network when what it found fails
    a hard plausibility check (:func:`~napari_liverct.segment.plausibility.check_draft`): no
    liver, air, above the lungs.  The lesion network does not run then.  A ``liver`` given
    is the user's: its findings are all warnings.
    """
    volume = np.asarray(volume)
    check_ct(volume)
    if liver is not None and np.shape(liver) != volume.shape:
        raise ValueError(f"the liver mask has shape {np.shape(liver)}, the CT {volume.shape}: not the same grid")
    check_extent(volume.shape, affine)
    import torch

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return (
            yield from _segment(
                volume, affine, lesions, probabilities, skip_empty_tiles, package_tiles, liver, liver_offsets
            )
        )
    finally:
        torch.set_num_threads(old_threads)


def _segment(
    volume, affine, lesions, probabilities, skip_empty_tiles, package_tiles, given_liver=None, liver_offsets=None
):
    info: dict = {}
    t0 = time.perf_counter()
    can = to_canonical(volume, affine)
    if given_liver is not None:  # the lesion stage only, inside the liver given
        liver = to_canonical(np.asarray(given_liver) > 0, affine).data
        labels = liver.astype(np.uint8)
        info.update(liver_seconds=0.0, liver_given=True)
        lesion_p = None
        if lesions and liver.any():
            lesion_p = yield from _lesion_stage(can, liver, labels, info, skip_empty_tiles, package_tiles)
        check = check_draft(can.data, can.affine, labels)
        check = DraftCheck(tuple(replace(f, severity="warning") for f in check.findings))  # the user's liver
        result = SegmentationResult(labels=can.back(labels), affine=np.asarray(affine, dtype=float), info=info)
        result.check = check
        if probabilities and lesion_p is not None:
            result.lesion_probability = can.back(lesion_p)
        return result
    box = crop_box(can.data, can.spacing)
    yield Progress("liver", 0, LIVER_STEPS)
    centred, grid, step = liver_patch(can.data, can.spacing, box)
    offsets = LIVER_OFFSETS if liver_offsets is None else tuple(liver_offsets)
    yield Progress("liver", LIVER_PREP_STEPS, LIVER_STEPS)
    total, cover = np.zeros(grid.shape, np.float32), np.zeros(grid.shape, np.float32)
    n_pos, span = len(offsets), LIVER_STEPS - 1 - LIVER_PREP_STEPS
    for k, dz in enumerate(offsets):
        centre = [n // 2 for n in grid.shape]
        centre[2] += int(dz)
        patch = extract_centered(grid, LIVER_IN, center=centre) if dz else centred
        lo, hi = LIVER_PREP_STEPS + k * span // n_pos, LIVER_PREP_STEPS + (k + 1) * span // n_pos
        out = yield from _network_steps("liver", patch, lo, hi, LIVER_STEPS)
        start = [c - o // 2 for c, o in zip(centre, LIVER_OUT)]
        part = np.zeros(grid.shape, np.float32)
        place_tile(part, start, out)
        total += part
        place_tile(part, start, np.ones(LIVER_OUT, np.float32))
        cover += part
    prob3 = total / np.maximum(cover, 1.0)
    keep = liver_mask_3mm(prob3)
    # 3 mm voxel -> canonical voxel: crop offset then the two zooms
    shift = np.eye(4)
    shift[:3, 3] = [b.start for b in box]
    g2c = _check_axis_aligned(shift @ step)
    liver_p = resample_to(np.where(keep, prob3, 0.0), g2c, can.data.shape)
    liver = liver_p > 0.5
    info.update(liver_seconds=time.perf_counter() - t0, crop_box=[[b.start, b.stop] for b in box])
    labels = liver.astype(np.uint8)
    lungs = lung_slab(can.data, can.spacing) or False
    check = check_draft(can.data, can.affine, labels, lungs=lungs)
    if check.hard:  # not a liver: nothing is shown or written, the lesion network does not run
        raise ImplausibleDraftError(f"no liver draft: {check.text()}", check, can.back(labels))
    yield Progress("liver", LIVER_STEPS, LIVER_STEPS, labels=can.back(labels))
    lesion_p = None
    if lesions and liver.any():
        lesion_p = yield from _lesion_stage(can, liver, labels, info, skip_empty_tiles, package_tiles)
        check = check_draft(can.data, can.affine, labels, lungs=lungs)
        if check.hard:
            raise ImplausibleDraftError(f"no liver draft: {check.text()}", check, can.back(labels))
    result = SegmentationResult(labels=can.back(labels), affine=np.asarray(affine, dtype=float), info=info)
    result.check = check
    if probabilities:
        result.liver_probability = can.back(liver_p)
        result.lesion_probability = can.back(lesion_p) if lesion_p is not None else None
    return result


def _lesion_stage(can, liver, labels, info, skip_empty_tiles, package_tiles):
    """The lesion tiles inside the dilated ``liver`` (canonical grid); sets ``labels`` to 2
    where the tumour probability is above 0.5; returns the probability."""
    t1 = time.perf_counter()
    img, dil, lbox, zoom = lesion_grid(can, liver)
    tiles = lesion_tiles(img.shape, dil if skip_empty_tiles else None, package=package_tiles)
    n_tiles = len(tiles)
    prob = np.zeros(img.shape, np.float32)
    for k, start in enumerate(tiles):
        yield Progress("lesions", k, n_tiles)
        place_tile(prob, start, run_network("lesion", tile_input(img, start)))
    yield Progress("lesions", n_tiles, n_tiles)
    shift = np.eye(4)
    shift[:3, 3] = [b.start for b in lbox]
    g2c = _check_axis_aligned(zoomed_affine(np.eye(4), can.data.shape, zoom) @ shift)
    lesion_p = resample_to(prob, g2c, can.data.shape)
    labels[lesion_p > 0.5] = 2
    info.update(lesion_seconds=time.perf_counter() - t1, lesion_tiles=n_tiles, lesion_grid=list(img.shape))
    return lesion_p


def segment(volume: np.ndarray, affine: np.ndarray, **kwargs) -> SegmentationResult:
    """:func:`iter_segment` run to the end."""
    gen = iter_segment(volume, affine, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
