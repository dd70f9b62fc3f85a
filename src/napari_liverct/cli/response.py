"""``napari-liverct response``: RECIST 1.1 response between two label files of one patient."""

from __future__ import annotations

from ..constants import CONNECTIVITIES, DEFAULT_CONNECTIVITY
from ._options import force_labels_argument, non_negative_float, positive_int, target_arguments, target_options


def add_parser(subparsers) -> None:
    """The ``response`` subcommand's arguments."""
    s = subparsers.add_parser(
        "response",
        help="RECIST 1.1 target response (CR/PR/SD/PD) between a baseline and a follow-up label file",
    )
    s.add_argument("baseline", metavar="BASELINE_LABELS")
    s.add_argument("followup", metavar="FOLLOWUP_LABELS")
    s.add_argument(
        "--lesion",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="V",
        help="label values whose components are lesions (default: classes named tumour/lesion)",
    )
    s.add_argument("--label-names", default=None, metavar="FILE", help="a colour table naming the label values")
    s.add_argument("--connectivity", type=int, choices=CONNECTIVITIES, default=DEFAULT_CONNECTIVITY)
    s.add_argument(
        "--nadir",
        type=non_negative_float,
        default=None,
        metavar="MM",
        help="smallest earlier sum of diameters (default: baseline)",
    )
    s.add_argument(
        "--pair-distance",
        type=float,
        default=20.0,
        metavar="MM",
        help="largest distance between lesion centroids (world mm) of the same lesion at both time points",
    )
    s.add_argument("--format", choices=("table", "csv", "json"), default="table")
    target_arguments(s)
    force_labels_argument(s)
    s.set_defaults(handler=run)


def run(args) -> int:
    """Print the response; unreadable files or no lesion class raise ValueError (exit code 2)."""
    from ..labels.tables import read_color_table
    from ..stats.files import response_for_files

    table = read_color_table(args.label_names).names if args.label_names else None
    if args.pair_distance <= 0:
        raise ValueError("--pair-distance must be positive")
    result = response_for_files(
        args.baseline,
        args.followup,
        lesion_labels=args.lesion,
        label_names=table,
        connectivity=args.connectivity,
        nadir_mm=args.nadir,
        max_distance_mm=args.pair_distance,
        force_labels=getattr(args, "force_labels", False),
        **target_options(args),
    )
    if args.format == "json":
        import json

        from ..results.values import json_safe

        print(json.dumps(json_safe(result.to_json()), indent=2, allow_nan=False))
    elif args.format == "csv":
        from ..stats.tables import rows_to_csv

        rows = result.to_rows()
        columns = list(dict.fromkeys(c for r in rows for c in r))
        print(rows_to_csv(columns, rows), end="")
    else:
        _print_table(result)
    return 0


def _print_table(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    t = Table(title="RECIST 1.1 target lesions (long axis, mm)")
    for c in ("baseline lesion", "follow-up lesion", "baseline mm", "follow-up mm", "centroid distance mm"):
        t.add_column(c, justify="right")
    for p in result.targets:
        t.add_row(
            str(p.baseline_id),
            "gone" if p.followup_id is None else str(p.followup_id),
            f"{p.baseline_long_mm:.1f}",
            f"{p.followup_long_mm:.1f}",
            "" if p.distance_mm is None else f"{p.distance_mm:.1f}",
        )
    console.print(t)

    def mm(v):
        return "-" if v is None else f"{v:.1f} mm"

    def pct(v):
        return "-" if v is None else f"{v:+.1f} %"

    console.print(
        f"Sum of diameters: baseline {mm(result.baseline_sum_mm)}, follow-up {mm(result.followup_sum_mm)} "
        f"({pct(result.change_from_baseline_pct)}), nadir {mm(result.nadir_mm)} ({pct(result.change_from_nadir_pct)})"
    )
    console.print(f"Response: {result.category} ({result.reason})")
    if result.new_lesions:
        console.print(
            f"New lesions at follow-up (no baseline lesion within {result.max_distance_mm:g} mm): "
            + ", ".join(str(i) for i in result.new_lesions)
            + " - RECIST 1.1 makes an unequivocal new lesion PD"
        )
