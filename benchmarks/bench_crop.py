"""Foreground crop: napari-liverct vs MONAI CropForeground on one CT-like volume.

Usage::

    python benchmarks/bench_crop.py            # 512 x 512 x 600 int16 (issue target)
    python benchmarks/bench_crop.py --size 256 256 200

Prints the time of our box + crop, MONAI's CropForeground on a torch tensor and on
a numpy array (same select rule, channel axis added), one read pass
(``image.sum()``), the ratios, and peak traced memory (tracemalloc) of ours, which
must stay far below the volume size: no copy of the volume to find the box or crop.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np


def make_volume(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """int16 CT-like volume, Fortran order like a NIfTI file: air -1000 outside an
    elliptic body (fat -100, soft tissue ~40 HU, noise), a table below it."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    vol = np.full(shape, -1000, np.int16, order="F")
    x = (np.arange(nx) - nx / 2) / (0.38 * nx)
    y = (np.arange(ny) - ny * 0.47) / (0.28 * ny)
    body = (x[:, None] ** 2 + y[None, :] ** 2) <= 1.0
    inner = (x[:, None] ** 2 + y[None, :] ** 2) <= 0.85
    z0, z1 = int(0.05 * nz), int(0.95 * nz)
    noise = rng.normal(0, 15, (nx, ny)).astype(np.int16)
    plane = np.where(inner, 40 + noise, np.where(body, -100 + noise, -1000)).astype(np.int16)
    vol[:, :, z0:z1] = plane[:, :, None]
    vol[int(0.1 * nx) : int(0.9 * nx), int(0.85 * ny) : int(0.87 * ny), :] = -300  # table, above -500
    return vol


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, nargs=3, default=(512, 512, 600))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threshold", type=float, default=-500.0)
    args = p.parse_args(argv)

    from napari_liverct.crop.foreground import apply_box, foreground_box

    vol = make_volume(tuple(args.size))
    t = args.threshold
    mb = vol.nbytes / 1e6
    print(f"volume {vol.shape} {vol.dtype} ({mb:.0f} MB, Fortran order), rule value > {t:g}")

    t_sum, _ = best_of(lambda: vol.sum(), args.repeat)

    def ours():
        start, end = foreground_box(vol, threshold=t)
        return apply_box(vol, np.eye(4), start, end), start, end

    t_ours, ((view, _), start, end) = best_of(ours, args.repeat)
    assert np.shares_memory(view, vol), "the crop must be a view"
    tracemalloc.start()
    ours()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    import torch
    from monai.transforms import CropForeground

    torch.set_num_threads(max(1, torch.get_num_threads()))
    crop = CropForeground(select_fn=lambda x: x > t, return_coords=True)
    chan_np = vol[None]
    chan_t = torch.from_numpy(np.ascontiguousarray(vol))[None]  # MONAI's usual tensor input
    t_monai_t, (out_t, s_t, e_t) = best_of(lambda: crop(chan_t), max(1, args.repeat - 1))
    t_monai_np, (out_np, s_np, e_np) = best_of(lambda: crop(chan_np), max(1, args.repeat - 1))
    for s_, e_ in ((s_t, e_t), (s_np, e_np)):
        assert np.array_equal(s_, start) and np.array_equal(e_, end), (s_, e_, start, end)
    assert tuple(out_t.shape[1:]) == view.shape
    np.testing.assert_array_equal(np.asarray(out_np)[0], view)

    print(f"box start {start.tolist()} end {end.tolist()} (identical to MONAI's)")
    print(f"one read pass (image.sum()) : {t_sum * 1e3:8.1f} ms")
    print(f"napari-liverct box + crop   : {t_ours * 1e3:8.1f} ms  ({t_ours / t_sum:.2f}x one read pass; target <= 2x)")
    print(f"MONAI CropForeground, torch : {t_monai_t * 1e3:8.1f} ms  ({t_monai_t / t_ours:.0f}x slower)")
    print(f"MONAI CropForeground, numpy : {t_monai_np * 1e3:8.1f} ms  ({t_monai_np / t_ours:.0f}x slower)")
    print(f"peak traced memory of ours  : {peak / 1e6:8.2f} MB  ({100 * peak / vol.nbytes:.2f}% of the volume)")
    print("(timings on a shared machine are noisy; best of --repeat runs)")


if __name__ == "__main__":
    main()
