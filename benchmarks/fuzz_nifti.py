"""Seeded NIfTI header fuzz against nibabel (thousands of mutants; CI runs a few hundred).

Mutates header fields (dims, datatype, pixdim, vox_offset, scaling, forms, magic...),
flips bytes, fakes extensions, truncates and appends garbage, in ``.nii`` and
``.nii.gz``, and checks every mutant by the conformance rule of tests/_nifti_oracle.py:
only ``NiftiReadError`` naming the file is ever raised, and whenever nibabel reads a
mutant our data and affine equal nibabel's (except the documented stricter cases).
Also reports the peak traced allocation of reading a header that claims terabytes.

Usage::

    .venv/bin/python benchmarks/fuzz_nifti.py [--n 6000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import _nifti_oracle as oracle  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        corpus = oracle.build_corpus(tmp / "corpus")
        cv = [oracle.compare_with_nibabel(p) for p in corpus]
        print(
            f"corpus: {len(corpus)} files from nibabel's test data, nibabel, SimpleITK, MONAI, dcm2niix, "
            f"pigz, bgzip; {sum(v.ok for v in cv)} conform, {sum(not v.ok for v in cv)} do not"
        )
        for v in cv:
            if not v.ok:
                print(f"  NONCONFORMING {v.path.name}: {v.why}")
        seeds = oracle.seed_files(tmp / "seeds")
        verdicts = oracle.fuzz(seeds, args.n, tmp / "mutants", seed=args.seed)
        kinds = Counter()
        for v in verdicts:
            if v.ok:
                kinds[v.why.split(":")[0] if not v.why.startswith("stricter") else "stricter on purpose"] += 1
            elif v.why.startswith("wrong exception"):
                kinds["WRONG EXCEPTION TYPE"] += 1
            elif v.why.startswith("NiftiReadError without"):
                kinds["MESSAGE WITHOUT FILE NAME"] += 1
            else:
                kinds["SILENTLY WRONG / DISAGREES"] += 1
        print(f"fuzz: {args.n} mutants of {len(seeds)} seeds (seed {args.seed}) in {time.perf_counter() - t0:.1f} s")
        for k, n in kinds.most_common():
            print(f"  {n:6d}  {k}")
        for v in [v for v in verdicts if not v.ok][:20]:
            print(f"  FAIL {v.path.name}: {v.why[:300]}")
        bad = sum(not v.ok for v in verdicts) + sum(not v.ok for v in cv)
        huge = tmp / "huge.nii"
        raw = bytearray(seeds[0].read_bytes())
        import struct

        struct.pack_into("<8h", raw, 40, 3, 30000, 30000, 3000, 1, 1, 1, 1)
        huge.write_bytes(bytes(raw))
        peak, claim = oracle.peak_alloc_of_read(huge)
        print(f"a header claiming {claim / 1024**4:.1f} TiB: peak traced allocation {peak / 1024:.0f} KiB, refused")
    print("RESULT:", "zero wrong exception types, zero silently wrong results" if not bad else f"{bad} failures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
