"""Test-time variants of the liver stage (issue 22): Dice against TotalSegmentator, false
positives on chest CTs, time.  One run prints the whole table.

Usage::

    nice python benchmarks/bench_draft_variants.py            # 2 threads, all CTs
    python benchmarks/bench_draft_variants.py --threads 2 --offsets 0,-12,12

The liver network runs once per CT and patch position (the centred patch of the package,
and the patch moved by each offset in 3 mm slices along S); every variant is then made from
those outputs on the 3 mm grid, with the pipeline's own post-processing
(:func:`~napari_liverct.segment.pipeline.liver_mask_3mm` at the variant's threshold,
probabilities resampled to the CT grid):

- ``centre`` (the package), ``mean`` / ``max`` of the positions' probabilities (each voxel
  over the positions whose output covers it), each at the thresholds 0.5, 0.3 and 0.1;
- ``binary zoom > 0``: the package's own resize (the 3 mm mask zoomed linearly, kept > 0).

CTs: TotalSegmentator's example CT (its liver, label 5, is the reference: a model output,
not manual truth); the same CT with 9 synthetic hypodense lesions (-55 HU from the liver
median, 9-21 mm radius, inside the inferior 60 % of TotalSegmentator's liver; the issue's
failure is a tumour-laden liver whose inferior part the network misses; the reference is
still TotalSegmentator's liver, which includes them); pyradiomics' ``lung1`` (no liver in
view: every mL found is false) and ``lung2`` (the liver cut by the scan's bottom; mL found).
Time: the network runs a variant needs, summed (measured here, on this machine's load).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("LIVERCT_DATA") or Path.home() / ".cache" / "napari-liverct")
EXAMPLE_CT = DATA / "totalsegmentator" / "example_ct.nii.gz"
EXAMPLE_SEG = DATA / "totalsegmentator" / "example_seg_fast_force_split.nii.gz"


def dice(a, b) -> float:
    return float(2.0 * (a & b).sum() / max(1, a.sum() + b.sum()))


def with_lesions(data: np.ndarray, liver: np.ndarray, seed: int = 22) -> tuple[np.ndarray, np.ndarray]:
    """The example CT with 9 hypodense spheres inside the inferior 60 % of ``liver``."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    ct = data.astype(np.float32)
    med = float(np.median(ct[liver]))
    zs = np.nonzero(liver.any(axis=(0, 1)))[0]
    inner = ndimage.binary_erosion(liver, iterations=2)
    inner[:, :, int(zs[0] + 0.6 * (zs[-1] - zs[0])) :] = False
    cand = np.argwhere(inner)
    grid = np.indices(ct.shape)
    les = np.zeros(ct.shape, bool)
    for _ in range(9):
        c = cand[rng.integers(len(cand))]
        r = rng.uniform(3, 7)
        les |= ((grid - c[:, None, None, None]) ** 2).sum(0) <= r * r
    les &= liver
    noise = ndimage.gaussian_filter(rng.normal(0, 25, ct.shape), 1)
    ct[les] = med - 55 + noise[les]
    return np.round(ct).astype(np.int16), les


def _cases():
    import nibabel as nib

    img = nib.load(EXAMPLE_CT)
    data = np.asanyarray(img.dataobj)
    ts = np.asanyarray(nib.load(EXAMPLE_SEG).dataobj) == 5
    les_ct, _ = with_lesions(data, ts)
    out = [("example CT", data, img.affine, ts), ("example CT + 9 lesions", les_ct, img.affine, ts)]
    try:
        import SimpleITK as sitk
    except ImportError:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("lung1", "lung2"):
            src = DATA / "pyradiomics" / f"{name}_image.nrrd"
            if not src.exists():
                continue
            path = Path(tmp) / f"{name}.nii.gz"
            sitk.WriteImage(sitk.ReadImage(str(src)), str(path))
            im = nib.load(path)
            out.append((f"pyradiomics {name}", np.asanyarray(im.dataobj), im.affine, None))
    return out


