"""``napari-liverct report``: the command-line face of :mod:`napari_liverct.report.build`."""

from __future__ import annotations

import sys


def run(args) -> int:
    """``napari-liverct report DATASET --out DIR [--predictions PRED_DIR] ...``."""
    from ..report.build import build_report

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, not {args.workers}")
    options = None
    if args.predictions:
        options = {
            "mapping": args.map or None,
            "foreground": args.foreground,
            "lesion_labels": args.lesion_labels,
            "connectivity": args.connectivity,
            "match": args.match,
            "tolerance_mm": args.tolerance,
            "resample": args.resample,
        }
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
    print(msg, file=sys.stderr)
    return 0
