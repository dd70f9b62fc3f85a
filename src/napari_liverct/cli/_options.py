"""Argument groups that several subcommands share, and their one translation to core keywords."""

from __future__ import annotations

import argparse
import sys

from ..constants import CONNECTIVITIES, DEFAULT_CONNECTIVITY, DEFAULT_MATCH, DEFAULT_TOLERANCE_MM, MATCH_RULES

__all__ = [
    "label_roles",
    "compare_arguments",
    "compare_options",
    "dask_arguments",
    "use_paired_labels",
    "target_arguments",
    "target_options",
]


def label_roles(p: argparse.ArgumentParser) -> None:
    """--organ / --lesion / --label-names: the user's say over what the labels mean."""
    p.add_argument(
        "--organ",
        type=int,
        nargs="+",
        default=None,
        metavar="V",
        help="label values of the organ, for tumour burden (default: classes named liver)",
    )
    p.add_argument(
        "--lesion",
        type=int,
        nargs="+",
        default=None,
        metavar="V",
        help="label values whose components are lesions (default: classes named tumour/lesion; "
        "none when no class says so)",
    )
    p.add_argument(
        "--label-names",
        default=None,
        metavar="FILE",
        help="names for the label values: a 3D Slicer colour table (.ctbl/.txt) or an ITK-SNAP label description file",
    )


def target_arguments(p: argparse.ArgumentParser) -> None:
    """--targets / --max-targets / --max-per-organ / --measurable: the RECIST 1.1 target lesions."""
    from ..stats.recist import TargetRule

    rule = TargetRule()
    g = p.add_argument_group("RECIST 1.1 target lesions")
    g.add_argument(
        "--targets",
        type=int,
        nargs="+",
        default=None,
        metavar="ID",
        help="lesion ids (1 = largest volume) that are the targets (default: chosen by the rule below)",
    )
    g.add_argument("--max-targets", type=int, default=rule.total, metavar="N", help="at most N targets in all")
    g.add_argument("--max-per-organ", type=int, default=rule.per_organ, metavar="N", help="at most N per organ")
    g.add_argument(
        "--measurable", type=float, default=rule.min_long_mm, metavar="MM", help="smallest long axis of a target"
    )


def target_options(args) -> dict:
    """``targets`` and ``target_rule`` keywords from :func:`target_arguments`'s options."""
    from ..stats.recist import TargetRule

    for name in ("max_targets", "max_per_organ"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    rule = TargetRule(min_long_mm=args.measurable, per_organ=args.max_per_organ, total=args.max_targets)
    return {"targets": args.targets, "target_rule": rule}


def compare_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``compare``, ``evaluate`` and ``report`` (see napari_liverct.compare)."""
    p.add_argument(
        "--map",
        action="append",
        default=None,
        metavar="P:G",
        help="compare prediction value P with ground-truth class G (repeatable)",
    )
    p.add_argument("--foreground", action="store_true", help="compare any non-zero value with any non-zero value")
    p.add_argument(
        "--lesion-labels",
        type=int,
        nargs="+",
        default=None,
        metavar="G",
        help="ground-truth classes whose components are lesions (default: classes named tumour/lesion)",
    )
    p.add_argument("--connectivity", type=int, choices=CONNECTIVITIES, default=DEFAULT_CONNECTIVITY)
    p.add_argument(
        "--match",
        choices=MATCH_RULES,
        default=DEFAULT_MATCH,
        help="lesion matching: any overlap (LiTS) or IoU >= 0.5 one-to-one (panoptica)",
    )
    p.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE_MM, metavar="MM", help="normalised surface Dice tolerance"
    )
    p.add_argument(
        "--resample",
        action="store_true",
        help="resample the prediction onto the ground-truth grid (nearest neighbour) when they differ",
    )
    p.add_argument(
        "--force-labels",
        action="store_true",
        help="compare files whose content looks like an image (thousands of values, as a CT) as label maps anyway",
    )


def compare_options(args) -> dict:
    """The keyword arguments of :func:`napari_liverct.compare.compare_files` from the options
    :func:`compare_arguments` adds (the one translation for compare, evaluate and report)."""
    return {
        "mapping": args.map or None,
        "foreground": args.foreground,
        "lesion_labels": args.lesion_labels,
        "connectivity": args.connectivity,
        "match": args.match,
        "tolerance_mm": args.tolerance,
        "resample": args.resample,
        "force_labels": args.force_labels,
    }


def _workers(text: str) -> int:
    from ..tasks import check_workers

    try:
        return check_workers(int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}") from exc


def dask_arguments(p: argparse.ArgumentParser) -> None:
    """--workers / --scheduler of the commands that run on Dask (survey, evaluate, report)."""
    p.add_argument("--workers", type=_workers, default=None, metavar="N", help="local worker processes (default: CPUs)")
    p.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="address of an existing Dask distributed scheduler"
    )


def use_paired_labels(args) -> None:
    """Without ``--labels``, use the label file that belongs to the image (as the reader pairs them)."""
    if args.labels is not None:
        return
    from ..labels import find_label_sibling

    sibling = find_label_sibling(args.image)
    if sibling is not None:
        args.labels = str(sibling)
        print(f"napari-liverct {args.command}: using labels {sibling}", file=sys.stderr)
