"""``napari-liverct evaluate``: the command-line face of :mod:`napari_liverct.compare.evaluate`."""

from __future__ import annotations

import sys
from pathlib import Path

from ..outputs.pathtext import path_text
from ._options import compare_arguments, dask_arguments, guard_dataset_output
from .exitcodes import finish


def add_parser(subparsers) -> None:
    """The ``evaluate`` subcommand's arguments."""
    ev = subparsers.add_parser(
        "evaluate", help="compare a folder of predictions with a dataset's ground truth, on Dask"
    )
    ev.add_argument("gt", metavar="GT_DIR_OR_DATASET", help="dataset folder, dataset.json or folder of label files")
    ev.add_argument("pred_dir", metavar="PRED_DIR", help="folder of predictions named like the label files")
    compare_arguments(ev)
    ev.add_argument("--format", choices=("json", "csv"), default=None, help="default: json (csv for --out *.csv)")
    dask_arguments(ev)
    ev.add_argument("--out", default=None, help="write to this file instead of standard output")
    ev.set_defaults(handler=run)


def run(args) -> int:
    """``napari-liverct evaluate GT_DIR_OR_DATASET PRED_DIR``: JSON (or CSV) report of a whole folder."""
    from ..compare.evaluate import evaluate, report_to_csv, report_to_json
    from . import compare_options

    if args.out:
        guard_dataset_output(args.out, args.gt, args.pred_dir)
    options = compare_options(args)
    report = evaluate(
        args.gt, args.pred_dir, options=options, workers=args.workers, scheduler=args.scheduler, progress=True
    )
    fmt = args.format or ("csv" if args.out and str(args.out).lower().endswith(".csv") else "json")
    text = report_to_csv(report) if fmt == "csv" else report_to_json(report) + "\n"
    s = report["summary"]
    if args.out:
        from ..outputs.units import atomic_write_text

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
    else:
        sys.stdout.write(text)
    msg = f"evaluated {s['n_evaluated']} of {s['n_cases']} cases ({s['n_failed']} failed)"
    for c in s["classes"].values():
        msg += (
            f"; {c['name']}: mean Dice {c['dice']['mean']:.4f} over {c['dice']['n']} of {c['n_cases']} cases, "
            f"global Dice {c['global_dice']:.4f}"
        )
    if s["lesions"]:
        msg += f"; lesion F1 (pooled) {s['lesions']['f1']:.3f}"
    for a in report["anomalies"]:
        print(path_text(f"napari-liverct evaluate: {a.kind}: {a.case}: {a.message}"), file=sys.stderr)
    print(path_text(msg + (f" -> {args.out}" if args.out else "")), file=sys.stderr)
    failed = [(e["id"], f"{e['kind']}: {e['error']}") for e in report["errors"]]
    return finish("evaluate", failed, s["n_cases"])
