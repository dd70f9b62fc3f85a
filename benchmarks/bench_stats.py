"""Benchmark per-label statistics and lesion labelling (issue 3).

One process, one volume: a CT-like int16 image (default 512 x 512 x 600, stored
Fortran-order like a NIfTI file) and a uint8 label volume with a few realistic blobs
(liver 1, tumours 2, spleen 3, kidneys 4).  Every competitor computes, per label
1..4: count, mean, std, min, max, median (our function computes more: p05/p95,
bbox, centroid).  Results are checked to agree before times are printed.

Competitors
-----------
ours              napari_liverct.stats.label_stats(image, labels, affine)
read pass         image.sum() + labels.sum()   (one plain pass over both arrays)
regionprops       skimage.measure.regionprops_table(area, intensity_mean/min/max/std,
                  median via extra_properties)
regionprops-basic regionprops_table(area, intensity_mean/min/max) only
scipy.ndimage     ndi.sum_labels / mean / standard_deviation / minimum / maximum / median
lesions: ours     napari_liverct.stats.lesion_components (cc3d), and lesion_stats in full
lesions: scipy    ndi.label(labels == 2, 26-connectivity)
also timed        image_stats (whole-image histogram) and stats_on_grid (everything)

Files (``--files-size``, default 512 x 512 x 300; ``--files-only`` runs just this part):
the ``napari-liverct stats CT --labels LABELS`` path on NIfTI files written by nibabel,
labels stored as ``--files-label-dtype`` (default int32) and unnamed (no sidecar, table or dataset.json: classes are "label N"):

stats_for_files          napari_liverct.stats.stats_for_files(ct, labels): read both,
                         image statistics, per-label statistics (no lesion class named)
stats_for_files +lesions the same with lesion_labels=[2] (tumour components, as the baseline)
baseline                 nibabel (np.asanyarray(dataobj)) for both files, regionprops_table
                         (area, bbox, centroid, intensity mean/std/min/max, median) and
                         scipy.ndimage.label(labels == 2, 26-connectivity)

Target (issue 16): stats_for_files +lesions <= 0.20 x the baseline.

Targets (issue 3): ours >= 10x faster than regionprops_table, <= 4x one read pass;
lesion labelling >= 10x faster than scipy.ndimage.label.

Usage::

    .venv/bin/python benchmarks/bench_stats.py [--size 512 512 600] [--repeats 3]
        [--skip-scipy-median] [--skip-scipy]

Timings on a shared machine are noisy: best of ``--repeats`` is reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MB, PeakMemory, ct_like_volume, time_call  # noqa: E402

SPACING = (0.78, 0.78, 1.0)
LABEL_IDS = [1, 2, 3, 4]


def make_labels(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """uint8 labels (Fortran order): liver, 6 tumours inside it, spleen, two kidneys."""
    nx, ny, nz = shape
    lab = np.zeros(shape, np.uint8, order="F")
    rng = np.random.default_rng(seed)

    def blob(value, centre, radii, inside=None):
        lo = [max(0, int(c - r) - 1) for c, r in zip(centre, radii)]
        hi = [min(s, int(c + r) + 2) for c, r, s in zip(centre, radii, shape)]
        g = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
        m = sum(((g[a] - centre[a]) / radii[a]) ** 2 for a in range(3)) <= 1.0
        box = lab[tuple(slice(a, b) for a, b in zip(lo, hi))]
        if inside is not None:
            m &= box == inside
        box[m] = value

    c = np.array(shape, float)
    blob(1, (0.33 * c[0], 0.45 * c[1], 0.55 * c[2]), (0.18 * nx, 0.16 * ny, 0.17 * nz))  # liver
    for _ in range(6):
        centre = (0.33 * c[0], 0.45 * c[1], 0.55 * c[2]) + rng.uniform(-0.5, 0.5, 3) * (0.2 * nx, 0.18 * ny, 0.18 * nz)
        r = rng.uniform(0.01, 0.04) * nx
        blob(2, tuple(centre), (r, r, r * SPACING[0] / SPACING[2]), inside=1)
    blob(3, (0.72 * c[0], 0.6 * c[1], 0.6 * c[2]), (0.07 * nx, 0.09 * ny, 0.08 * nz))  # spleen
    for x in (0.38, 0.65):
        blob(4, (x * c[0], 0.7 * c[1], 0.45 * c[2]), (0.045 * nx, 0.06 * ny, 0.09 * nz))  # kidneys
    return lab


def run_ours(image, labels, affine):
    from napari_liverct.stats import label_stats

    rows = label_stats(image, labels, affine)
    return {r.label: (r.voxels, r.mean, r.std, r.min, r.max, r.median) for r in rows}


def run_regionprops(image, labels, median=True):
    from skimage.measure import regionprops_table

    props = ["label", "area", "intensity_mean", "intensity_min", "intensity_max"]
    extra = ()
    if median:
        props.append("intensity_std")
        extra = (lambda region, intensities: float(np.median(intensities[region])),)
    t = regionprops_table(labels, intensity_image=image, properties=props, extra_properties=extra)
    out = {}
    for i, lab in enumerate(t["label"]):
        row = [int(t["area"][i]), float(t["intensity_mean"][i])]
        row.append(float(t["intensity_std"][i]) if median else None)
        row += [float(t["intensity_min"][i]), float(t["intensity_max"][i])]
        row.append(float(t["<lambda>"][i]) if median else None)
        out[int(lab)] = tuple(row)
    return out


def run_scipy(image, labels, median=True):
    from scipy import ndimage as ndi

    idx = LABEL_IDS
    cols = [
        ndi.sum_labels(labels > 0, labels, idx),
        ndi.mean(image, labels, idx),
        ndi.standard_deviation(image, labels, idx),
        ndi.minimum(image, labels, idx),
        ndi.maximum(image, labels, idx),
        ndi.median(image, labels, idx) if median else [None] * len(idx),
    ]
    return {lab: tuple(c[i] for c in cols) for i, lab in enumerate(idx)}


def labels_file(ct_path: Path, shape, dtype: str = "int32") -> Path:
    """make_labels(shape) written by nibabel as ``dtype`` on the CT file's grid (cached beside it)."""
    import nibabel as nib

    path = ct_path.with_name(f"unnamed_{dtype}_{ct_path.name}")
    if not path.exists():
        img = nib.Nifti1Image(make_labels(shape).astype(dtype), nib.load(ct_path).affine)
        img.set_data_dtype(dtype)
        tmp = path.with_name(path.name + ".part.nii.gz")
        nib.save(img, tmp)
        tmp.replace(path)
    return path


