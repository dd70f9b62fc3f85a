"""``napari-liverct`` command line: view, stats, crop, snapshot, survey, compare, evaluate, report.

Every subcommand calls the same core functions as the widgets.  Heavy modules
(napari, Qt, torch, MONAI) are imported only by the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import sys

from . import compare, crop, evaluate, report, snapshot, stats, survey, view

__all__ = ["main", "build_parser"]


def _label_roles(p: argparse.ArgumentParser) -> None:
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


def _compare_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``compare`` and ``evaluate`` (see napari_liverct.compare)."""
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
    p.add_argument("--connectivity", type=int, choices=(6, 26), default=26)
    p.add_argument(
        "--match",
        choices=("overlap", "iou50"),
        default="overlap",
        help="lesion matching: any overlap (LiTS) or IoU >= 0.5 one-to-one (panoptica)",
    )
    p.add_argument("--tolerance", type=float, default=2.0, metavar="MM", help="normalised surface Dice tolerance")
    p.add_argument(
        "--resample",
        action="store_true",
        help="resample the prediction onto the ground-truth grid (nearest neighbour) when they differ",
    )


def compare_options(args) -> dict:
    """The keyword arguments of :func:`napari_liverct.compare.compare_files` from the options
    :func:`_compare_options` adds (the one translation for compare, evaluate and report)."""
    return {
        "mapping": args.map or None,
        "foreground": args.foreground,
        "lesion_labels": args.lesion_labels,
        "connectivity": args.connectivity,
        "match": args.match,
        "tolerance_mm": args.tolerance,
        "resample": args.resample,
    }


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all subcommands."""
    p = argparse.ArgumentParser(
        prog="napari-liverct",
        description="Open, measure, crop and inspect liver CT NIfTI volumes (napari plugin).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("view", help="open napari with the plugin's widgets and files (or the sample)")
    v.add_argument("files", nargs="*", help=".nii/.nii.gz files; none opens the synthetic phantom")
    v.add_argument(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="write 2D and 3D screenshots to DIR and exit (default when there is no display: ./liverct-screenshots)",
    )
    v.add_argument("--no-widgets", action="store_true", help="do not dock the plugin's widgets")
    v.set_defaults(handler=view.run)

    s = sub.add_parser("stats", help="image, per-label and per-lesion statistics in physical units")
    s.add_argument("image")
    s.add_argument("--labels", default=None)
    s.add_argument("--connectivity", type=int, choices=(6, 26), default=26)
    s.add_argument("--format", choices=("table", "csv", "json"), default="table")
    s.add_argument(
        "--resample-labels",
        action="store_true",
        help="resample labels onto the image grid (nearest neighbour) when the grids differ",
    )
    _label_roles(s)
    s.set_defaults(handler=stats.run)

    c = sub.add_parser("crop", help="crop image and labels to the foreground, MONAI CropForeground semantics")
    c.add_argument("image")
    c.add_argument("--labels", default=None)
    c.add_argument("--out-dir", required=True)
    src = c.add_mutually_exclusive_group()
    src.add_argument("--threshold", type=float, default=None, help="foreground is image > T (HU)")
    src.add_argument(
        "--source", choices=("image", "labels"), default="image", help="'labels': foreground is labels > 0"
    )
    c.add_argument("--margin", type=float, nargs="+", default=[0.0])
    c.add_argument("--k-divisible", type=int, nargs="+", default=[1])
    c.add_argument("--allow-smaller", action="store_true")
    c.add_argument(
        "--resample-labels",
        action="store_true",
        help="resample labels onto the image grid (nearest neighbour) when the grids really differ",
    )
    c.set_defaults(handler=crop.run)

    sn = sub.add_parser("snapshot", help="render axial/coronal/sagittal slices and a 3D view to PNG")
    sn.add_argument("image")
    sn.add_argument("--labels", default=None)
    sn.add_argument("--out", required=True, metavar="DIR")
    sn.add_argument("--lesion", type=int, default=None, help="lesion id (default: the largest)")
    sn.add_argument(
        "--lesion-labels",
        type=int,
        nargs="+",
        default=None,
        metavar="V",
        help="label values whose components are lesions (default: classes named tumour/lesion)",
    )
    sn.set_defaults(handler=snapshot.run)

    sv = sub.add_parser("survey", help="dataset fingerprint of an MSD/nnU-Net folder")
    sv.add_argument("folder")
    sv.add_argument("--format", choices=("json", "csv"), default="json")
    sv.add_argument("--workers", type=int, default=None)
    sv.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="address of an existing Dask distributed scheduler"
    )
    sv.add_argument("--out", default=None, help="write to this file instead of standard output")
    sv.set_defaults(handler=survey.run)

    cp = sub.add_parser("compare", help="compare a predicted segmentation with its ground truth")
    cp.add_argument("gt", help="ground-truth label file")
    cp.add_argument("pred", help="predicted label file")
    _compare_options(cp)
    cp.add_argument("--format", choices=("table", "json", "csv"), default="table")
    cp.set_defaults(handler=compare.run)

    ev = sub.add_parser("evaluate", help="compare a folder of predictions with a dataset's ground truth, on Dask")
    ev.add_argument("gt", metavar="GT_DIR_OR_DATASET", help="dataset folder, dataset.json or folder of label files")
    ev.add_argument("pred_dir", metavar="PRED_DIR", help="folder of predictions named like the label files")
    _compare_options(ev)
    ev.add_argument("--format", choices=("json", "csv"), default=None, help="default: json (csv for --out *.csv)")
    ev.add_argument("--workers", type=int, default=None)
    ev.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="address of an existing Dask distributed scheduler"
    )
    ev.add_argument("--out", default=None, help="write to this file instead of standard output")
    ev.set_defaults(handler=evaluate.run)

    rp = sub.add_parser("report", help="static HTML QC report of a dataset (summary, anomalies, overlays, evaluation)")
    rp.add_argument("dataset", metavar="DATASET", help="dataset folder or dataset.json")
    rp.add_argument(
        "--predictions",
        default=None,
        metavar="PRED_DIR",
        help="folder of predictions named like the label files: adds the evaluation",
    )
    _compare_options(rp)
    rp.add_argument("--out", required=True, metavar="DIR", help="folder to write index.html and its pictures into")
    rp.add_argument("--workers", type=int, default=None)
    rp.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="address of an existing Dask distributed scheduler"
    )
    rp.set_defaults(handler=report.run)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``napari-liverct`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "margin", None) is not None and args.command == "crop":
        try:
            from ..crop import parse_per_axis

            args.margin = parse_per_axis(args.margin, float, "--margin")
        except ValueError as exc:
            parser.error(str(exc))
    if args.command in ("stats", "crop") and args.labels is None:
        from ..labels import find_label_sibling

        sibling = find_label_sibling(args.image)
        if sibling is not None:
            args.labels = str(sibling)
            print(f"napari-liverct {args.command}: using labels {sibling}", file=sys.stderr)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"napari-liverct {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"napari-liverct {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a user sees a message, never a traceback
        print(
            f"napari-liverct {args.command}: internal error ({type(exc).__name__}: {exc}); please report it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
