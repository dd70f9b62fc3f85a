"""Benchmark the DICOM series reader against SimpleITK and pydicom's straightforward loop.

One run, one generated series (default 512 x 512 x 300, int16 CT-like HU stored as
12-bit unsigned pixels with RescaleIntercept -1024, one uncompressed file per slice,
written with pydicom in random file-name order and cached in ``$LIVERCT_BENCH_DIR``),
every competitor in its own fresh Python process (imports before the clock; peak
memory is that process's own high-water mark over the read).  Agreement is checked
first: every competitor's (x, y, z) HU array must hash the same, else the run stops.

Competitors
-----------
ours        napari_liverct.volumes.dispatch.read_volume(folder).data
SimpleITK   ImageSeriesReader (GDCM file names and sorting) + GetArrayViewFromImage
pydicom     the loop everyone writes: dcmread every file, sort by ImagePositionPatient
            on the slice normal, np.stack(pixel_array * slope + intercept)

Usage::

    .venv/bin/python benchmarks/bench_dicom.py [--shape 512 512 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, MB, PeakMemory, child_report, ct_like_volume, run_child, summarize  # noqa: E402

COMPETITORS = ("ours", "SimpleITK", "pydicom")


def write_series(folder: Path, shape) -> Path:
    """The benchmark series, written once (a ``.complete`` stamp marks a finished folder)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    if (folder / ".complete").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    hu = ct_like_volume(tuple(shape))  # (x, y, z)
    stored = np.clip(hu.astype(np.int32) + 1024, 0, 4095).astype(np.uint16)
    rng = np.random.default_rng(0)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    for k in range(shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.PatientID, ds.InstanceNumber = "CT", "BENCH", int(rng.integers(1, 10_000))
        ds.ImagePositionPatient = [-250.0, -250.0, -600.0 + 2.0 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.9765625, 0.9765625]
        ds.Rows, ds.Columns = shape[1], shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
        ds.save_as(folder / f"IM{int(rng.integers(1e9)):09d}_{k}", enforce_file_format=True)
    (folder / ".complete").write_text("ok")
    return folder


def _load(name: str, folder: str):
    if name == "ours":
        from napari_liverct.volumes.dispatch import read_volume

        return lambda: read_volume(folder).data
    if name == "SimpleITK":
        import SimpleITK as sitk

        def load():
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
            img = reader.Execute()
            return sitk.GetArrayViewFromImage(img).T, img  # keep the image alive with its view

        return load
    import pydicom

    def loop():
        files = [p for p in Path(folder).iterdir() if not p.name.startswith(".")]
        dss = [pydicom.dcmread(f) for f in files]
        iop = np.array(dss[0].ImageOrientationPatient, float)
        normal = np.cross(iop[:3], iop[3:])
        dss.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
        vol = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss], axis=-1)
        return vol.transpose(1, 0, 2)  # (rows, cols, z) -> (x, y, z)

    return loop


def _child(name: str, folder: str, check: bool) -> None:
    load = _load(name, folder)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        out = load()
        elapsed = time.perf_counter() - t0
    arr = out[0] if isinstance(out, tuple) else out
    result = {"time": elapsed, "peak": mem.delta, "shape": list(arr.shape), "dtype": str(arr.dtype)}
    if check:
        result["sha"] = hashlib.sha256(np.ascontiguousarray(arr.astype(np.int16)).tobytes()).hexdigest()[:16]
    child_report(result)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 512, 300))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.child[2] == "1")
        return 0
    shape = tuple(args.shape)
    folder = write_series(BENCH_DIR / f"dicom_{'x'.join(map(str, shape))}", shape)
    volume_mb = np.prod(shape) * 2 / MB
    print(f"series: {folder} ({shape[2]} files, {'x'.join(map(str, shape))} int16 = {volume_mb:.0f} MB)")
    script = str(Path(__file__).resolve())
    first = {n: run_child([script, "--child", n, str(folder), "1"]) for n in COMPETITORS}
    for n, r in first.items():
        if "error" in r:
            print(f"{n}: {r['error']}")
            return 1
    hashes = {r["sha"] for r in first.values()}
    print("agreement:", ", ".join(f"{n} {r['sha']} {r['dtype']}" for n, r in first.items()))
    if len(hashes) != 1:
        print("the competitors disagree: no timing")
        return 1
    times: dict[str, list[float]] = {n: [] for n in COMPETITORS}
    peaks: dict[str, list[float]] = {n: [] for n in COMPETITORS}
    for rnd in range(args.repeats):
        order = COMPETITORS[rnd % 3 :] + COMPETITORS[: rnd % 3]
        for n in order:
            r = run_child([script, "--child", n, str(folder), "0"])
            times[n].append(r["time"])
            peaks[n].append(r["peak"] / MB)
    best_ours = summarize(times["ours"]).best
    print(f"{'reader':<10} {'best s':>8} {'median s':>9} {'x ours':>7} {'peak MB':>8} {'peak/vol':>8}")
    for n in COMPETITORS:
        t = summarize(times[n])
        peak = max(peaks[n])
        print(f"{n:<10} {t.best:8.2f} {t.median:9.2f} {t.best / best_ours:7.2f} {peak:8.0f} {peak / volume_mb:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
