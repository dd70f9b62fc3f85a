"""Benchmark the dataset survey (issue 6): scaling with Dask worker processes.

Generates N phantom cases (default 8 of 256 x 256 x 100, int16 CT + uint8 labels,
gzip, spacing varied per case) in an MSD folder under the benchmark cache, then times
the same survey:

serial (in-process)   survey(cases, scheduler="synchronous"): no Dask at all
naive nibabel loop    what one would write by hand: nibabel get_fdata + np.unique +
                      np.percentile + scipy.ndimage.label, one case after another
dask, 1 worker        LocalCluster(1 process, 1 thread); survey(cases, client=...)
dask, 2 workers       LocalCluster(2 processes)

Cluster start-up is timed separately (it is paid once per survey, not per case).
Peak memory: this process's peak RSS growth during the survey, and each worker
process's peak RSS (VmHWM, includes its imports).  Target: 2 workers close to 2x
faster than 1 worker (the machine has 2 cores; other work running on it lowers the
speed-up, so the lead re-runs this alone).

Usage::

    .venv/bin/python benchmarks/bench_survey.py [--cases 8] [--size 256 256 100] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, MB, PeakMemory  # noqa: E402


def make_dataset(n: int, size: tuple[int, int, int]) -> Path:
    """MSD-style folder of ``n`` phantom cases (cached by n and size)."""
    import nibabel as nib

    from napari_liverct.volumes.phantom import make_phantom

    root = BENCH_DIR / f"survey_{n}_{'x'.join(map(str, size))}" / "Task03_Liver"
    if (root / "dataset.json").exists():
        return root
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    training = []
    for i in range(n):
        spacing = (0.7 + 0.05 * (i % 4), 0.7 + 0.05 * (i % 4), (1.0, 2.5, 5.0)[i % 3])
        ph = make_phantom(shape=size, spacing=spacing, seed=i)
        nib.save(nib.Nifti1Image(ph.image, ph.affine), root / "imagesTr" / f"liver_{i}.nii.gz")
        nib.save(nib.Nifti1Image(ph.labels, ph.affine), root / "labelsTr" / f"liver_{i}.nii.gz")
        training.append({"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"})
    (root / "dataset.json").write_text(
        json.dumps(
            {
                "name": "bench",
                "labels": {"0": "background", "1": "liver", "2": "cancer"},
                "training": training,
                "test": [],
            }
        )
    )
    return root


def naive_case(image: str, label: str) -> dict:
    """A hand-written fingerprint with nibabel/numpy/scipy (the usual script)."""
    import nibabel as nib
    from scipy import ndimage

    img, lab = nib.load(image), nib.load(label)
    data = img.get_fdata()
    seg = np.asanyarray(lab.dataobj)
    values, counts = np.unique(seg, return_counts=True)
    fg = data[seg > 0]
    vox = abs(np.linalg.det(lab.affine[:3, :3])) / 1000.0
    return {
        "shape": data.shape,
        "spacing": img.header.get_zooms(),
        "orientation": nib.aff2axcodes(img.affine),
        "p": np.percentile(fg, [0.5, 50, 99.5]) if fg.size else None,
        "volume_ml": {int(v): float(c * vox) for v, c in zip(values, counts)},
        "lesions": ndimage.label(seg == 2, structure=np.ones((3, 3, 3)))[1],
    }


def _worker_peak() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def time_dask(cases, names, workers: int, repeats: int) -> dict:
    import logging

    from distributed import Client, LocalCluster

    from napari_liverct.survey import survey

    t0 = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0", "dashboard": False},
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: None)
        startup = time.perf_counter() - t0
        times = []
        report = None
        for _ in range(repeats):
            with PeakMemory() as mem:
                t1 = time.perf_counter()
                report = survey(cases, client=client, progress=False, label_names=names)
                times.append(time.perf_counter() - t1)
        peaks = sorted(client.run(_worker_peak).values())
    return {
        "startup": startup,
        "best": min(times),
        "times": times,
        "main_peak": mem.delta,
        "worker_peaks": peaks,
        "report": report,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=8)
    ap.add_argument("--size", type=int, nargs=3, default=(256, 256, 100))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args(argv)

    from napari_liverct.datasets.folder import load_dataset
    from napari_liverct.survey import survey

    t0 = time.perf_counter()
    root = make_dataset(args.cases, tuple(args.size))
    ds = load_dataset(root)
    gz = sum(p.stat().st_size for c in ds.cases for p in (c.image, c.label)) / MB
    print(
        f"dataset: {len(ds.cases)} cases of {tuple(args.size)} in {root} ({gz:.0f} MB gzip; "
        f"ready in {time.perf_counter() - t0:.1f} s); {os.cpu_count()} CPUs"
    )

    with PeakMemory() as mem:
        t1 = time.perf_counter()
        ref = survey(ds.cases, scheduler="synchronous", progress=False, label_names=ds.label_names)
        serial = time.perf_counter() - t1
    print(f"serial (in-process, no Dask) : {serial:7.2f} s   peak RSS +{mem.delta / MB:.0f} MB")
    if not args.skip_naive:
        with PeakMemory() as mem:
            t1 = time.perf_counter()
            for c in ds.cases:
                naive_case(str(c.image), str(c.label))
            naive = time.perf_counter() - t1
        print(
            f"naive nibabel loop (serial)  : {naive:7.2f} s   peak RSS +{mem.delta / MB:.0f} MB   "
            f"(ours serial is {naive / serial:.2f}x faster)"
        )

    results = {}
    for w in (1, 2):
        r = time_dask(ds.cases, ds.label_names, w, args.repeats)
        results[w] = r
        strip = lambda rows: [{k: v for k, v in x.items() if k != "seconds"} for x in rows]  # noqa: E731
        assert strip(r["report"]["cases"]) == strip(ref["cases"]), "Dask and serial surveys differ"
        print(
            f"dask, {w} worker process{'es' if w > 1 else '  '}: {r['best']:7.2f} s (best of "
            f"{', '.join(f'{t:.2f}' for t in r['times'])})   cluster start {r['startup']:.1f} s   "
            f"main peak +{r['main_peak'] / MB:.0f} MB   worker peak RSS "
            f"{', '.join(f'{p / MB:.0f}' for p in r['worker_peaks'])} MB"
        )
    speedup = results[1]["best"] / results[2]["best"]
    print(f"speed-up 2 vs 1 workers: {speedup:.2f}x (ideal 2.00x; efficiency {speedup / 2:.0%})")
    print(f"per case: {results[1]['best'] / len(ds.cases) * 1000:.0f} ms with 1 worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
