"""Whole-process crop of a CT + labels pair: ``napari-liverct crop`` vs nibabel + MONAI.

Usage::

    python benchmarks/bench_crop_files.py                 # 512 x 512 x 300 int16 CT + uint8 labels, 3 rounds
    python benchmarks/bench_crop_files.py --repeats 5 --strace

Each run is a fresh Python process (interpreter start, imports, read, box, crop, gzip
encode, write), the competitors interleaved round-robin on the same cached input files
(page cache warm for all), their outputs removed before each run:

==============  =====================================================================
``ours``        ``python -m napari_liverct.cli crop CT --labels LAB --out-dir D --threshold T``
                (the pair written as one unit: temporaries beside the targets, fsync, journal, renames)
``ours-plain``  the same CLI code with the unit's writer replaced by ``nib.save`` straight to each
                target (no temporary, no fsync, no journal, no rename): what the unit costs
``monai``       nibabel + MONAI: ``LoadImaged(reader="NibabelReader", dtype=None)`` ->
                ``EnsureChannelFirstd`` -> ``CropForegroundd(source_key="image", select_fn=x > T)``
                -> ``SaveImage`` per key (stored dtype kept, ``resample=False``)
==============  =====================================================================

All three write through ``nib.save`` (gzip level 1, nibabel's default, which MONAI's
``NibabelWriter`` uses too).  Agreement is checked first: same voxels, same affine,
and the compressed sizes of both outputs are printed (equal compression work).  Printed:
the median and best wall time of each, the ratio ours / MONAI per round and the median
of those ratios, peak RSS (``wait4``), and with ``--strace`` the fsync / rename / write
system calls of one run of ``ours`` and ``ours-plain`` (``strace -c -f``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import BENCH_DIR, ct_test_file  # noqa: E402

_MONAI = """
import sys
import numpy as np
from monai.transforms import Compose, CropForegroundd, EnsureChannelFirstd, LoadImaged, SaveImage
ct, lab, out, t = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
keys = ["image", "label"]
pre = Compose([
    LoadImaged(keys, reader="NibabelReader", dtype=None, image_only=True),
    EnsureChannelFirstd(keys),
    CropForegroundd(keys, source_key="image", select_fn=lambda x: x > t),
])
d = pre({"image": ct, "label": lab})
for k in keys:
    SaveImage(output_dir=out, output_postfix="crop", output_dtype=d[k].dtype, resample=False,
              separate_folder=False, print_log=False)(d[k])
"""

# the CLI's own code, its unit writer replaced by nib.save straight to each target
_PLAIN = """
import sys
import napari_liverct.outputs.group as group
def plain(items):
    for path, write in items:
        write(str(path))