def run_baseline_files(ct_path: Path, lab_path: Path):
    """nibabel + regionprops_table + scipy.ndimage.label: what a user writes without the plugin."""
    import nibabel as nib
    from scipy import ndimage as ndi

    image = np.asanyarray(nib.load(ct_path).dataobj)
    labels = np.asanyarray(nib.load(lab_path).dataobj)
    from skimage.measure import regionprops_table

    props = ["label", "area", "bbox", "centroid", "intensity_mean", "intensity_std", "intensity_min", "intensity_max"]
    med = (lambda region, intensities: float(np.median(intensities[region])),)
    t = regionprops_table(labels, intensity_image=image, properties=props, extra_properties=med)
    n_lesions = ndi.label(labels == 2, structure=np.ones((3, 3, 3)))[1]
    rows = {
        int(lab): (int(t["area"][i]), float(t["intensity_mean"][i]), float(t["<lambda>"][i]))
        for i, lab in enumerate(t["label"])
    }
    return rows, n_lesions


def run_ours_files(ct_path: Path, lab_path: Path, lesions: bool):
    from napari_liverct.stats import stats_for_files

    out = stats_for_files(ct_path, lab_path, lesion_labels=[2] if lesions else None)
    rows = {r.label: (r.voxels, r.mean, r.median) for r in out.labels}
    return rows, len(out.lesions), out.label_names()


def files_section(shape, repeats: int, dtype: str) -> bool:
    """The ``napari-liverct stats`` path on files against nibabel + regionprops + scipy."""
    from _common import ct_test_file

    ct = ct_test_file(shape)
    lab = labels_file(ct, shape, dtype)
    print(f"files: {ct.name} + {lab.name} (unnamed labels), written by nibabel")
    times = {}

    def bench(name, fn, n):
        with PeakMemory() as mem:
            timing, out = time_call(fn, n)
        times[name] = timing.best
        print(
            f"{name:<26} best {timing.best:8.3f} s   median {timing.median:8.3f} s   peak +{mem.delta / MB:7.0f} MB",
            flush=True,
        )
        return out

    plain = bench("stats_for_files", lambda: run_ours_files(ct, lab, False), repeats)
    ours = bench("stats_for_files +lesions", lambda: run_ours_files(ct, lab, True), repeats)
    base = bench("baseline (nib+rp+scipy)", lambda: run_baseline_files(ct, lab), 1)
    ok = agree({k: v for k, v in ours[0].items() if k}, base[0], "baseline") and ours[1] == base[1]
    ok &= {k: v for k, v in plain[2].items() if k} == {v: f"label {v}" for v in LABEL_IDS}
    print(f"agree with the baseline (counts, means, medians, lesion count {ours[1]}): {ok}")
    print(f"  names {sorted(plain[2].items())}")
    r = times["stats_for_files +lesions"] / times["baseline (nib+rp+scipy)"]
    r0 = times["stats_for_files"] / times["baseline (nib+rp+scipy)"]
    print(f"  stats_for_files +lesions / baseline  {r:6.3f}   (target <= 0.20)  {'OK' if r <= 0.20 else 'MISSED'}")
    print(f"  stats_for_files (no lesions) / baseline  {r0:6.3f}\n")
    return ok


