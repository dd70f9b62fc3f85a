"""``napari-liverct survey``: the command-line face of :mod:`napari_liverct.survey`."""

from __future__ import annotations

import sys

from ..outputs.pathtext import path_text
from ._options import dask_arguments, guard_dataset_output
from .exitcodes import finish


def add_parser(subparsers) -> None:
    """The ``survey`` subcommand's arguments."""
    sv = subparsers.add_parser("survey", help="dataset fingerprint of an MSD/nnU-Net folder")
    sv.add_argument("folder")
    sv.add_argument("--format", choices=("json", "csv"), default="json")
    dask_arguments(sv)
    sv.add_argument("--out", default=None, help="write to this file instead of standard output")
    sv.set_defaults(handler=run)


def run(args) -> int:
    """``napari-liverct survey DIR``: dataset fingerprint as JSON or CSV."""
    from ..datasets.folder import load_dataset
    from ..survey import survey_dataset
    from ..survey.summary import report_to_csv, report_to_json

    if args.out:
        guard_dataset_output(args.out, args.folder)
    ds = load_dataset(args.folder)
    if not ds.cases:
        raise ValueError(f"{ds.root}: no NIfTI cases found (expected dataset.json, imagesTr/ or NIfTI files)")
    report = survey_dataset(ds, workers=args.workers, scheduler=args.scheduler, progress=True)
    text = report_to_csv(report) if args.format == "csv" else report_to_json(report)
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        from ..outputs.units import atomic_write_text

        atomic_write_text(out, text)
        s = report["summary"]
        print(
            path_text(
                f"surveyed {s['n_cases']} cases ({s['n_failed']} failed, {len(report['anomalies'])} anomalies) -> {out}"
            ),
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    for a in report["anomalies"]:
        if a.kind in ("duplicate_case", "count_mismatch", "unusable_entry", "unlisted_file"):
            print(f"napari-liverct survey: {a.kind}: {path_text(a.message)}", file=sys.stderr)
    failed = [(f["case"], f["error"]) for f in report["failed"]]
    return finish("survey", failed, len(report["cases"]))