group.atomic_write_group = plain
from napari_liverct.cli import main
sys.exit(main(sys.argv[1:]))
"""


def labels_file(ct: Path, shape, dtype: str) -> Path:
    """bench_stats' labels (liver, tumours, spleen, kidneys) on the CT's grid, written by nibabel."""
    from bench_stats import labels_file as stats_labels

    return stats_labels(ct, shape, dtype)


def commands(ct: Path, lab: Path, out: Path, t: float) -> dict[str, list[str]]:
    py = sys.executable
    cli = ["crop", str(ct), "--labels", str(lab), "--out-dir", str(out / "ours"), "--threshold", repr(t)]
    return {
        "ours": [py, "-m", "napari_liverct.cli", *cli],
        "ours-plain": [py, "-c", _PLAIN, *[a.replace(str(out / "ours"), str(out / "ours-plain")) for a in cli]],
        "monai": [py, "-c", _MONAI, str(ct), str(lab), str(out / "monai"), repr(t)],
    }


def run(cmd: list[str], env: dict | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one child process;
    raises on a non-zero exit."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {err.decode(errors='replace')[-800:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def outputs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.nii.gz"))


def agree(out: Path, names: list[str]) -> None:
    """Every competitor wrote the same voxels and affine as ours; print the file sizes."""
    import nibabel as nib

    ref = {p.name: nib.load(p) for p in outputs(out / "ours")}
    assert len(ref) == 2, list(ref)
    for name in names:
        files = outputs(out / name)
        assert [p.name for p in files] == sorted(ref), (name, [p.name for p in files])
        sizes = []
        for p in files:
            img, r = nib.load(p), ref[p.name]
            a, b = np.asanyarray(img.dataobj), np.asanyarray(r.dataobj)
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), (name, p.name)
            assert np.allclose(img.affine, r.affine, atol=1e-5), (name, p.name, img.affine, r.affine)
            sizes.append(f"{p.name} {p.stat().st_size / 1e6:.2f} MB")
        shape = np.asanyarray(ref[files[0].name].dataobj).shape
        print(f"  {name:<11} {', '.join(sizes)}  (shape {shape}, voxels and affine equal to ours)")


def strace_counts(cmd: list[str]) -> dict[str, tuple[int, float]]:
    """Calls and wall seconds spent in them during one run (``strace -c -w -f``), for the
    system calls a unit adds (``fsync``, ``rename``, ``flock``, ``unlink``) and ``write``."""
    wanted = ("fsync", "fdatasync", "rename", "renameat", "renameat2", "write", "flock", "unlink")
    with tempfile.NamedTemporaryFile(suffix=".strace") as fh:
        trace = ["strace", "-f", "-c", "-w", "-e", "trace=" + ",".join(wanted), "-o", fh.name]
        subprocess.run([*trace, *cmd], check=True, capture_output=True)
        text = Path(fh.name).read_text()
    counts = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1] in wanted and parts[3].isdigit():
            counts[parts[-1]] = (int(parts[3]), float(parts[1]))
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, nargs=3, default=(512, 512, 300))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threshold", type=float, default=-500.0)
    p.add_argument("--labels-dtype", default="uint8")
    p.add_argument("--only", nargs="+", choices=("ours", "ours-plain", "monai"), help="competitors to run")
    p.add_argument(
        "--src",
        nargs="+",
        default=[],
        metavar="NAME=DIR",
        help="also run the crop CLI of another source tree (e.g. an older commit's src/, from git archive) as NAME",
    )
    p.add_argument(
        "--no-sync",
        action="store_true",
        help="do not sync(2) between runs (a run then may flush the previous one's writes)",
    )
    p.add_argument("--strace", action="store_true", help="count fsync/rename/write calls of ours and ours-plain")
    args = p.parse_args(argv)

    shape = tuple(args.size)
    ct = ct_test_file(shape)
    lab = labels_file(ct, shape, args.labels_dtype)
    out = Path(tempfile.mkdtemp(prefix="crop-bench-", dir=BENCH_DIR))
    cmds = commands(ct, lab, out, args.threshold)
    names = args.only or list(cmds)
    envs: dict[str, dict | None] = {n: None for n in names}
    for spec in args.src:
        name, _, src = spec.partition("=")
        cmds[name] = [a.replace(str(out / "ours"), str(out / name)) for a in cmds["ours"]]
        envs[name] = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
        names.append(name)
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(
        f"input {ct.name} ({ct.stat().st_size / 1e6:.0f} MB) + {lab.name} ({lab.stat().st_size / 1e6:.1f} MB), "
        f"rule value > {args.threshold:g}, {args.repeats} rounds, output in {out}"
    )
    times: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    peaks: dict[str, float] = {n: 0.0 for n in names}
    try:
        for r in range(args.repeats):
            for n in names:
                shutil.rmtree(out / n, ignore_errors=True)
                (out / n).mkdir()
                if not args.no_sync:
                    os.sync()  # no dirty pages of the previous run left to write back on this one's fsync
                wall, cpu, peak = run(cmds[n], envs[n])
                times[n].append(wall)
                cpus[n].append(cpu)
                peaks[n] = max(peaks[n], peak)
            line = "  ".join(f"{n} {times[n][-1]:.2f} s" for n in names)
            print(f"round {r + 1}: {line}")
            if r == 0 and "ours" in names:
                agree(out, [n for n in names if n != "ours"])
        print(f"{'':<11} {'median s':>9} {'best s':>8} {'CPU s':>7} {'peak RSS MB':>12}")
        for n in names:
            med, cpu = statistics.median(times[n]), statistics.median(cpus[n])
            print(f"{n:<11} {med:9.2f} {min(times[n]):8.2f} {cpu:7.2f} {peaks[n]:12.0f}")
        if "monai" in names:
            for n in (x for x in names if x != "monai"):
                per_round = [a / b for a, b in zip(times[n], times["monai"])]
                cpu_ratio = statistics.median(a / b for a, b in zip(cpus[n], cpus["monai"]))
                print(
                    f"ratio {n} / monai: median of rounds {statistics.median(per_round):.3f} "
                    f"(rounds {', '.join(f'{x:.3f}' for x in per_round)}; CPU time {cpu_ratio:.3f})"
                )
        if "ours" in names and "ours-plain" in names:
            cost = [a - b for a, b in zip(times["ours"], times["ours-plain"])]
            print(f"the unit's cost (ours - ours-plain): median {statistics.median(cost):+.3f} s per run")
        if args.strace:
            for n in ("ours", "ours-plain"):
                shutil.rmtree(out / n, ignore_errors=True)
                (out / n).mkdir()
                c = strace_counts(cmds[n])
                calls = ", ".join(f"{k} {v[0]} ({v[1] * 1e3:.1f} ms)" for k, v in sorted(c.items()))
                print(f"system calls of one run of {n} (count, wall time in them): {calls}")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
