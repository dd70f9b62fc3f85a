"""The networks' runtime (segment/runtime.py): torch vs OpenVINO on the example CT, same run.

Usage::

    nice python benchmarks/bench_runtime.py              # tiles, liver patch, click, whole draft
    python benchmarks/bench_runtime.py --skip-draft      # without the three whole drafts (minutes)
    python benchmarks/bench_runtime.py --skip-f64        # without the float64 reference (slow)

Data: TotalSegmentator's example CT with, planted by ``bench_refine.py``, a low-density sphere
in its liver.  Printed, with the load average (other work on the machine slows every row; the
ratios are from one run):

1. the lesion network on two real tiles (the planted sphere's and a healthy-liver one, the
   click's own input): torch float64 (the reference), torch float32 on 1 and 2 threads,
   OpenVINO float32 (the package's IR) and bf16 (for information): seconds per tile, ratio
   to torch float32, the largest probability difference and the Dice of the > 0.5 masks
   against float64, peak RSS (compilation included for OpenVINO);
2. the liver network on the example CT's real liver patch: torch float32 vs OpenVINO float32;
3. one click (``refine.add_lesion``) with each runtime;
4. the whole draft (liver and lesions) in torch, ``auto`` (what the package runs: OpenVINO
   for the lesion network) and ``openvino`` (both networks): seconds, ratio, peak RSS, the
   Dice of each draft's liver and lesions against the torch draft's and of its liver against
   TotalSegmentator's.

The OpenVINO IR is the one the package runs (``runtime.prepare``; converted here if the set-up
step did not).
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
from bench_refine import _case  # noqa: E402


def _dice(a, b) -> float:
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum())) if (a.any() or b.any()) else 1.0


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _tiles(case, threads):
    """The two click tiles of bench_refine.py, as the network sees them."""
    from napari_liverct.segment import pipeline as pl
    from napari_liverct.segment.tile import lesion_probability_at

    data, aff, liver, labels, ras, sphere_c, *_ = case
    seen = {}

    def keep(model, patch, monitor=None):
        seen["tile"] = np.array(patch)
        return np.zeros(pl.LESION_OUT, np.float32)

    real, pl.run_network = pl.run_network, keep
    tiles = {}
    try:
        for name, point in (("planted sphere", ras(sphere_c)), ("healthy liver", ras(sphere_c + [0, 0, 8]))):
            lesion_probability_at(data, aff, point, liver, threads=threads)
            tiles[name] = seen["tile"]
    finally:
        pl.run_network = real
    return tiles


def _timed(fn, *args):
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t0
    return out, dt, peak.delta / MB


def _torch_runner(model, threads, dtype="float32"):
    import torch

    from napari_liverct.segment.net import build
    from napari_liverct.segment.runtime import torch_network

    net = torch_network(model) if dtype == "float32" else build(model).double()

    def run(patch):
        torch.set_num_threads(threads)
        x = torch.from_numpy(patch.astype(dtype))[None, None]
        if dtype == "float32":
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.inference_mode():
            return net(x)[0, 0].numpy().astype(np.float32)

    return run


def _ov_runner(model, shape, threads, precision):
    import openvino as ov

    from napari_liverct.segment.runtime import ir_folder, prepare

    prepare(model, shape, threads=threads)
    core = ov.Core()
    holder = {}

    def run(patch):
        if "c" not in holder:  # compiled on first use: its memory counts in the first row
            holder["c"] = core.compile_model(
                core.read_model(str(ir_folder(model, shape) / "model.xml")),
                "CPU",
                {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads},
            )
        return np.array(holder["c"](patch[None, None])[0][0, 0])

    return run


def bench_tiles(case, threads, f64: bool) -> None:
    from napari_liverct.segment.pipeline import LESION_IN

    tiles = _tiles(case, threads)
    print(f"\n1. lesion network, one 180x172x86 tile, {threads} threads ({_load()})")
    runners = {}
    if f64:
        runners["torch float64 (reference)"] = _torch_runner("lesion", threads, "float64")
    runners["torch float32"] = _torch_runner("lesion", threads)
    runners["torch float32, 1 thread"] = _torch_runner("lesion", 1)
    runners["OpenVINO f32"] = _ov_runner("lesion", LESION_IN, threads, "f32")
    runners["OpenVINO bf16"] = _ov_runner("lesion", LESION_IN, threads, "bf16")
    ref = {}
    base = {}
    for label, run in runners.items():
        for name, tile in tiles.items():
            out, dt, mem = _timed(run, tile)
            if label.startswith("OpenVINO"):  # the first call compiled: time a second one
                out, dt, _ = _timed(run, tile)
            if label.startswith("torch float64"):
                ref[name] = out
            if label == "torch float32":
                base[name] = dt
            r = ref.get(name)
            agree = (
                f"largest diff {np.abs(out - r).max():.2e}, Dice {_dice(out, r):.5f}"
                if r is not None and not label.startswith("torch float64")
                else ""
            )
            ratio = f"{dt / base[name]:5.2f}x" if name in base else "     "
            print(f"  {label:27s} {name:15s} {dt:6.2f} s {ratio}  peak +{mem:5.0f} MB  {agree}  ({_load()})")
            if not f64 and label == "torch float32":
                ref[name] = out  # without float64, agreement is against torch float32


def bench_liver(threads) -> None:
    from napari_liverct.segment.pipeline import LIVER_IN, crop_box, liver_patch
    from napari_liverct.segment.preprocess import to_canonical
    from napari_liverct.segment.weights import data_dir
    from napari_liverct.volumes.nifti import read_nifti

    ct = read_nifti(data_dir() / "totalsegmentator" / "example_ct.nii.gz")
    can = to_canonical(np.asarray(ct.data, dtype=np.float32), ct.affine)
    patch, _, _ = liver_patch(can.data, can.spacing, crop_box(can.data, can.spacing))
    print(f"\n2. liver network, the example CT's 189x162x162 patch, {threads} threads ({_load()})")
    want, t_torch, m_torch = _timed(_torch_runner("liver", threads), patch)
    print(f"  torch float32   {t_torch:6.2f} s         peak +{m_torch:5.0f} MB")
    run = _ov_runner("liver", LIVER_IN, threads, "f32")
    _, _, m_ov = _timed(run, patch)
    got, t_ov, _ = _timed(run, patch)
    print(
        f"  OpenVINO f32    {t_ov:6.2f} s {t_ov / t_torch:5.2f}x  peak +{m_ov:5.0f} MB  largest diff from torch "
        f"{np.abs(got - want).max():.2e}, Dice {_dice(got, want):.5f} ({_load()})"
    )


def _with_runtime(name, fn):
    from napari_liverct.segment import runtime

    old = os.environ.get(runtime.ENV)
    os.environ[runtime.ENV] = name
    try:
        return fn()
    finally:
        if old is None:
            os.environ.pop(runtime.ENV, None)
        else:
            os.environ[runtime.ENV] = old


def bench_click(case, threads) -> None:
    from napari_liverct import refine

    data, aff, liver, labels, ras, sphere_c, *_ = case
    lab = liver.astype(np.uint8)
    print(f"\n3. one click (refine.add_lesion on the planted sphere), {threads} threads")
    for name in ("torch", "openvino"):
        _with_runtime(name, lambda: refine.add_lesion(data, aff, lab, ras(sphere_c), threads=threads))  # warm
        t0 = time.perf_counter()
        r = _with_runtime(name, lambda: refine.add_lesion(data, aff, lab, ras(sphere_c), threads=threads))
        print(f"  {name:9s} {time.perf_counter() - t0:6.2f} s  {r.summary}  ({_load()})")


def bench_draft(threads) -> None:
    from napari_liverct.segment.pipeline import segment
    from napari_liverct.segment.weights import data_dir
    from napari_liverct.volumes.nifti import read_nifti

    root = data_dir() / "totalsegmentator"
    ct = read_nifti(root / "example_ct.nii.gz")
    data = np.asarray(ct.data)
    ts_liver = np.asarray(read_nifti(root / "example_seg_fast_force_split.nii.gz").data) == 5
    print(f"\n4. whole draft of the example CT {data.shape}, {threads} threads (auto: OpenVINO for the lesions only)")
    drafts, times = {}, {}
    for name in ("torch", "auto", "openvino"):
        res, dt, mem = _timed(_with_runtime, name, lambda: segment(data, ct.affine, threads=threads))
        drafts[name], times[name] = res.labels, dt
        a, b = drafts["torch"], res.labels
        print(
            f"  {name:9s} {dt:7.1f} s {dt / times['torch']:5.2f}x  peak +{mem:5.0f} MB  liver Dice vs "
            f"TotalSegmentator {_dice(b >= 1, ts_liver):.4f}; vs the torch draft: liver Dice {_dice(a >= 1, b >= 1):.5f}, "
            f"lesion Dice {_dice(a == 2, b == 2):.5f} ({(b == 2).sum()} voxels), {(a != b).sum()} voxels differ  ({_load()})"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-tiles", action="store_true", help="without the per-tile and liver-patch rows")
    p.add_argument("--skip-click", action="store_true", help="without the click")
    p.add_argument("--skip-draft", action="store_true", help="without the whole drafts")
    p.add_argument("--skip-f64", action="store_true", help="agreement against torch float32, not float64")
    args = p.parse_args()
    import openvino as ov
    import torch

    from napari_liverct.segment import netcache

    os.environ.pop(netcache.ENV, None)  # every pass runs: no network-output memo
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, OpenVINO {ov.get_version()}, {_load()}")
    case = _case()
    if not args.skip_tiles:
        bench_tiles(case, args.threads, not args.skip_f64)
        bench_liver(args.threads)
    if not args.skip_click:
        bench_click(case, args.threads)
    if not args.skip_draft:
        bench_draft(args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
