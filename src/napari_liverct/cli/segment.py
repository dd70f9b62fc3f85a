"""``napari-liverct segment``: offline draft liver / liver-tumour segmentation (issue 17)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..outputs.pathtext import path_text, text_safe
from ._options import cpu_count_argument, dask_arguments
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
            "A draft: check it. Each draft is checked against anatomy (HU, volume, position, field of view): "
            "warnings are printed and kept in the sidecar <stem>.json; a draft that is no liver (air, above "
            "the lungs, empty) is not written. Exit status: 0 all cases written, 3 some cases failed or had no "
            "liver (the others are written), 2 bad usage or input (or a single file with no liver), 1 internal error. --workers: cases at a time (default 1: each case uses every "
            "thread it is given)."
        ),
    )
    sg.add_argument(
        "input", metavar="IMAGE_OR_DATASET", help="a CT (NIfTI, NRRD, MetaImage, DICOM series), or a dataset/folder"
    )
    sg.add_argument(
        "--out", required=True, metavar="FILE_OR_DIR", help="labels file (.nii.gz, or .dcm: DICOM-SEG) or output folder"
    )
    sg.add_argument(
        "--format",
        choices=("nifti", "dicom-seg"),
        default=None,
        help="labels file format (default: from --out's name); dicom-seg needs a DICOM series as IMAGE",
    )
    sg.add_argument("--no-lesions", action="store_true", help="liver only (about 30 s; lesions take minutes)")
    cpu_count_argument(sg, "--threads", "CPU threads per case (default: all; at most the cores available)")
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


def _print_warnings(row: dict) -> None:
    """The draft's plausibility warnings, one line each, on standard error."""
    from ..outputs.pathtext import path_text

    for f in row.get("warnings") or []:
        print(path_text(f"napari-liverct segment: warning: {row['out']}: {f['message']}"), file=sys.stderr)


def run(args) -> int:
    """Checks first (input, output guard, weights), then the work: one file or a dataset."""
    from ..outputs.guard import guard_output
    from ..volumes.dispatch import volume_kind
    from ..volumes.nifti import is_nifti_path

    src, out = Path(args.input), Path(args.out)
    if not src.exists():
        raise ValueError(f"{src}: no such file or folder")
    lesions = not args.no_lesions
    single = (src.is_file() and volume_kind(src) is not None) or (src.is_dir() and volume_kind(src) == "dicom")
    if single:
        if not is_nifti_path(out) and not (args.format == "dicom-seg" or out.suffix.lower() == ".dcm"):
            raise ValueError(f"{out}: the output name must end in .nii or .nii.gz (or .dcm for a DICOM-SEG)")
        guard_output(out, [src])
    elif args.format == "dicom-seg":
        raise ValueError(f"{src}: --format dicom-seg needs one DICOM series as input, not a dataset")
    else:
        from ..segment.folder import dataset_cases

        cases = dataset_cases(src, out)
    _check_weights(lesions)
    if single:
        from ..segment.files import segment_file

        row = segment_file(
            src, out, lesions=lesions, threads=args.threads, progress=_progress_printer(), out_format=args.format
        )
        print(
            path_text(f"{row['out']}: liver {row['liver_ml']} ml, tumour {row['tumour_ml']} ml ({row['seconds']} s)"),
            file=sys.stderr,
        )
        _print_warnings(row)
        return OK
    return _run_dataset(cases, out, args, lesions)


def _check_weights(lesions: bool) -> None:
    from ..segment.weights import weights_path

    for model in ("liver", "lesion") if lesions else ("liver",):
        if not weights_path(model).exists():
            from ..segment.weights import load_weights

            load_weights(model)  # raises WeightsMissingError with the command to run


def _run_dataset(cases: list, out: Path, args, lesions: bool) -> int:
    from ..outputs.units import atomic_write_text
    from ..segment.folder import SUMMARY_NAME, segment_dataset

    summary = segment_dataset(
        cases, out, lesions=lesions, threads=args.threads, workers=args.workers, scheduler=args.scheduler
    )
    rows = summary["cases"]
    for row in rows:
        _print_warnings(row)
    failures = [(r["id"], r["error"]) for r in rows if r.get("error")]
    try:
        atomic_write_text(out / SUMMARY_NAME, json.dumps(text_safe(summary), indent=2) + "\n")
    except OSError:
        finish("segment", failures, len(cases))  # the failed cases are listed whatever happens next
        raise
    print(path_text(f"segmented {len(cases) - len(failures)} of {len(cases)} cases -> {out}"), file=sys.stderr)
    return finish("segment", failures, len(cases))
