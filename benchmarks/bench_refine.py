"""Correcting a draft (issue 24): time per edit on 2 threads against the whole lesion stage it
avoids re-running, and the lesion network's runtime: torch (today) vs OpenVINO fp32 / bf16.

Usage::

    nice python benchmarks/bench_refine.py            # TotalSegmentator's example CT, 2 threads
    python benchmarks/bench_refine.py --skip-stage    # without the whole lesion stage (minutes)

Data: the example CT with TotalSegmentator's liver (label 5) as the draft's liver and, planted
here, a low-density sphere (-50 HU, r 10 mm) in that liver plus two touching sphere labels
(a merged lesion) and strokes around the sphere.  Printed:

1. every edit of :mod:`napari_liverct.refine` timed (median of 3; ``add_lesion`` once: one
   network run), and the lesion stage of :func:`napari_liverct.segment.pipeline.iter_segment`
   inside the same liver, which a click replaces: seconds, ratio, peak RSS;
2. the lesion network on real tiles of this CT (the planted sphere's tile and a healthy-liver
   tile) in torch (``channels_last_3d``, what the package runs), OpenVINO fp32 and OpenVINO
   bf16: seconds per tile, the largest probability difference against torch and the Dice of
   the > 0.5 masks.  OpenVINO's model is converted from the on-disk weights (``ov.convert_model``
   of the torch network) once and kept as IR in the data cache; the conversion time is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MB, PeakMemory  # noqa: E402


def _case():
    from scipy import ndimage

    from napari_liverct.segment.weights import data_dir
    from napari_liverct.volumes.nifti import read_nifti

    root = data_dir() / "totalsegmentator"
    ct = read_nifti(root / "example_ct.nii.gz")
    data, aff = np.asarray(ct.data).astype(np.float32), ct.affine
    liver = np.asarray(read_nifti(root / "example_seg_fast_force_split.nii.gz").data) == 5
    sp = np.sqrt((aff[:3, :3] ** 2).sum(0))
    inner = ndimage.distance_transform_edt(np.pad(liver, 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    deep = np.array(np.unravel_index(np.argmax(inner), liver.shape))
    grid = np.ogrid[tuple(slice(0, n) for n in liver.shape)]

    def ball(c, r):
        return np.sqrt(sum(((g - cc) * s) ** 2 for g, cc, s in zip(grid, c, sp))) <= r

    sphere_c = deep + [0, 0, -4]
    data[ball(sphere_c, 10)] -= 50.0
    labels = liver.astype(np.uint8)
    c1, c2 = deep + [-3, 0, 0], deep + [3, 0, 0]
    labels[ball(c1, 10) | ball(c2, 10)] = 2
    ras = lambda v: (aff @ np.r_[np.asarray(v, float), 1.0])[:3]  # noqa: E731
    return data, aff, liver, labels, ras, sphere_c, c1, c2, ball


def _median(fn, n=3):
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def bench_edits(threads: int, skip_stage: bool) -> None:
    import torch

    from napari_liverct import refine

    torch.set_num_threads(threads)
    data, aff, liver, labels, ras, sphere_c, c1, c2, ball = _case()
    liver_lab = liver.astype(np.uint8)
    print(f"example CT {data.shape}, {threads} threads, load average {os.getloadavg()[0]:.1f}")
    rows = []
    refine.add_lesion(data, aff, liver_lab, ras(sphere_c), threads=threads)  # weights, network, caches
    t0 = time.perf_counter()
    r = refine.add_lesion(data, aff, liver_lab, ras(sphere_c), threads=threads)
    rows.append(("add_lesion (one network run)", time.perf_counter() - t0, r.summary))
    from napari_liverct.segment.tile import lesion_probability_at

    tile = lesion_probability_at(data, aff, ras(sphere_c), liver, threads=threads)
    t, res = _median(lambda: refine.add_lesion(data, aff, liver_lab, ras(sphere_c), threshold=0.3, probability=tile))
    rows.append(("add_lesion, new sensitivity (kept tile)", t, res.summary))
    big = np.zeros((512, 512, 300), np.uint8)  # the same tile on a full-size grid: the cost stays in the tile's box
    off = np.array([(512 - liver.shape[0]) // 2, (512 - liver.shape[1]) // 2, (300 - liver.shape[2]) // 2])
    big[tuple(slice(int(o), int(o) + n) for o, n in zip(off, liver.shape))] = liver_lab
    big_aff = aff @ np.r_[np.c_[np.eye(3), -off], [[0, 0, 0, 1]]]
    big_tile = type(tile)(
        tile.probability, tuple(slice(b.start + int(o), b.stop + int(o)) for b, o in zip(tile.box, off)), 0.0
    )
    t, res = _median(lambda: refine.add_lesion(None, big_aff, big, ras(sphere_c), threshold=0.3, probability=big_tile))
    rows.append(("  the same on a 512 x 512 x 300 grid", t, res.summary))
    split = refine.split_lesion(None, aff, labels, [ras(c1), ras(c2)])
    for name, fn in (
        ("delete_lesion", lambda: refine.delete_lesion(None, aff, labels, ras(c1))),
        ("split_lesion", lambda: refine.split_lesion(None, aff, labels, [ras(c1), ras(c2)])),
        ("merge_lesions", lambda: refine.merge_lesions(None, aff, split.labels, [ras(c1), ras(c2)])),
        ("relabel", lambda: refine.relabel(None, aff, labels, ras(c1), 1)),
    ):
        t, res = _median(fn)
        rows.append((name, t, res.summary))
    b = ball(sphere_c, 10)
    fg = [ras(v) for v in np.argwhere(ball(sphere_c, 5))[::3]]
    bg = [ras(v) for v in np.argwhere(ball(sphere_c, 16) & ~ball(sphere_c, 13))[::5]]
    refine.grow(data, aff, liver_lab, 2, fg, bg)  # ITK's first use loads its modules
    t, res = _median(lambda: refine.grow(data, aff, liver_lab, 2, fg, bg))
    rows.append(("grow (itk.FastGrowCut)", t, res.summary))
    ks = sorted(set(np.argwhere(b)[:, 2]))
    drawn = [ras(v) for v in np.argwhere(b & np.isin(np.arange(b.shape[2]), [ks[1], ks[-2]])[None, None, :])]
    t, res = _median(lambda: refine.interpolate(None, aff, liver_lab, 2, drawn))
    rows.append(("interpolate (itk MCI)", t, res.summary))
    for name, t, summary in rows:
        print(f"  {name:32s} {t:8.3f} s   {summary}")
    if skip_stage:
        return
    from napari_liverct.segment.pipeline import iter_segment

    with PeakMemory() as peak:
        t0 = time.perf_counter()
        gen = iter_segment(data, aff, threads=threads, liver=liver)
        n = 0
        try:
            while True:
                step = next(gen)
                n = max(n, step.total if step.stage == "lesions" else 0)
        except StopIteration:
            pass
        stage = time.perf_counter() - t0
    print(f"  whole lesion stage ({n} tiles, inside the same liver): {stage:.1f} s, peak RSS +{peak.delta / MB:.0f} MB")
    print(f"  a click costs {rows[0][1] / stage:.3f} of the stage it avoids ({stage / rows[0][1]:.1f}x)")


def _ov_model(precision: str, threads: int):
    import openvino as ov
    import torch

    from napari_liverct.segment.net import build
    from napari_liverct.segment.pipeline import LESION_IN
    from napari_liverct.segment.weights import data_dir

    xml = data_dir() / "weights" / "openvino" / "pyliverlesionseg-0.3-lesion.xml"
    core = ov.Core()
    if not xml.exists():
        t0 = time.perf_counter()
        model = ov.convert_model(build("lesion"), example_input=torch.zeros((1, 1, *LESION_IN)))
        xml.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, str(xml), compress_to_fp16=False)
        print(f"  OpenVINO conversion from the on-disk weights: {time.perf_counter() - t0:.1f} s (once, kept as IR)")
    model = core.read_model(str(xml))
    return core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads})


def bench_runtimes(threads: int) -> None:
    import torch

    from napari_liverct.segment import pipeline as pl
    from napari_liverct.segment.tile import lesion_probability_at

    torch.set_num_threads(threads)
    data, aff, liver, labels, ras, sphere_c, c1, c2, ball = _case()
    tiles = {}
    captured = {}
    real = pl.run_network

    def grab(model, patch, monitor=None):
        captured["tile"] = np.array(patch)
        return real(model, patch)

    pl.run_network = grab
    try:
        for name, point in (("planted sphere", ras(sphere_c)), ("healthy liver", ras(sphere_c + [0, 0, 8]))):
            lesion_probability_at(data, aff, point, liver, threads=threads)
            tiles[name] = captured["tile"]
    finally:
        pl.run_network = real
    print(f"lesion network, one 180x172x86 tile, {threads} threads, load average {os.getloadavg()[0]:.1f}")
    ref = {}
    for name, tile in tiles.items():
        t0 = time.perf_counter()
        ref[name] = pl.run_network("lesion", tile)
        print(f"  torch channels_last_3d  {name:15s} {time.perf_counter() - t0:6.2f} s")
    try:
        import openvino  # noqa: F401
    except ImportError:
        print("  OpenVINO is not installed: torch only")
        return
    for precision in ("f32", "bf16"):
        compiled = _ov_model(precision, threads)
        for name, tile in tiles.items():
            compiled(tile[None, None])  # first inference allocates
            t0 = time.perf_counter()
            out = np.asarray(compiled(tile[None, None])[0])[0, 0]
            dt = time.perf_counter() - t0
            a, b = ref[name] > 0.5, out > 0.5
            dice = 2 * (a & b).sum() / max(1, a.sum() + b.sum()) if (a.any() or b.any()) else 1.0
            print(
                f"  OpenVINO {precision:4s}           {name:15s} {dt:6.2f} s   largest difference "
                f"{np.abs(out - ref[name]).max():.4f}, Dice of > 0.5 {dice:.4f} ({int(a.sum())} voxels in torch)"
            )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-stage", action="store_true", help="do not run the whole lesion stage")
    p.add_argument("--skip-runtimes", action="store_true", help="torch only, no OpenVINO comparison")
    args = p.parse_args()
    bench_edits(args.threads, args.skip_stage)
    if not args.skip_runtimes:
        bench_runtimes(args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
