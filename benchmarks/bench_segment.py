"""Draft segmentation on the CPU: liver and lesion times, tiles/s and peak memory (issue 17).

Usage::

    nice python benchmarks/bench_segment.py                 # the real example CT, 2 threads
    python benchmarks/bench_segment.py --ct CT.nii.gz --threads 2

Every measurement runs in a fresh child process (its own imports and peak memory):

1. ``liver``: :func:`napari_liverct.segment.pipeline.segment` without lesions on the CT as
   stored, and on the same CT resampled to a clinical 0.78 x 0.78 x 2.5 mm grid (the
   pre-processing grows with the grid, the network does not); time, peak RSS growth, and
   the liver Dice against TotalSegmentator's liver (label 5) on the example CT.
2. ``lesions``, on the same tiles, with the liver of step 1:
   - *port*: the straightforward port, every tile ``DeepVoxNet.predict`` computes
     (including those whose output it overwrites), in its order, in PyTorch's default
     memory layout;
   - *ours*: what the package runs: the tiles whose output survives, without the tiles
     whose output holds no voxel of the dilated liver, in ``channels_last_3d`` layout.
   Agreement (thresholded Dice, largest probability difference) is checked first, then
   times, tiles/s and the speed-up are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MB, PeakMemory, child_report, run_child  # noqa: E402

DATA = Path(os.environ.get("LIVERCT_DATA") or Path.home() / ".cache" / "napari-liverct")
EXAMPLE_CT = DATA / "totalsegmentator" / "example_ct.nii.gz"
EXAMPLE_SEG = DATA / "totalsegmentator" / "example_seg_fast_force_split.nii.gz"


def _load(path: str, clinical: bool):
    import nibabel as nib

    img = nib.load(path)
    data, affine = np.asanyarray(img.dataobj), img.affine
    if clinical:
        from scipy import ndimage

        zooms = np.array(img.header.get_zooms()[:3], float)
        target = np.array([0.78, 0.78, 2.5])
        data = ndimage.zoom(data.astype(np.float32), zooms / target, order=1).round().astype(np.int16)
        affine = affine.copy()
        affine[:3, :3] = affine[:3, :3] @ np.diag(target / zooms)
    return data, affine


def child_liver(args) -> None:
    import torch

    from napari_liverct.segment.pipeline import segment

    torch.set_num_threads(args.threads)
    data, affine = _load(args.ct, args.clinical)
    # no warm-up: a command-line run is a cold start (weights loaded, oneDNN primitives built)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        res = segment(data, affine, lesions=False, threads=args.threads)
        secs = time.perf_counter() - t0
    out = {"seconds": secs, "peak_mb": mem.delta / MB, "shape": list(data.shape), "exact_peak": mem.exact}
    if not args.clinical and args.reference and Path(args.reference).exists():
        import nibabel as nib

        ref = np.asanyarray(nib.load(args.reference).dataobj) == 5
        p = res.labels == 1
        out["dice_vs_totalsegmentator"] = float(2 * (p & ref).sum() / (p.sum() + ref.sum()))
    if args.save_liver:
        np.save(args.save_liver, res.labels == 1)
    child_report(out)


def child_lesions(args) -> None:
    import torch

    from napari_liverct.segment import pipeline as pl
    from napari_liverct.segment.preprocess import to_canonical

    torch.set_num_threads(args.threads)
    data, affine = _load(args.ct, False)
    can = to_canonical(data, affine)
    liver = to_canonical(np.load(args.liver), affine).data
    img, dil, box, zoom = pl.lesion_grid(can, liver)
    if args.mode == "port":
        from napari_liverct.segment.net import build

        tiles = pl.lesion_tiles(img.shape, None, package=True)
        net = build("lesion")

        def run(patch):
            with torch.inference_mode():
                return net(torch.from_numpy(patch)[None, None])[0, 0].numpy()

    else:
        tiles = pl.lesion_tiles(img.shape, dil)

        def run(patch):
            return pl.run_network("lesion", patch)

    run(np.zeros(pl.LESION_IN, np.float32))  # warm-up (oneDNN primitives)
    prob = np.zeros(img.shape, np.float32)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        for start in tiles:
            pl.place_tile(prob, start, run(pl.tile_input(img, start)))
        secs = time.perf_counter() - t0
    np.save(args.save, prob)
    child_report(
        {
            "seconds": secs,
            "tiles": len(tiles),
            "tiles_per_s": len(tiles) / secs,
            "peak_mb": mem.delta / MB,
            "grid": list(img.shape),
            "package_tiles": len(pl.lesion_tiles(img.shape, None, package=True)),
        }
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ct", default=str(EXAMPLE_CT))
    p.add_argument("--reference", default=str(EXAMPLE_SEG))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", choices=("liver", "lesions"), default=None)
    p.add_argument("--mode", choices=("port", "ours"), default="ours")
    p.add_argument("--clinical", action="store_true")
    p.add_argument("--liver", default=None)
    p.add_argument("--save", default=None)
    p.add_argument("--save-liver", default=None)
    args = p.parse_args()
    if args.child == "liver":
        child_liver(args)
        return 0
    if args.child == "lesions":
        child_lesions(args)
        return 0

    me = str(Path(__file__).resolve())
    env = {"OMP_NUM_THREADS": str(args.threads)}
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.threads} threads")
    with tempfile.TemporaryDirectory(prefix="liverct-bench-seg-") as tmp:
        liver_npy = str(Path(tmp) / "liver.npy")
        common = ["--ct", args.ct, "--threads", str(args.threads), "--reference", args.reference]
        liver = run_child([me, "--child", "liver", *common, "--save-liver", liver_npy], env=env, timeout=1800)
        print(f"liver, CT as stored:        {json.dumps(liver)}")
        clin = run_child([me, "--child", "liver", *common, "--clinical"], env=env, timeout=1800)
        print(f"liver, 0.78x0.78x2.5 mm:    {json.dumps(clin)}")
        if "error" in liver:
            return 1
        res = {}
        for mode in ("port", "ours"):
            npy = str(Path(tmp) / f"{mode}.npy")
            res[mode] = run_child(
                [me, "--child", "lesions", "--mode", mode, *common, "--liver", liver_npy, "--save", npy],
                env=env,
                timeout=3600,
            )
            res[mode]["npy"] = npy
            print(f"lesions, {mode:14s}: {json.dumps({k: v for k, v in res[mode].items() if k != 'npy'})}")
            print(f"  load average now: {os.getloadavg()[0]:.2f}")
        if "error" in res["port"] or "error" in res["ours"]:
            return 1
        a, b = np.load(res["port"]["npy"]), np.load(res["ours"]["npy"])
        pa, pb = a > 0.5, b > 0.5
        dice = 1.0 if pa.sum() + pb.sum() == 0 else 2 * (pa & pb).sum() / (pa.sum() + pb.sum())
        print(
            f"agreement ours vs port: Dice {dice:.4f} ({pa.sum()} / {pb.sum()} voxels > 0.5), "
            f"max |prob diff| {np.abs(a - b).max():.2e}"
        )
        sp = res["port"]["seconds"] / res["ours"]["seconds"]
        print(
            f"lesions: port {res['port']['seconds']:.1f} s ({res['port']['tiles']} tiles, "
            f"{res['port']['tiles_per_s']:.3f} tiles/s), ours {res['ours']['seconds']:.1f} s "
            f"({res['ours']['tiles']} tiles, {res['ours']['tiles_per_s']:.3f} tiles/s): {sp:.2f}x faster"
        )
        print(
            f"per tile: port {res['port']['seconds'] / res['port']['tiles']:.2f} s (default layout), "
            f"ours {res['ours']['seconds'] / res['ours']['tiles']:.2f} s (channels_last_3d); "
            f"tiles: {res['port']['tiles']} -> {res['ours']['tiles']} "
            f"(package {res['ours']['package_tiles']}, lesion grid {res['ours']['grid']})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
