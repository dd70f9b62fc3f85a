"""``napari-liverct refine``: replay an edit log of the "Correct draft" widget on files (issue 24)."""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    """Register ``refine`` on the CLI's sub-parsers."""
    p = subparsers.add_parser(
        "refine",
        help="replay an edit log (add/delete/split/merge lesions, grow, fill between slices) on a labels file",
        description=(
            "Apply the edits of EDITS.json (written by the Correct draft widget, points in RAS mm) to LABELS over "
            "the CT, with the same functions the widget uses, and write the result to OUT (names kept) with the "
            "log beside it (<stem>.edits.json), as one unit. OUT may not be any of the inputs."
        ),
    )
    p.add_argument("ct", metavar="CT", help="the CT (NIfTI)")
    p.add_argument("labels", metavar="LABELS", help="the labels the edits start from (NIfTI)")
    p.add_argument("--edits", required=True, metavar="EDITS.json", help="the edit log")
    p.add_argument("--out", required=True, metavar="OUT", help="the corrected labels (.nii.gz)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for the lesion network")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..refine import refine_files

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, not {args.threads}")
    row = refine_files(args.ct, args.labels, args.edits, args.out, threads=args.threads)
    for note in row["notes"]:
        print(f"napari-liverct refine: note: {note}", file=sys.stderr)
    print(
        f"{row['out']}: {row['edits']} edits replayed, {row['changed_voxels']} voxels changed ({row['seconds']} s)",
        file=sys.stderr,
    )
    return 0
