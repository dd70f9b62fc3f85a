"""Small helpers shared by the benchmark scripts.

* :func:`summarize` - best / median of repeated timings.
* :class:`PeakMemory` - peak resident memory of *this* process over a block, measured
  from the kernel's high-water mark (``VmHWM``), which is reset at the start of the
  block when Linux allows it (``/proc/self/clear_refs``), so imports done before the
  block do not hide the block's own peak.
* :func:`run_child` / :func:`child_report` - run one measurement in a fresh Python
  subprocess and get its JSON result back, so every competitor has its own peak
  memory, its own imports and no cache left over from another competitor.
* :func:`ct_like_volume` / :func:`ct_test_file` - a synthetic CT volume (int16 HU, air
  at -1000 outside an elliptical body, organs, bone and scanner-like noise) that
  compresses about as badly as real CT, written once to a cache folder.

No napari import here: the helpers run in every child process.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "BENCH_DIR",
    "MB",
    "PeakMemory",
    "Timing",
    "child_report",
    "ct_like_volume",
    "ct_test_file",
    "current_rss",
    "run_child",
    "summarize",
    "time_call",
]

MB = 1024.0**2
#: Where generated test files are cached (override with ``LIVERCT_BENCH_DIR``).
BENCH_DIR = Path(os.environ.get("LIVERCT_BENCH_DIR", Path(tempfile.gettempdir()) / "napari-liverct-bench"))
_MARK = "@@BENCH-RESULT@@ "


# --------------------------------------------------------------------------- timing
@dataclass
class Timing:
    """Repeated timings of one competitor (seconds)."""

    times: list[float]

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def summarize(times: Sequence[float]) -> Timing:
    """Wrap a list of timings (seconds) to report best and median."""
    if not times:
        raise ValueError("no timings to summarize")
    return Timing(list(times))


def time_call(fn: Callable[[], object], repeats: int = 3) -> tuple[Timing, object]:
    """Call ``fn`` ``repeats`` times in this process; return timings and the last result."""
    times = []
    result = None
    for _ in range(repeats):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return summarize(times), result


# --------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss() -> int:
    """Resident memory of this process now (bytes)."""
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    import psutil  # pragma: no cover - non-Linux

    return int(psutil.Process().memory_info().rss)


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); True if done."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    kb = _status_kb("VmHWM")
    if kb is None:  # pragma: no cover - non-Linux: ru_maxrss is KiB on Linux, bytes on macOS
        scale = 1 if sys.platform == "darwin" else 1024
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale // 1024
    return kb * 1024


class PeakMemory:
    """Context manager: peak RSS growth of this process inside the block (bytes).

    ``delta`` is ``peak RSS during the block - RSS at its start``; it counts every
    page the block touched, native (libdeflate, ITK, torch) or Python, which
    ``tracemalloc`` would miss.  ``exact`` is False when the peak mark could not be
    reset, in which case an earlier, higher peak (imports) may hide the block's own.
    """

    def __enter__(self) -> "PeakMemory":
        gc.collect()
        self.exact = _reset_peak()
        self.start = current_rss()
        self.delta = 0
        return self

    def __exit__(self, *exc) -> None:
        self.peak = _peak_rss()
        self.delta = max(0, self.peak - self.start)


# ----------------------------------------------------------------------- subprocess
def child_report(result: dict) -> None:
    """Print a child's result as one marked JSON line (read by :func:`run_child`)."""
    sys.stdout.write(_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


def run_child(args: Sequence[str], timeout: float = 900.0, env: dict | None = None) -> dict:
    """Run ``python *args`` in a fresh process and return the dict it reported.

    A failing child gives ``{"error": "..."}`` with the end of its stderr instead of
    raising, so one broken competitor does not stop the whole benchmark.
    """
    cmd = [sys.executable, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
    return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}


# ------------------------------------------------------------------------ test data
def ct_like_volume(shape: tuple[int, int, int] = (512, 512, 600), seed: int = 0, air_noise: float = 5.0) -> np.ndarray:
    """A CT-like int16 volume in HU, stored (x, y, z) like a NIfTI file.

    Outside the scanner's circular field of view the value is -1024 (as scanners
    write it); inside it air is about -1000, the body an ellipse of fat (-100) around
    soft tissue (+40) with a liver-like blob (+60) and a bony spine (+700).  Gaussian
    noise (sigma 5 HU in air, 20 HU in tissue) makes it compress like real CT (gzip
    ratio about 2-3), not trivially.  Built one slice at a time (memory = the volume).
    """
    nx, ny, nz = (int(s) for s in shape)
    rng = np.random.default_rng(seed)
    out = np.empty((nx, ny, nz), dtype=np.int16, order="F")
    x = (np.arange(nx, dtype=np.float32) - (nx - 1) / 2) / (nx / 2)
    y = (np.arange(ny, dtype=np.float32) - (ny - 1) / 2) / (ny / 2)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    fov = xx**2 + yy**2 <= 1.0
    for k in range(nz):
        t = k / max(1, nz - 1)
        ax, ay = 0.80 + 0.08 * np.sin(np.pi * t), 0.58 + 0.05 * np.sin(np.pi * t)
        body = (xx / ax) ** 2 + (yy / ay) ** 2 <= 1.0
        inner = (xx / (ax - 0.08)) ** 2 + (yy / (ay - 0.07)) ** 2 <= 1.0
        liver = ((xx + 0.3) / 0.35) ** 2 + ((yy + 0.1) / 0.28) ** 2 <= 1.0 - 0.6 * (t - 0.5) ** 2
        spine = (xx / 0.08) ** 2 + ((yy - 0.38) / 0.08) ** 2 <= 1.0
        base = np.full((nx, ny), -1000.0, dtype=np.float32)
        base[body] = -100.0
        base[inner] = 40.0
        base[liver & inner] = 60.0
        base[spine] = 700.0
        sigma = np.where(body, np.float32(20.0), np.float32(air_noise))
        sl = base + sigma * rng.standard_normal((nx, ny), dtype=np.float32)
        sl[~fov] = -1024.0
        out[:, :, k] = np.rint(sl).astype(np.int16)
    return out


def ct_test_file(
    shape: tuple[int, int, int] = (512, 512, 600),
    *,
    suffix: str = ".nii.gz",
    folder: Path | None = None,
    spacing: tuple[float, float, float] = (0.78, 0.78, 1.0),
    compresslevel: int = 6,
    kind: str = "noisy",
) -> Path:
    """Path of a cached CT-like NIfTI file of ``shape`` (written on first use).

    ``kind`` "noisy" has noise in the air too; "air" has clean air outside the body
    (a highly compressible, mostly-air file).
    The affine is LPS-on-disk like most CT converted from DICOM (first two axes
    flipped relative to RAS), so the readers have to reorient as on real data.  The
    file is written atomically, gzip level ``compresslevel`` (what most converters use).
    """
    import nibabel as nib

    folder = Path(folder or BENCH_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    tag = "x".join(str(int(s)) for s in shape)
    path = folder / f"ct_{tag}_int16{'' if kind == 'noisy' else '_' + kind}{suffix}"
    if path.exists():
        return path
    # "noisy": noise in the air too (gzip ratio ~2.5); "air": clean air outside the body,
    # as scanners that clip air write it (gzip ratio ~4-5, inflating dominates less)
    data = ct_like_volume(shape, air_noise=5.0 if kind == "noisy" else 0.0)
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [spacing[0] * shape[0] / 2, spacing[1] * shape[1] / 2, -spacing[2] * shape[2]]
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(np.int16)
    img.header.set_xyzt_units("mm", "sec")
    tmp = path.with_name(path.name + ".part")
    payload = img.to_bytes()
    del data, img
    if suffix == ".nii":
        tmp.write_bytes(payload)
    else:
        import gzip

        try:
            import deflate  # libdeflate: much faster to write at the same level

            tmp.write_bytes(bytes(deflate.gzip_compress(payload, compresslevel)))
        except ImportError:  # pragma: no cover
            tmp.write_bytes(gzip.compress(payload, compresslevel))
    del payload
    os.replace(tmp, path)
    return path