def outputs(data, affine, offsets):
    """The liver network at each offset: ``{dz: (prob on the 3 mm grid, coverage, seconds)}``."""
    from napari_liverct.segment import pipeline as pl
    from napari_liverct.segment.preprocess import crop_box, extract_centered, to_canonical

    can = to_canonical(data, affine)
    box = crop_box(can.data, can.spacing)
    _, grid, step = pl.liver_patch(can.data, can.spacing, box)
    shift = np.eye(4)
    shift[:3, 3] = [b.start for b in box]
    res = {}
    for dz in offsets:
        c = [n // 2 for n in grid.shape]
        c[2] += dz
        t = time.perf_counter()
        out = pl.run_network("liver", extract_centered(grid, pl.LIVER_IN, center=c))
        secs = time.perf_counter() - t
        prob, cov = np.zeros(grid.shape, np.float32), np.zeros(grid.shape, np.float32)
        start = [ci - o // 2 for ci, o in zip(c, pl.LIVER_OUT)]
        pl.place_tile(prob, start, out)
        pl.place_tile(cov, start, np.ones(pl.LIVER_OUT, np.float32))
        res[dz] = (prob, cov, secs)
    return can, shift @ step, res


def variants(offsets):
    many = [d for d in offsets]
    rows = [
        ("centre (package)", [0], "centre", 0.5, False),
        ("binary zoom > 0 (package resize)", [0], "centre", 0.5, True),
    ]
    for how in ("mean", "max"):
        for t in (0.5, 0.3, 0.1):
            rows.append((f"{how} of {len(many)} positions, p > {t}", many, how, t, False))
    rows.append(("centre, p > 0.3", [0], "centre", 0.3, False))
    rows.append(("centre, p > 0.1", [0], "centre", 0.1, False))
    return rows


def apply(can, g2c, res, used, how, t, binary):
    from napari_liverct.segment import pipeline as pl

    if how == "centre":
        prob = res[0][0]
    elif how == "max":
        prob = np.maximum.reduce([res[d][0] for d in used])
    else:
        total = sum(res[d][0] for d in used)
        prob = total / np.maximum(sum(res[d][1] for d in used), 1.0)
    keep = pl.liver_mask_3mm(prob, threshold=t)
    if binary:
        return pl.resample_to(keep.astype(np.float32), g2c, can.data.shape) > 0
    return pl.resample_to(np.where(keep, prob, 0.0), g2c, can.data.shape) > t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--offsets", default="0,-12,12", help="patch offsets in 3 mm slices along S (0 first)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    offsets = [int(v) for v in args.offsets.split(",")]
    if offsets[0] != 0:
        raise SystemExit("--offsets must start with 0 (the package's centred patch)")
    rows = variants(offsets)
    table: dict[str, dict[str, str]] = {name: {} for name, *_ in rows}
    secs: dict[str, float] = {}
    cases = _cases()
    load0 = os.getloadavg()[0]
    for cname, data, affine, ref in cases:
        can, g2c, res = outputs(data, affine, offsets)
        from napari_liverct.segment.preprocess import to_canonical

        ref_can = to_canonical(ref, affine).data if ref is not None else None
        vox_ml = float(abs(np.linalg.det(affine[:3, :3]))) / 1000
        for name, used, how, t, binary in rows:
            got = apply(can, g2c, res, used, how, t, binary)
            ml = got.sum() * vox_ml
            table[name][cname] = f"{dice(got, ref_can):.4f} ({ml:.0f} mL)" if ref_can is not None else f"{ml:.0f} mL"
            secs[name] = secs.get(name, 0.0) + sum(res[d][2] for d in used)
        print(
            f"[{cname}] network s per position: " + ", ".join(f"{d}: {res[d][2]:.1f}" for d in offsets), file=sys.stderr
        )
    names = [c[0] for c in cases]
    print(f"\nliver stage variants, {args.threads} threads, load average {load0:.1f} -> {os.getloadavg()[0]:.1f}")
    print("| variant | " + " | ".join(names) + " | network s (all CTs) |")
    print("|---" * (len(names) + 2) + "|")
    for name, *_ in rows:
        print(f"| {name} | " + " | ".join(table[name].get(n, "") for n in names) + f" | {secs[name]:.0f} |")
    print("\nexample CTs: liver Dice against TotalSegmentator's liver (mL found); pyradiomics: mL found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
