"""``napari-liverct report``: the command-line face of :mod:`napari_liverct.report.build`."""

from __future__ import annotations

import sys

from ..outputs.pathtext import path_text
from ._options import compare_arguments, dask_arguments
from .exitcodes import finish


def add_parser(subparsers) -> None:
    """The ``report`` subcommand's arguments."""
    rp = subparsers.add_parser(
        "report", help="static HTML QC report of a dataset (summary, anomalies, overlays, evaluation)"
    )
    rp.add_argument("dataset", metavar="DATASET", help="dataset folder or dataset.json")
    rp.add_argument(
        "--predictions",
        default=None,
        metavar="PRED_DIR",
        help="folder of predictions named like the label files: adds the evaluation",
    )
    compare_arguments(rp)
    rp.add_argument("--out", required=True, metavar="DIR", help="folder to write index.html and its pictures into")
    dask_arguments(rp)
    rp.set_defaults(handler=run)


def run(args) -> int:
    """``napari-liverct report DATASET --out DIR [--predictions PRED_DIR] ...``."""
    from ..report.build import build_report
    from . import compare_options

    options = compare_options(args) if args.predictions else None
    res = build_report(
        args.dataset,
        args.out,
        predictions=args.predictions,
        options=options,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=True,
    )
    s = res["survey"]["summary"]
    msg = (
        f"report of {s['n_cases']} cases ({s['n_failed']} failed, {len(res['survey']['anomalies'])} anomalies)"
        f" in {res['seconds']:.1f} s -> {res['index']}"
    )
    print(path_text(msg), file=sys.stderr)
    failed = [(f["case"], f["error"]) for f in res["survey"]["failed"]]
    seen = {cid for cid, _ in failed}
    for e in (res["evaluation"] or {}).get("errors", []):
        if e["id"] not in seen:  # a case whose labels failed is listed once, by the survey
            failed.append((e["id"], f"{e['kind']}: {e['error']}"))
    return finish("report", failed, s["n_cases"])
