"""``napari-liverct stats``: the command-line face of :mod:`napari_liverct.stats`."""

from __future__ import annotations

from ..constants import CONNECTIVITIES, DEFAULT_CONNECTIVITY
from ._options import force_labels_argument, label_roles, target_arguments, target_options, use_paired_labels


def add_parser(subparsers) -> None:
    """The ``stats`` subcommand's arguments."""
    s = subparsers.add_parser("stats", help="image, per-label and per-lesion statistics in physical units")
    s.add_argument("image")
    s.add_argument("--labels", default=None)
    s.add_argument("--connectivity", type=int, choices=CONNECTIVITIES, default=DEFAULT_CONNECTIVITY)
    s.add_argument("--format", choices=("table", "csv", "json"), default="table")
    s.add_argument(
        "--resample-labels",
        action="store_true",
        help="resample labels onto the image grid (nearest neighbour) when the grids differ",
    )
    label_roles(s)
    target_arguments(s)
    force_labels_argument(s)
    s.set_defaults(handler=run)


def run(args) -> int:
    """``napari-liverct stats IMAGE [--labels L] [--connectivity 6|26] [--format table|csv|json]``.

    Prints to standard output; a grid mismatch without ``--resample-labels`` raises
    ValueError (exit code 2).
    """
    from ..labels.tables import read_color_table
    from ..stats import stats_for_files
    from ..stats.tables import print_stats_table, stats_to_csv, stats_to_json

    use_paired_labels(args)
    table = getattr(args, "label_names", None)
    result = stats_for_files(
        args.image,
        getattr(args, "labels", None),
        connectivity=getattr(args, "connectivity", 26),
        resample_labels=getattr(args, "resample_labels", False),
        organ_labels=getattr(args, "organ", None),
        lesion_labels=getattr(args, "lesion", None),
        label_names=read_color_table(table).names if table else None,
        **target_options(args),
        force_labels=getattr(args, "force_labels", False),
    )
    fmt = getattr(args, "format", "table")
    if fmt == "json":
        print(stats_to_json(result))
    elif fmt == "csv":
        print(stats_to_csv(result), end="")
    else:
        print_stats_table(result)
    return 0
