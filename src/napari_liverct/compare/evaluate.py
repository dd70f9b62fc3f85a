"""Evaluate a folder of predictions against a dataset's ground truth, one Dask task per case.

Pairing: the ground-truth label files of ``GT_DIR_OR_DATASET`` (an MSD / nnU-Net dataset
folder or its dataset.json, read by :func:`napari_liverct.dataset.load_dataset`, or any
folder of label NIfTI files such as ``labelsTr/``) are matched by file name with
``PRED_DIR``: ``labelsTr/X.nii.gz`` against ``PRED_DIR/X.nii.gz`` (``.nii`` also; nnU-Net's
predictions carry the label file's name).  :func:`evaluate_case` runs
:func:`napari_liverct.compare.compare_files` on one pair and never raises: a missing
prediction, an unreadable file or a grid mismatch is reported in that case's row
(``error_kind`` ``"missing"``, ``"unreadable"``, ``"grid_mismatch"``) while the other
cases finish.  Tasks run on local Dask worker processes or on an existing scheduler
through :func:`napari_liverct.survey.dask_client`, exactly as ``survey`` does.

Aggregation (:func:`summarise`), per ground-truth class over the evaluated cases:

* mean, median and (population) SD of each metric over the cases where it is finite,
  with ``n`` (finite), ``n_nan`` (e.g. both maps empty) and ``n_inf`` (HD/ASSD of a
  case where one map is empty) counts, so nothing is silently dropped;
* **global Dice** = 2 sum(TP) / (2 sum(TP) + sum(FP) + sum(FN)) over all cases (LiTS);
* lesions pooled over all cases: sums of TP / FN / FP, precision = sum(detecting
  predicted lesions) / sum(predicted), recall = sum(detected) / sum(true), F1;
* nnU-Net's ``summary.json`` keys: ``metric_per_case`` (reference_file,
  prediction_file, metrics per label: Dice, IoU, FP, TP, FN, TN, n_pred, n_ref),
  ``mean`` (nanmean per label and metric, as nnU-Net) and ``foreground_mean`` (mean of
  the per-label means).

No napari, Qt, torch or MONAI import here.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "pair_cases",
    "evaluate_case",
    "iter_evaluate",
    "evaluate",
    "summarise",
    "report_to_csv",
    "AGGREGATED_METRICS",
]

AGGREGATED_METRICS = (
    "dice",
    "iou",
    "sensitivity",
    "precision",
    "hd",
    "hd95",
    "assd",
    "nsd",
    "ravd",
    "volume_diff_ml",
    "volume_diff_pct",
    "gt_ml",
    "pred_ml",
)
_SUFFIXES = (".nii.gz", ".nii")


def _gt_files(root: Path) -> tuple[list[tuple[str, Path]], dict[int, str] | None]:
    """(case id, ground-truth label file) pairs and the dataset's label names."""
    from ..dataset import load_dataset
    from ..nifti import is_nifti_path, nifti_stem

    names = None
    try:
        ds = load_dataset(root)
    except ValueError:
        ds = None
    if ds is not None:
        names = ds.label_names
        labelled = [(c.id, Path(c.label)) for c in ds.cases if c.label is not None]
        if labelled:
            return labelled, names
    if not root.is_dir():
        raise ValueError(f"{root}: not a dataset folder, dataset.json or folder of label files")
    files = sorted(p for p in root.iterdir() if is_nifti_path(p) and not p.name.startswith("."))
    return [(nifti_stem(p), p) for p in files], names


def pair_cases(gt_root, pred_dir) -> tuple[list[dict], list[str], dict[int, str] | None]:
    """Pair ground-truth label files with predictions by file name.

    Returns
    -------
    (cases, extra, names)
        ``cases``: dicts ``{"id", "gt", "pred"}`` (``pred`` None when missing);
        ``extra``: prediction files without ground truth; ``names``: label names of the
        dataset.json, or None.
    """
    from ..nifti import is_nifti_path, nifti_stem

    gt_root, pred_dir = Path(gt_root), Path(pred_dir)
    if not pred_dir.is_dir():
        raise ValueError(f"{pred_dir}: prediction folder not found")
    pairs, names = _gt_files(gt_root)
    if not pairs:
        raise ValueError(f"{gt_root}: no ground-truth label files found")
    preds = {p.name: p for p in pred_dir.iterdir() if is_nifti_path(p) and not p.name.startswith(".")}
    by_stem = {nifti_stem(n): p for n, p in preds.items()}
    cases, used = [], set()
    for cid, gt in pairs:
        pred = preds.get(gt.name) or by_stem.get(nifti_stem(gt)) or by_stem.get(cid)
        if pred is not None:
            used.add(pred.name)
        cases.append({"id": cid, "gt": str(gt), "pred": str(pred) if pred else None})
    extra = sorted(str(p) for n, p in preds.items() if n not in used)
    return cases, extra, names


