"""Compare a prediction with its ground truth: napari-liverct vs MONAI's metrics on one pair.

Usage::

    python benchmarks/bench_compare.py                   # 512 x 512 x 300, liver + ~20 lesions
    python benchmarks/bench_compare.py --size 256 256 150

Generates a ground truth (an irregular liver with ~20 spherical tumours) and a
prediction (the liver slightly shifted and grown, tumours jittered, two missed, two
invented) on a 0.78 x 0.78 x 1.5 mm LPS grid, then times

* ours: :func:`napari_liverct.compare.compare_arrays` - the full per-case evaluation
  (per-class Dice/IoU/counts/volumes, HD, HD95, ASSD, NSD at 2 mm, and the lesion
  matching with per-lesion diameters and centroids);
* MONAI: ``DiceMetric`` + ``compute_hausdorff_distance(percentile=95)`` +
  ``compute_average_surface_distance(symmetric=True)`` + ``compute_surface_dice`` on
  one-hot float tensors (what a MONAI user runs; no lesion analysis), including the
  one-hot conversion.

It checks that both give the same Dice, HD95, ASSD and NSD (relative 1e-5) before
printing times, the ratio and the peak resident-memory growth of each (``VmHWM``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MB, PeakMemory  # noqa: E402

SPACING = (0.78, 0.78, 1.5)


def _ball(shape, centre, radius_mm, box=None):
    """Boolean ball of ``radius_mm`` (anisotropic spacing) inside its own bounding box."""
    r = [int(np.ceil(radius_mm / s)) + 1 for s in SPACING]
    sl = tuple(slice(max(0, int(c) - k), min(n, int(c) + k + 1)) for c, k, n in zip(centre, r, shape))
    grids = np.ogrid[sl]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, SPACING))
    return sl, d2 <= radius_mm**2


def make_pair(shape=(512, 512, 300), n_lesions=20, seed=0):
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    gt = np.zeros(shape, np.uint8, order="F")
    pred = np.zeros(shape, np.uint8, order="F")
    x = (np.arange(nx)[:, None, None] - 0.36 * nx) / (0.20 * nx)
    y = (np.arange(ny)[None, :, None] - 0.50 * ny) / (0.17 * ny)
    z = (np.arange(nz)[None, None, :] - 0.50 * nz) / (0.22 * nz)
    wobble = 0.08 * np.sin(3 * np.arange(nz) / nz * np.pi)[None, None, :]
    r2 = x**2 + y**2 + z**2
    gt[r2 <= 1.0 + wobble] = 1
    xs = (np.arange(nx)[:, None, None] - 0.36 * nx - 1.5) / (0.203 * nx)
    pred[xs**2 + y**2 + z**2 <= 1.0 + wobble] = 1
    del x, y, z, r2, xs
    centres = []
    for _ in range(100 * n_lesions):  # well-separated centres inside the liver
        if len(centres) == n_lesions:
            break
        c = (rng.uniform(0.22, 0.50) * nx, rng.uniform(0.40, 0.60) * ny, rng.uniform(0.35, 0.65) * nz)
        far = min((np.linalg.norm(np.subtract(c, o) * SPACING) for o in centres), default=np.inf)
        if far > 0.06 * nx * SPACING[0] + 10:
            centres.append(c)
    for i, c in enumerate(centres):
        r = rng.uniform(3, 14) * min(1.0, nx / 512)
        sl, ball = _ball(shape, c, r)
        gt[sl][ball] = 2
        if i < 2:
            continue  # missed
        cp = np.add(c, rng.normal(0, 1.0, 3))
        sl, ball = _ball(shape, cp, r * rng.uniform(0.85, 1.15))
        pred[sl][ball] = 2
    for _ in range(2):  # invented
        c = (rng.uniform(0.25, 0.45) * nx, rng.uniform(0.42, 0.58) * ny, rng.uniform(0.3, 0.7) * nz)
        sl, ball = _ball(shape, c, 4.0)
        pred[sl][ball] = 2
    return gt, pred


def run_ours(gt, pred, affine):
    from napari_liverct.compare import compare_arrays

    return compare_arrays(gt, pred, affine, names={0: "background", 1: "liver", 2: "tumour"}, tolerance_mm=2.0)


def run_monai(gt, pred):
    import torch
    from monai.metrics import (
        DiceMetric,
        compute_average_surface_distance,
        compute_hausdorff_distance,
        compute_surface_dice,
    )

    def onehot(a):
        t = torch.from_numpy(np.ascontiguousarray(a).astype(np.int64))[None, None]
        return torch.zeros((1, 3, *a.shape), dtype=torch.float32).scatter_(1, t, 1.0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, g = onehot(pred), onehot(gt)
        dm = DiceMetric(include_background=False, reduction="none")
        dm(p, g)
        dice = dm.aggregate()[0].numpy()
        hd95 = compute_hausdorff_distance(p, g, spacing=SPACING, percentile=95)[0].numpy()
        assd = compute_average_surface_distance(p, g, spacing=SPACING, symmetric=True)[0].numpy()
        nsd = compute_surface_dice(p, g, [2.0, 2.0], spacing=SPACING)[0].numpy()
    return {"dice": dice, "hd95": hd95, "assd": assd, "nsd": nsd}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs=3, default=(512, 512, 300))
    ap.add_argument("--lesions", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    gt, pred = make_pair(tuple(args.size), args.lesions)
    affine = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])
    print(
        f"pair {gt.shape} uint8 ({gt.nbytes / MB:.0f} MB each), spacing {SPACING} mm LPS, "
        f"made in {time.perf_counter() - t0:.1f} s"
    )

    import monai  # noqa: F401 - imported before timing so neither side pays for imports

    import napari_liverct.compare  # noqa: F401

    times_ours, times_monai = [], []
    for _ in range(args.repeat):
        with PeakMemory() as mem_ours:
            t = time.perf_counter()
            ours = run_ours(gt, pred, affine)
            times_ours.append(time.perf_counter() - t)
    for _ in range(args.repeat):
        with PeakMemory() as mem_monai:
            t = time.perf_counter()
            ref = run_monai(gt, pred)
            times_monai.append(time.perf_counter() - t)

    rows = []
    for i, c in enumerate(ours.classes):
        for key in ("dice", "hd95", "assd", "nsd"):
            a, b = getattr(c, key), float(ref[key][i])
            ok = np.isclose(a, b, rtol=1e-5, atol=1e-6)
            rows.append((c.name, key, a, b, ok))
    print("\nvalue check (ours vs MONAI):")
    for name, key, a, b, ok in rows:
        print(f"  {name:7s} {key:5s} {a:12.6f} {b:12.6f}  {'ok' if ok else 'DIFFERENT'}")
    les = ours.lesions
    print(
        f"  lesions: {les.n_gt} true, {les.n_pred} predicted, missed {les.fn}, invented {les.fp}, "
        f"F1 {les.f1:.3f}, PQ {les.pq:.3f} (MONAI: not computed)"
    )
    if not all(r[4] for r in rows):
        raise SystemExit("values differ: no timing ratio printed")
    to, tm = min(times_ours), min(times_monai)
    print(f"\n{'':32s} {'best s':>8s} {'median s':>9s} {'peak MB':>8s}")
    print(f"{'napari-liverct (full case)':32s} {to:8.2f} {np.median(times_ours):9.2f} {mem_ours.delta / MB:8.0f}")
    print(f"{'MONAI Dice+HD95+ASSD+NSD':32s} {tm:8.2f} {np.median(times_monai):9.2f} {mem_monai.delta / MB:8.0f}")
    print(
        f"\nspeed-up: {tm / to:.1f}x (best of {args.repeat}); ours also matched "
        f"{les.n_gt} lesions and measured their diameters"
    )


if __name__ == "__main__":
    main()
