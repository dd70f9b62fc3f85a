"""A seeded fuzzer for the napari reader's labels conversion (issue 23).

Each case is a small segmentation written as NIfTI by nibabel with a random stored dtype,
random stored values and a random ``scl_slope`` / ``scl_inter`` drawn from ordinary values
and the hostile ones (0.5, 1e30, -1e30, 3.4e38, 2**53 + 2, NaN, inf...).  nibabel is the
oracle: its scaled values ``np.asanyarray(nib.load(f).dataobj)`` say what the file holds.
The napari reader (``read_nifti_layers(f, kind="labels")``) must then either

* return integer labels holding exactly nibabel's values, voxel for voxel, when every value
  is an integer of magnitude at most 2**53 (exact in float64), or
* raise a ``ValueError`` that names the file and one offending value.

Anything else (another exception type, a value that wrapped, such as int64's minimum, or a
message without the file) is a failure.  Used by tests/io/test_label_fuzz.py (a fixed seed,
a short run) and ``python tests/_label_fuzz.py --n 2000 --seed 1`` for long runs.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

#: scl_slope / scl_inter drawn half of the time from these (the rest: small ordinary values)
HOSTILE_SCALES = [1e30, -1e30, 3.4e38, -3.4e38, 2.0**53 + 2, 2.0**62, 2.0**63, 1e16, 0.5, 0.1, 1e-30, np.nan, np.inf]
DTYPES = [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64]
LIMIT = 2**53


@dataclass
class Verdict:
    name: str
    ok: bool
    why: str


def _scale(rng) -> float:
    if rng.random() < 0.5:
        return float(HOSTILE_SCALES[int(rng.integers(len(HOSTILE_SCALES)))])
    return float(rng.choice([1.0, 1.0, 2.0, -1.0, 3.0, 0.0, 10.0]))


def make_case(rng, folder: Path, i: int) -> Path:
    """One seeded segmentation file (its name says labels, its header carries the scaling)."""
    dtype = np.dtype(DTYPES[int(rng.integers(len(DTYPES)))])
    shape = tuple(int(s) for s in rng.integers(2, 7, size=3))
    classes = rng.integers(0, 6, size=shape)
    if dtype.kind == "f" and rng.random() < 0.3:  # stored floats that are not integral
        data = (classes + rng.choice([0.0, 0.5, 1e-7], size=shape)).astype(dtype)
    else:
        data = classes.astype(dtype)
    slope, inter = _scale(rng), (_scale(rng) if rng.random() < 0.5 else 0.0)
    img = nib.Nifti1Image(data, np.diag([0.8, 0.8, 2.5, 1.0]))
    hdr = img.header
    hdr.set_data_dtype(dtype)
    hdr.set_intent("label")
    path = folder / f"case{i:05d}_seg.nii"
    hdr["scl_slope"], hdr["scl_inter"] = slope, inter
    hdr["vox_offset"] = 352
    # written raw so that nibabel does not rescale the data to fit the slope on save
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_bytes(hdr.binaryblock + b"\0" * 4 + data.tobytes(order="F"))
    return path


def judge(path: Path) -> Verdict:
    """The napari reader on ``path`` by the rule of the module docstring."""
    from napari_liverct.io.reader import read_nifti_layers

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = np.asanyarray(nib.load(path).dataobj)
    except Exception:  # noqa: BLE001 - nibabel refuses the file: so must the reader, naming it
        try:
            read_nifti_layers(path, kind="labels")
        except ValueError as exc:
            ok = str(path) in str(exc)
            return Verdict(path.name, ok, "both refuse" if ok else f"message without the file: {exc}")
        return Verdict(path.name, False, "nibabel refuses it but the reader reads it")
    refd = np.asarray(ref, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = bool(np.all(np.isfinite(refd)) and np.all(np.abs(refd) <= LIMIT) and np.all(refd == np.rint(refd)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = read_nifti_layers(path, kind="labels")
    except ValueError as exc:
        msg = str(exc)
        if valid:
            return Verdict(path.name, False, f"valid labels refused: {msg}")
        if str(path) not in msg:
            return Verdict(path.name, False, f"message without the file: {msg}")
        if not re.search(r"value|values", msg):
            return Verdict(path.name, False, f"message without the value: {msg}")
        return Verdict(path.name, True, "refused")
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzz looks for
        return Verdict(path.name, False, f"wrong exception {type(exc).__name__}: {exc}")
    if not valid:
        return Verdict(path.name, False, f"read values nibabel says are not labels ({np.unique(refd)[:5]})")
    data = np.asarray(layers[0][0])
    if data.dtype.kind not in "iu":
        return Verdict(path.name, False, f"labels of dtype {data.dtype}")
    # the layer is the stored array reoriented for display: same multiset of values
    got = np.sort(data.astype(np.int64).ravel())
    want = np.sort(refd.astype(np.int64).ravel())
    if got.shape != want.shape or not np.array_equal(got, want):
        return Verdict(path.name, False, "values differ from nibabel's")
    return Verdict(path.name, True, "equal")


def fuzz(n: int, seed: int, folder: Path) -> list[Verdict]:
    """``n`` seeded cases in ``folder``; their verdicts."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = make_case(rng, folder, i)
        out.append(judge(path))
        path.unlink()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        verdicts = fuzz(args.n, args.seed, Path(tmp))
    bad = [v for v in verdicts if not v.ok]
    kinds = {k: sum(v.why == k for v in verdicts) for k in ("equal", "refused")}
    print(f"{args.n} cases (seed {args.seed}): {kinds['equal']} read equal to nibabel, {kinds['refused']} refused")
    for v in bad[:20]:
        print(f"  FAIL {v.name}: {v.why[:300]}")
    print("RESULT:", "no failures" if not bad else f"{len(bad)} failures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