def evaluate_case(case_id: str, gt: str, pred: str | None, options: dict) -> dict:
    """Compare one pair; never raises.

    Returns ``{"id", "gt", "pred", "error", "error_kind", "result", "seconds"}`` where
    ``result`` is a :class:`~napari_liverct.compare.CaseComparison` (None on error).
    """
    from . import GridMismatchError, compare_files

    t0 = time.perf_counter()
    row = {"id": case_id, "gt": gt, "pred": pred, "error": None, "error_kind": None, "result": None}
    if pred is None:
        row.update(error=f"{case_id}: no prediction for {gt}", error_kind="missing")
    else:
        try:
            row["result"] = compare_files(gt, pred, **options)
        except GridMismatchError as exc:
            row.update(error=str(exc), error_kind="grid_mismatch")
        except Exception as exc:  # noqa: BLE001 - reported in the row, the other cases go on
            kind = "unreadable" if isinstance(exc, (OSError, ValueError)) else "failed"
            row.update(error=str(exc) if (gt in str(exc) or pred in str(exc)) else f"{pred}: {exc}", error_kind=kind)
    row["seconds"] = time.perf_counter() - t0
    return row


def iter_evaluate(
    cases: Sequence[dict],
    options: dict | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    processes: bool = True,
) -> Iterator[tuple[int, dict]]:
    """Run :func:`evaluate_case` for every case; yield ``(index, row)`` as they finish.

    ``scheduler="synchronous"`` runs in this process without Dask; otherwise a local
    cluster of ``workers`` processes, or the scheduler at ``scheduler``, or ``client``.
    """
    from ..survey import dask_client

    options = dict(options or {})
    if not cases:
        return
    if scheduler == "synchronous":
        for i, c in enumerate(cases):
            yield i, evaluate_case(c["id"], c["gt"], c["pred"], options)
        return
    if client is not None:
        yield from _run_on(client, cases, options)
        return
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    n = min(int(workers or os.cpu_count() or 1), len(cases))
    with dask_client(n, scheduler, processes) as cl:
        yield from _run_on(cl, cases, options)


def _run_on(client, cases, options):
    from distributed import as_completed

    futures = {}
    for i, c in enumerate(cases):
        fut = client.submit(
            evaluate_case,
            c["id"],
            c["gt"],
            c["pred"],
            options,
            key=f"liverct-evaluate-{i}-{c['id']}-{time.time_ns()}",
            pure=False,
        )
        futures[fut] = i
    try:
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died: report, go on
                c = cases[i]
                row = {
                    "id": c["id"],
                    "gt": c["gt"],
                    "pred": c["pred"],
                    "result": None,
                    "error_kind": "failed",
                    "error": f"{c['pred']}: the evaluation task failed on its worker ({exc})",
                }
            yield i, row
    finally:
        client.cancel(list(futures))


def _stats(values: list[float]) -> dict:
    arr = np.asarray(values, float)
    fin = arr[np.isfinite(arr)]
    out = {"n": int(fin.size), "n_nan": int(np.isnan(arr).sum()), "n_inf": int(np.isinf(arr).sum())}
    if fin.size:
        out.update(mean=float(fin.mean()), median=float(np.median(fin)), sd=float(fin.std()))
    else:
        out.update(mean=math.nan, median=math.nan, sd=math.nan)
    return out


def _div(a, b):
    return a / b if b else math.nan


