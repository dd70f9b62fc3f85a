"""``napari-liverct compare``: the command-line face of :mod:`napari_liverct.compare.report`."""

from __future__ import annotations

import sys

from ..outputs.pathtext import path_text
from ._options import compare_arguments


def add_parser(subparsers) -> None:
    """The ``compare`` subcommand's arguments."""
    cp = subparsers.add_parser("compare", help="compare a predicted segmentation with its ground truth")
    cp.add_argument("gt", help="ground-truth label file")
    cp.add_argument("pred", help="predicted label file")
    compare_arguments(cp)
    cp.add_argument("--format", choices=("table", "json", "csv"), default="table")
    cp.set_defaults(handler=run)


def run(args) -> int:
    """``napari-liverct compare GT PRED``: print the comparison as a table, JSON or CSV.

    A grid mismatch without ``--resample`` raises :class:`~.case.GridMismatchError`
    (a ValueError: exit code 2, message naming both files).
    """
    from ..compare.case import compare_files
    from ..compare.report import comparison_to_csv, comparison_to_json, format_table
    from . import compare_options

    res = compare_files(args.gt, args.pred, **compare_options(args))
    if res.resampled:
        print(path_text(f"napari-liverct compare: {res.notes[0]}"), file=sys.stderr)
    fmt = args.format
    text = (
        comparison_to_json(res) + "\n"
        if fmt == "json"
        else comparison_to_csv(res)
        if fmt == "csv"
        else format_table(res)
    )
    sys.stdout.write(text)
    return 0
