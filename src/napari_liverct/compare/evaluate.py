"""Evaluate a folder of predictions against a dataset's ground truth, one Dask task per case.

Pairing: the ground-truth label files of ``GT_DIR_OR_DATASET`` (an MSD / nnU-Net dataset
folder or its dataset.json, read by :func:`napari_liverct.datasets.folder.load_dataset`, or any
folder of label NIfTI files such as ``labelsTr/``) are matched by file name with
``PRED_DIR``: ``labelsTr/X.nii.gz`` against ``PRED_DIR/X.nii.gz`` (``.nii`` also; nnU-Net's
predictions carry the label file's name).  :func:`evaluate_case` runs
:func:`napari_liverct.compare.compare_files` on one pair and never raises: a missing
prediction, an unreadable file or a grid mismatch is reported in that case's row
(``error_kind`` ``"missing"``, ``"unreadable"``, ``"grid_mismatch"``) while the other
cases finish.  Tasks run on local Dask worker processes or on an existing scheduler
through :func:`napari_liverct.survey.dask_client`, exactly as ``survey`` does.

Aggregation (:func:`summarise`, in :mod:`.aggregate`), per ground-truth class of the
union of all cases' classes, every class in every evaluated case as nnU-Net does (absent
from both maps: TP = FP = FN = 0, Dice NaN), with ``n_cases`` and ``n_present``:

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

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..results.anomaly import Anomaly
from ..volumes.volume import volume_stem
from .aggregate import AGGREGATED_METRICS, EvaluationSummary, label_anomalies, summarise

__all__ = [
    "pair_cases",
    "evaluate_case",
    "iter_evaluate",
    "evaluate",
    "Evaluation",
    "evaluation_result",
    "summarise",
    "report_to_csv",
    "AGGREGATED_METRICS",
]

_SUFFIXES = (".nii.gz", ".nii")


def _is_label_file(p: Path) -> bool:
    """A label file of a folder: NIfTI, NRRD, MetaImage or a DICOM-SEG (``.dcm``), by name."""
    from ..volumes.dispatch import volume_kind

    return not p.name.startswith(".") and p.is_file() and volume_kind(p, peek=False) is not None


def _gt_files(root: Path, issues: list | None = None) -> tuple[list[tuple[str, Path]], dict[int, str] | None]:
    """(case id, ground-truth label file) pairs and the dataset's label names; the
    dataset's issues (duplicate ids...) are appended to ``issues``."""
    from ..datasets.folder import load_dataset

    names = None
    try:
        ds = load_dataset(root)
    except ValueError:
        ds = None
    if ds is not None:
        names = ds.label_names
        if issues is not None:
            issues.extend(ds.issues)
        labelled = [(c.id, Path(c.label)) for c in ds.cases if c.label is not None]
        if labelled:
            return labelled, names
    if not root.is_dir():
        raise ValueError(f"{root}: not a dataset folder, dataset.json or folder of label files")
    files = sorted(p for p in root.iterdir() if _is_label_file(p))
    return [(volume_stem(p), p) for p in files], names


def pair_cases(gt_root, pred_dir, issues: list | None = None) -> tuple[list[dict], list[str], dict[int, str] | None]:
    """Pair ground-truth label files with predictions by file name.

    Where dataset.json and the folder disagree (duplicate case ids: each case is paired
    once), the :attr:`napari_liverct.datasets.folder.Dataset.issues` are appended to ``issues``.

    Returns
    -------
    (cases, extra, names)
        ``cases``: dicts ``{"id", "gt", "pred"}`` (``pred`` None when missing);
        ``extra``: prediction files without ground truth; ``names``: label names of the
        dataset.json, or None.
    """
    gt_root, pred_dir = Path(gt_root), Path(pred_dir)
    if not pred_dir.is_dir():
        raise ValueError(f"{pred_dir}: prediction folder not found")
    pairs, names = _gt_files(gt_root, issues)
    if not pairs:
        raise ValueError(f"{gt_root}: no ground-truth label files found")
    preds = {p.name: p for p in pred_dir.iterdir() if _is_label_file(p)}
    by_stem = {volume_stem(n): p for n, p in preds.items()}
    cases, used = [], set()
    for cid, gt in pairs:
        pred = preds.get(gt.name) or by_stem.get(volume_stem(gt)) or by_stem.get(cid)
        if pred is not None:
            used.add(pred.name)
        cases.append({"id": cid, "gt": str(gt), "pred": str(pred) if pred else None})
    extra = sorted(str(p) for n, p in preds.items() if n not in used)
    return cases, extra, names