def summarise(rows: list[dict]) -> dict:
    """Dataset summary of evaluated rows (see the module docstring)."""
    done = [r["result"] for r in rows if r.get("result") is not None]
    classes: dict[str, dict] = {}
    per_label: dict[str, list] = {}
    for res in done:
        for c in res.classes:
            per_label.setdefault(str(c.label), []).append(c)
    for lab, cms in per_label.items():
        tp, fp, fn = (sum(getattr(c, k) for c in cms) for k in ("tp", "fp", "fn"))
        entry = {
            "name": cms[0].name,
            "n_cases": len(cms),
            "global_dice": _div(2 * tp, 2 * tp + fp + fn),
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
        for m in AGGREGATED_METRICS:
            entry[m] = _stats([getattr(c, m) for c in cms])
        classes[lab] = entry
    lesions = None
    les = [res.lesions for res in done if res.lesions is not None]
    if les:
        s = {
            k: sum(getattr(x, k) for x in les)
            for k in (
                "n_gt",
                "n_pred",
                "tp",
                "fn",
                "fp",
                "tp_pred",
                "merges",
                "splits",
                "tp_iou50",
                "fp_iou50",
                "fn_iou50",
            )
        }
        precision, recall = _div(s["tp_pred"], s["n_pred"]), _div(s["tp"], s["n_gt"])
        if s["n_gt"] == 0 and s["n_pred"] == 0:
            f1 = math.nan
        elif s["n_gt"] == 0 or s["n_pred"] == 0 or precision + recall == 0:
            f1 = 0.0
        else:
            f1 = 2 * precision * recall / (precision + recall)
        lesions = {
            **s,
            "match": les[0].match,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "rq_pooled": _div(s["tp_iou50"], s["tp_iou50"] + 0.5 * s["fp_iou50"] + 0.5 * s["fn_iou50"]),
            "pq": _stats([x.pq for x in les]),
            "f1_per_case": _stats([x.f1 for x in les]),
        }
    # nnU-Net summary.json
    metric_per_case = [res.nnunet_case() for res in done]
    mean: dict[str, dict] = {}
    for lab in per_label:
        keys = metric_per_case[0]["metrics"][lab].keys() if metric_per_case else []
        mean[lab] = {
            k: float(np.nanmean([float(c["metrics"][lab][k]) for c in metric_per_case if lab in c["metrics"]]))
            if any(lab in c["metrics"] for c in metric_per_case)
            else math.nan
            for k in keys
        }
    fg_keys = next(iter(mean.values())).keys() if mean else []
    foreground_mean = {k: float(np.mean([mean[lab][k] for lab in mean if lab != "0"])) for k in fg_keys}
    return {
        "n_cases": len(rows),
        "n_evaluated": len(done),
        "n_failed": len(rows) - len(done),
        "classes": classes,
        "lesions": lesions,
        "metric_per_case": metric_per_case,
        "mean": mean,
        "foreground_mean": foreground_mean,
    }


def evaluate(
    gt_root,
    pred_dir,
    *,
    options: dict | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    processes: bool = True,
    progress: bool | Callable[[int, int, dict], None] = True,
) -> dict:
    """Evaluate every case: ``{"cases": [...], "summary": {...}, "errors": [...], ...}``.

    ``options`` are keyword arguments of :func:`napari_liverct.compare.compare_files`
    (``mapping``, ``foreground``, ``lesion_labels``, ``connectivity``, ``match``,
    ``tolerance_mm``, ``resample``); the dataset.json label names are added.
    The returned dict also carries nnU-Net's ``metric_per_case``, ``mean`` and
    ``foreground_mean`` at its top level.
    """
    cases, extra, names = pair_cases(gt_root, pred_dir)
    opts = dict(options or {})
    if names and "names" not in opts:
        opts["names"] = names
    total = len(cases)
    rows: list = [None] * total
    it = iter_evaluate(cases, opts, workers=workers, scheduler=scheduler, client=client, processes=processes)
    from ..survey import drain

    def keep(item):
        i, row = item
        rows[i] = row
        return row

    drain(it, total, "evaluate", progress, keep)
    summary = summarise(rows)
    report = {
        "gt": str(gt_root),
        "predictions": str(pred_dir),
        "cases": [_case_json(r) for r in rows],
        "errors": [{"id": r["id"], "kind": r["error_kind"], "error": r["error"]} for r in rows if r["error"]],
        "extra_predictions": extra,
        "summary": {k: v for k, v in summary.items() if k not in ("metric_per_case", "mean", "foreground_mean")},
        "metric_per_case": summary["metric_per_case"],
        "mean": summary["mean"],
        "foreground_mean": summary["foreground_mean"],
    }
    report["_rows"] = rows
    return report


def _case_json(row: dict) -> dict:
    from .results import json_safe

    res = row.get("result")
    out = {
        "id": row["id"],
        "gt": row["gt"],
        "pred": row["pred"],
        "error": row["error"],
        "error_kind": row["error_kind"],
        "seconds": row.get("seconds"),
    }
    if res is not None:
        out.update(res.to_json())
    return json_safe(out)


def report_to_json(report: dict) -> str:
    import json

    from .results import json_safe

    return json.dumps(json_safe({k: v for k, v in report.items() if k != "_rows"}), indent=2, allow_nan=False)


def report_to_csv(report: dict) -> str:
    """One row per case and class (the compare CLI's class columns), errors as rows with ``error``."""
    from .report import CLASS_COLUMNS, rows_to_csv

    out = []
    for row in report["_rows"]:
        base = {"id": row["id"], "error_kind": row["error_kind"], "error": row["error"]}
        res = row.get("result")
        if res is None:
            out.append(base)
            continue
        for c in res.classes:
            out.append({**base, **c.to_row()})
    return rows_to_csv(["id", *CLASS_COLUMNS, "error_kind", "error"], out)
