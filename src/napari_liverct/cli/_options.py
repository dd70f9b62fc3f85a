"""Argument groups that several subcommands share, and their one translation to core keywords."""

from __future__ import annotations

import argparse
import math
import os
import sys

from ..constants import CONNECTIVITIES, DEFAULT_CONNECTIVITY, DEFAULT_MATCH, DEFAULT_TOLERANCE_MM, MATCH_RULES
from ..outputs.pathtext import path_text

__all__ = [
    "label_roles",
    "compare_arguments",
    "compare_options",
    "dask_arguments",
    "use_paired_labels",
    "target_arguments",
    "target_options",
    "force_labels_argument",
    "cpu_count_argument",
    "cores_available",
    "positive_int",
    "finite_float",
    "non_negative_float",
    "guard_dataset_output",
]


def label_roles(p: argparse.ArgumentParser) -> None:
    """--organ / --lesion / --label-names: the user's say over what the labels mean."""
    p.add_argument(
        "--organ",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="V",
        help="label values of the organ, for tumour burden (default: classes named liver)",
    )
    p.add_argument(
        "--lesion",
        type=positive_int,
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
    from ..constants import RECIST_MEASURABLE_MM, RECIST_TARGETS_PER_ORGAN, RECIST_TARGETS_TOTAL

    g = p.add_argument_group("RECIST 1.1 target lesions")
    g.add_argument(
        "--targets",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="ID",
        help="lesion ids (1 = largest volume) that are the targets (default: chosen by the rule below)",
    )
    g.add_argument(
        "--max-targets", type=positive_int, default=RECIST_TARGETS_TOTAL, metavar="N", help="at most N targets in all"
    )
    g.add_argument(
        "--max-per-organ", type=positive_int, default=RECIST_TARGETS_PER_ORGAN, metavar="N", help="at most N per organ"
    )
    g.add_argument(
        "--measurable",
        type=non_negative_float,
        default=RECIST_MEASURABLE_MM,
        metavar="MM",
        help="smallest long axis of a target",
    )


def target_options(args) -> dict:
    """``targets`` and ``target_rule`` keywords from :func:`target_arguments`'s options."""
    from ..stats.recist import TargetRule

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
        type=positive_int,
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
        "--tolerance",
        type=non_negative_float,
        default=DEFAULT_TOLERANCE_MM,
        metavar="MM",
        help="normalised surface Dice tolerance",
    )
    p.add_argument(
        "--resample",
        action="store_true",
        help="resample the prediction onto the ground-truth grid (nearest neighbour) when they differ",
    )
    force_labels_argument(p)


def force_labels_argument(p: argparse.ArgumentParser) -> None:
    """--force-labels: a label file whose content looks like an image is used anyway."""
    p.add_argument(
        "--force-labels",
        action="store_true",
        help="use label files whose content looks like an image (thousands of values, as a CT) as label maps anyway",
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


def cores_available() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number of at least 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {text!r}")
    return value


class _CappedAtCores(argparse.Action):
    """A positive count of CPUs (threads or worker processes): more than the cores available
    run as many as there are cores, and the command says so on standard error."""

    def __call__(self, parser, namespace, values, option_string=None):
        cores = cores_available()
        if values > cores:
            print(
                f"{parser.prog}: {option_string} {values} is more than the {cores} CPU cores available; using {cores}",
                file=sys.stderr,
            )
            values = cores
        setattr(namespace, self.dest, values)


def cpu_count_argument(p: argparse.ArgumentParser, flag: str, help: str) -> None:
    """``--threads N`` / ``--workers N``: a whole number of at least 1, capped at the cores available."""
    p.add_argument(flag, type=positive_int, action=_CappedAtCores, default=None, metavar="N", help=help)


def dask_arguments(p: argparse.ArgumentParser) -> None:
    """--workers / --scheduler of the commands that run on Dask (survey, evaluate, report)."""
    cpu_count_argument(p, "--workers", "local worker processes (default: CPUs; at most the cores available)")
    p.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="address of an existing Dask distributed scheduler"
    )


def guard_dataset_output(out, *datasets, **kwargs) -> None:
    """:func:`napari_liverct.outputs.guard.guard_output` of ``out`` against every file of ``datasets``."""
    from ..datasets.folder import dataset_inputs
    from ..outputs.guard import guard_output

    guard_output(out, [p for d in datasets if d for p in dataset_inputs(d)], **kwargs)


def use_paired_labels(args) -> None:
    """Without ``--labels``, use the label file that belongs to the image (as the reader pairs them)."""
    if args.labels is not None:
        return
    from ..labels.tables import find_label_sibling

    sibling = find_label_sibling(args.image)
    if sibling is not None:
        args.labels = str(sibling)
        print(path_text(f"napari-liverct {args.command}: using labels {sibling}"), file=sys.stderr)
