"""``napari-liverct stats``: the command-line face of :mod:`napari_liverct.stats`."""

from __future__ import annotations


def run(args) -> int:
    """``napari-liverct stats IMAGE [--labels L] [--connectivity 6|26] [--format table|csv|json]``.

    Prints to standard output; a grid mismatch without ``--resample-labels`` raises
    ValueError (exit code 2).
    """
    from ..labels import read_color_table
    from ..stats import stats_for_files
    from ..stats.tables import print_stats_table, stats_to_csv, stats_to_json

    table = getattr(args, "label_names", None)
    result = stats_for_files(
        args.image,
        getattr(args, "labels", None),
        connectivity=getattr(args, "connectivity", 26),
        resample_labels=getattr(args, "resample_labels", False),
        organ_labels=getattr(args, "organ", None),
        lesion_labels=getattr(args, "lesion", None),
        label_names=read_color_table(table).names if table else None,
    )
    fmt = getattr(args, "format", "table")
    if fmt == "json":
        print(stats_to_json(result))
    elif fmt == "csv":
        print(stats_to_csv(result), end="")
    else:
        print_stats_table(result)
    return 0