def agree(ref: dict, other: dict, name: str) -> bool:
    """Same labels, and every figure the competitor computes equal to ours."""
    ok = set(ref) == set(other)
    for lab in ref:
        for a, b in zip(ref[lab], other.get(lab, ())):
            if b is None:
                continue
            if not np.isclose(float(a), float(b), rtol=1e-6, atol=1e-6):
                ok = False
                print(f"  MISMATCH {name} label {lab}: ours {a} vs {b}")
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs=3, default=(512, 512, 600))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-scipy-median", action="store_true", help="scipy.ndimage.median takes ~1 min at full size")
    ap.add_argument("--skip-scipy", action="store_true")
    ap.add_argument("--files-size", type=int, nargs=3, default=(512, 512, 300))
    ap.add_argument(
        "--files-label-dtype",
        default="int32",
        choices=("uint8", "int16", "int32", "float32"),
        help="stored type of the labels file (int32 is what many tools write; float32 as some MSD files)",
    )
    ap.add_argument("--files-only", action="store_true", help="only the stats-on-files part")
    args = ap.parse_args(argv)
    files_ok = files_section(tuple(args.files_size), args.repeats, args.files_label_dtype)
    if args.files_only:
        return 0 if files_ok else 1
    shape = tuple(args.size)

    from napari_liverct.stats import lesion_components, lesion_stats

    t0 = time.perf_counter()
    image = ct_like_volume(shape)
    labels = make_labels(shape)
    affine = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])
    fg = (labels > 0).mean()
    print(
        f"volume {shape} int16 + uint8 (Fortran order), {image.nbytes / MB:.0f} + {labels.nbytes / MB:.0f} MB, "
        f"labelled {100 * fg:.1f} %, generated in {time.perf_counter() - t0:.1f} s\n"
    )
    run_ours(image[:8, :8, :8], labels[:8, :8, :8], affine)  # warm imports

    results: dict[str, tuple] = {}

    def bench(name, fn, repeats=args.repeats):
        with PeakMemory() as mem:
            timing, out = time_call(fn, repeats)
        results[name] = (timing, mem.delta, out)
        print(
            f"{name:<22} best {timing.best:8.3f} s   median {timing.median:8.3f} s   peak +{mem.delta / MB:7.0f} MB",
            flush=True,
        )
        return out

    bench("read pass", lambda: (int(image.sum()), int(labels.sum())))
    ours = bench("ours (label_stats)", lambda: run_ours(image, labels, affine))
    rp = bench("regionprops", lambda: run_regionprops(image, labels), repeats=1)
    rpb = bench("regionprops-basic", lambda: run_regionprops(image, labels, median=False), repeats=1)
    sp = None
    if not args.skip_scipy:
        sp = bench("scipy.ndimage", lambda: run_scipy(image, labels, median=not args.skip_scipy_median), repeats=1)
    print()
    ok = agree(ours, rp, "regionprops") & agree(ours, rpb, "regionprops-basic")
    if sp is not None:
        ok &= agree(ours, sp, "scipy.ndimage")
    print(f"all competitors agree with ours: {ok}\n")

    from napari_liverct.stats import image_stats, stats_on_grid

    bench("image_stats", lambda: image_stats(image, affine))
    bench("stats_on_grid (all)", lambda: stats_on_grid(image, labels, affine), repeats=1)
    print()
    mask_fn = lambda: labels == 2  # noqa: E731
    cc_ours = bench("lesions: cc3d", lambda: lesion_components(labels, 2, 26))
    from scipy import ndimage as ndi

    cc_sp = bench("lesions: scipy.label", lambda: ndi.label(mask_fn(), structure=np.ones((3, 3, 3))), repeats=1)
    les = bench("lesion_stats (full)", lambda: lesion_stats(image, labels, affine), repeats=1)
    same_n = cc_ours[1] == cc_sp[1] == len(les)
    print(f"\nlesion count: cc3d {cc_ours[1]}, scipy {cc_sp[1]}, lesion_stats {len(les)} -> agree: {same_n}")

    best = {k: v[0].best for k, v in results.items()}
    r_rp = best["regionprops"] / best["ours (label_stats)"]
    r_rpb = best["regionprops-basic"] / best["ours (label_stats)"]
    r_read = best["ours (label_stats)"] / best["read pass"]
    r_cc = best["lesions: scipy.label"] / best["lesions: cc3d"]
    print("\nratios (best times)")
    print(f"  regionprops / ours        {r_rp:7.1f}x   (target >= 10x)  {'OK' if r_rp >= 10 else 'MISSED'}")
    print(f"  regionprops-basic / ours  {r_rpb:7.1f}x")
    if sp is not None:
        print(f"  scipy.ndimage / ours      {best['scipy.ndimage'] / best['ours (label_stats)']:7.1f}x")
    print(f"  ours / read pass          {r_read:7.2f}x   (target <= 4x)   {'OK' if r_read <= 4 else 'MISSED'}")
    print(f"  scipy.label / cc3d        {r_cc:7.1f}x   (target >= 10x)  {'OK' if r_cc >= 10 else 'MISSED'}")
    return 0 if ok and same_n and files_ok else 1


if __name__ == "__main__":
    sys.exit(main())