def evaluate_case(case_id: str, gt: str, pred: str | None, options: dict, volumes: tuple | None = None) -> dict:
    """Compare one pair; never raises (``volumes``: the pair's NiftiVolumes if already read).

    Returns ``{"id", "gt", "pred", "error", "error_kind", "result", "seconds"}`` where
    ``result`` is a :class:`~napari_liverct.compare.CaseComparison` (None on error).
    """
    from . import GridMismatchError, compare_files

    t0 = time.perf_counter()
    row = {"id": case_id, "gt": gt, "pred": pred, "error": None, "error_kind": None, "result": None, "anomalies": []}
    if not os.path.lexists(gt):
        row.update(error=f"{case_id}: the ground truth {gt} does not exist", error_kind="missing_gt")
    elif pred is None:
        row.update(error=f"{case_id}: no prediction for {gt}", error_kind="missing")
    else:
        try:
            row["result"] = compare_files(gt, pred, volumes=volumes, **options)
        except GridMismatchError as exc:
            row.update(error=str(exc), error_kind="grid_mismatch")
        except Exception as exc:  # noqa: BLE001 - reported in the row, the other cases go on
            kind = "unreadable" if isinstance(exc, (OSError, ValueError)) else "failed"
            row.update(error=str(exc) if (gt in str(exc) or pred in str(exc)) else f"{pred}: {exc}", error_kind=kind)
    row["anomalies"] = label_anomalies(case_id, row["result"], options.get("names"))
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
    from ..parallel.tasks import run_tasks

    options = dict(options or {})

    def failed(i, exc):
        c = cases[i]
        return {
            "id": c["id"],
            "gt": c["gt"],
            "pred": c["pred"],
            "result": None,
            "error_kind": "failed",
            "error": f"{c['pred']}: the evaluation task failed on its worker ({exc})",
            "anomalies": [],
        }

    yield from run_tasks(
        evaluate_case,
        [((c["id"], c["gt"], c["pred"], options), {}) for c in cases],
        what="evaluate",
        on_failure=failed,
        workers=workers,
        scheduler=scheduler,
        client=client,
        processes=processes,
    )


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
    issues: list[Anomaly] = []
    cases, extra, names = pair_cases(gt_root, pred_dir, issues)
    opts = dict(options or {})
    if names and "names" not in opts:
        opts["names"] = names
    total = len(cases)
    rows: list = [None] * total
    it = iter_evaluate(cases, opts, workers=workers, scheduler=scheduler, client=client, processes=processes)
    from ..parallel.tasks import drain

    def keep(item):
        i, row = item
        rows[i] = row
        return row

    drain(it, total, "evaluate", progress, keep)
    ev = evaluation_result(gt_root, pred_dir, rows, extra, issues)
    report = ev.layout()
    report["_rows"] = rows
    return report


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a folder of predictions, made by :func:`evaluation_result`: what
    ``napari-liverct evaluate`` writes and what the report embeds as ``evaluation.json``.

    ``rows`` are :func:`evaluate_case`'s rows in case order; ``issues`` the dataset's own
    anomalies (dataset.json against the folder), before the cases' label anomalies.
    """

    gt: str
    predictions: str
    rows: tuple[dict, ...]
    extra_predictions: tuple[str, ...]
    issues: tuple[Anomaly, ...]
    summary: EvaluationSummary

    @property
    def anomalies(self) -> list[Anomaly]:
        return [*self.issues, *(a for r in self.rows for a in r.get("anomalies") or [])]

    @property
    def errors(self) -> list[dict]:
        return [{"id": r["id"], "kind": r["error_kind"], "error": r["error"]} for r in self.rows if r["error"]]

    def layout(self) -> dict:
        """The evaluate layout with typed anomalies (``to_json`` makes it strict JSON)."""
        return {
            "gt": self.gt,
            "predictions": self.predictions,
            "cases": [_case_json(r) for r in self.rows],
            "errors": self.errors,
            "anomalies": self.anomalies,
            "extra_predictions": list(self.extra_predictions),
            "summary": self.summary.to_json(),
            **self.summary.nnunet_json(),
        }

    def to_json(self) -> dict:
        from .results import json_safe

        return json_safe(self.layout())


def evaluation_result(gt_root, pred_dir, rows: list[dict], extra: list[str], issues: list) -> Evaluation:
    """The :class:`Evaluation` of evaluated ``rows`` (``evaluate`` and the report both make it here)."""
    return Evaluation(
        gt=str(gt_root),
        predictions=str(pred_dir),
        rows=tuple(rows),
        extra_predictions=tuple(extra),
        issues=tuple(issues),
        summary=summarise(rows),
    )


def _case_json(row: dict) -> dict:
    from .results import json_safe

    res = row.get("result")
    out = {
        "id": row["id"],
        "gt": row["gt"],
        "pred": row["pred"],
        "error": row["error"],
        "error_kind": row["error_kind"],
        "anomalies": [a.kind for a in row.get("anomalies") or []],
        "seconds": row.get("seconds"),
    }
    if res is not None:
        out.update(res.to_json())
    return json_safe(out)


def report_to_json(report: dict) -> str:
    import json

    from ..outputs.pathtext import text_safe
    from .results import json_safe

    return json.dumps(
        text_safe(json_safe({k: v for k, v in report.items() if k != "_rows"})), indent=2, allow_nan=False
    )


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
