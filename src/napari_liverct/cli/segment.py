"""``napari-liverct segment``: offline draft liver / liver-tumour segmentation (issue 17)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ._options import dask_arguments
from .exitcodes import OK, finish


def add_parser(subparsers) -> None:
    """Register ``segment`` on the CLI's sub-parsers."""
    sg = subparsers.add_parser(
        "segment",
        help="draft liver and liver-tumour labels from a CT, offline on the CPU (pyliverlesionseg 0.3 weights)",
        description=(
            "Segment the liver (label 1) and liver tumours (label 2) of a CT with the pyliverlesionseg 0.3 "
            "networks, on the CPU, without network access. IMAGE gives one labels file (--out FILE); a dataset "
            "folder, dataset.json or folder of NIfTI files gives OUT/<case>.nii.gz for every case, on Dask. "
            "A draft: check it. Exit status: 0 all cases written, 3 some cases failed (the others are written), "
            "2 bad usage or input, 1 internal error. --workers: cases at a time (default 1: each case uses every "
            "thread it is given)."
        ),
    )
    sg.add_argument("input", metavar="IMAGE_OR_DATASET", help="a CT NIfTI file, or a dataset/folder of them")
    sg.add_argument("--out", required=True, metavar="FILE_OR_DIR", help="labels file (.nii.gz) or output folder")
    sg.add_argument("--no-lesions", action="store_true", help="liver only (about 30 s; lesions take minutes)")
    sg.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads per case (default: all)")
    dask_arguments(sg)
    sg.set_defaults(handler=run)


def _progress_printer():
    def show(stage: str, done: int, total: int) -> None:
        if stage == "lesions" and total:
            print(f"\rlesion tiles {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif stage == "liver" and total:
            pct = round(100 * done / total)
            print(f"\rliver {pct}%", end="" if done < total else "\n", file=sys.stderr, flush=True)

    return show


def run(args) -> int:
    from ..nifti import is_nifti_path
    from ..segment.weights import weights_path

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, not {args.threads}")
    for model in ("liver",) if args.no_lesions else ("liver", "lesion"):
        if not weights_path(model).exists():
            from ..segment.weights import load_weights

            load_weights(model)  # raises WeightsMissingError with the command to run
    src = Path(args.input)
    if not src.exists():
        raise ValueError(f"{src}: no such file or folder")
    lesions = not args.no_lesions
    if src.is_file() and is_nifti_path(src):
        from ..segment.files import segment_file

        row = segment_file(src, args.out, lesions=lesions, threads=args.threads, progress=_progress_printer())
        print(
            f"{row['out']}: liver {row['liver_ml']} ml, tumour {row['tumour_ml']} ml ({row['seconds']} s)",
            file=sys.stderr,
        )
        return OK
    return _run_dataset(src, Path(args.out), args, lesions)


def _run_dataset(src: Path, out: Path, args, lesions: bool) -> int:
    from ..dataset import load_dataset
    from ..nifti import is_nifti_path
    from ..outputs import atomic_write_text
    from ..segment.files import iter_segment_cases
    from ..tasks import drain

    if is_nifti_path(out):
        raise ValueError(f"{out}: for a dataset, --out is a folder (it gets <case>.nii.gz per case)")
    ds = load_dataset(src)
    cases = [c for c in ds.cases if c.split in ("training", "test", "unlabelled")]
    if not cases:
        raise ValueError(f"{ds.root}: no NIfTI cases found (expected dataset.json, imagesTr/ or NIfTI files)")
    rows: list[dict | None] = [None] * len(cases)

    def keep(item):
        i, row = item
        rows[i] = row
        return row

    it = iter_segment_cases(
        cases, out, lesions=lesions, threads=args.threads, workers=args.workers, scheduler=args.scheduler
    )
    drain(it, len(cases), "segment", True, keep)
    failed = [r for r in rows if r.get("error")]
    summary = {"out": str(out), "n_cases": len(cases), "n_failed": len(failed), "cases": rows}
    atomic_write_text(out / "segment_summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"segmented {len(cases) - len(failed)} of {len(cases)} cases -> {out}", file=sys.stderr)
    return finish("segment", [(r["id"], r["error"]) for r in failed], len(cases))
