"""Correcting a draft (issue 24): time per edit on 2 threads against the whole lesion stage it
avoids re-running (the lesion network in the package's runtime: OpenVINO when prepared, else
torch; ``NAPARI_LIVERCT_RUNTIME=torch`` for torch).  Torch against OpenVINO per tile, with the
agreement, is ``bench_runtime.py``.

Usage::

    nice python benchmarks/bench_refine.py            # TotalSegmentator's example CT, 2 threads
    python benchmarks/bench_refine.py --skip-stage    # without the whole lesion stage (minutes)

Data: the example CT with TotalSegmentator's liver (label 5) as the draft's liver and, planted
here, a low-density sphere (-50 HU, r 10 mm) in that liver plus two touching sphere labels
(a merged lesion) and strokes around the sphere.  Printed: every edit of
:mod:`napari_liverct.refine` timed (median of 3; ``add_lesion`` once: one network run), and
the lesion stage of :func:`napari_liverct.segment.pipeline.iter_segment` inside the same
liver, which a click replaces: seconds, ratio, peak RSS.
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-stage", action="store_true", help="do not run the whole lesion stage")
    args = p.parse_args()
    bench_edits(args.threads, args.skip_stage)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
