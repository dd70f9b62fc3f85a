"""Dataset survey (nnU-Net's "fingerprint"): one task per case, run on Dask.

:func:`survey_case` is a plain, picklable function that reads one case from disk
(given its paths only) and returns a JSON-friendly row plus a sample of foreground
intensities.  :func:`iter_survey` submits it once per case through a
``dask.distributed`` client, to a local cluster of worker processes by default or
to an existing scheduler (``scheduler="tcp://host:8786"``), and yields rows as they
finish; :func:`survey` adds a progress bar and the dataset summary and anomalies of
:mod:`napari_liverct.survey.summary`.  Remote workers need this package installed
and the case paths visible under the same names.  A script that runs the survey on
local worker processes needs the usual ``if __name__ == "__main__":`` guard, since
Dask starts its workers with multiprocessing "spawn" (the ``napari-liverct`` command
and napari itself have it).

Foreground intensities follow nnU-Net v2: the per-case percentiles (0.5, 50, 99.5),
mean, std, min and max use *all* voxels with ``labels > 0``; for the dataset-wide
percentiles each case contributes ``n_samples`` (10000) foreground values drawn with
replacement by a generator seeded with ``seed`` (1234), so every case weighs the
same and the result does not depend on the order in which tasks finish.  They are
computed whenever image and labels have the same shape (voxel correspondence, as
nnU-Net does), even when their affines differ — that case is flagged
``grid_mismatch`` by the summary.

No napari, Qt, torch or MONAI import here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = [
    "drain",
    "survey_case",
    "iter_survey",
    "survey",
    "GRID_ATOL",
    "N_SAMPLES",
]

#: Two grids are equal when shapes match and every affine entry differs by <= this (mm).
GRID_ATOL = 1e-3
#: Foreground intensities sampled per case for the dataset percentiles (as nnU-Net).
N_SAMPLES = 10_000
SEED = 1234
_CHUNK = 1 << 24  # voxels per bincount chunk (bounds the int64 temporary to 128 MB)


def _affine_flags(affine: np.ndarray, header) -> tuple[bool, bool]:
    """(missing, identity): no sform/qform code, or an identity voxel-to-world affine."""
    try:
        missing = int(header["sform_code"]) == 0 and int(header["qform_code"]) == 0
    except (KeyError, TypeError, ValueError):
        missing = True
    return missing, bool(np.allclose(affine, np.eye(4)))


def _ras_order(values: Sequence[float], affine: np.ndarray) -> list:
    """Reorder per-stored-axis values into RAS axis order (x, y, z)."""
    from nibabel.orientations import io_orientation

    ornt = io_orientation(affine)
    out = [None, None, None]
    for axis, (ras_axis, _flip) in enumerate(ornt[:3]):
        out[int(ras_axis)] = values[axis]
    return out


def _label_counts(lab: np.ndarray) -> dict[int, int]:
    """Voxel count per label value, in one pass without sorting."""
    flat = lab.ravel(order="K")
    if flat.size == 0:
        return {}
    lo, hi = int(flat.min()), int(flat.max())
    if 0 <= lo and hi - lo < 32:  # few values (the usual case): one vectorised compare each
        counts = {v: int(np.count_nonzero(flat == v)) for v in range(lo, hi + 1)}
        return {v: c for v, c in counts.items() if c}
    if lo < 0 or hi > 65535:
        vals, counts = np.unique(flat, return_counts=True)
        return {int(v): int(c) for v, c in zip(vals, counts)}
    total = np.zeros(hi + 1, dtype=np.int64)
    for start in range(0, flat.size, _CHUNK):
        total += np.bincount(flat[start : start + _CHUNK], minlength=hi + 1)
    return {int(v): int(c) for v, c in enumerate(total) if c}


def _f(x) -> float:
    return float(x)


def survey_case(
    image: str | os.PathLike,
    label: str | os.PathLike | None = None,
    case_id: str | None = None,
    split: str = "training",
    n_samples: int = N_SAMPLES,
    seed: int = SEED,
    lesion_labels: Sequence[int] | None = None,
) -> tuple[dict, np.ndarray]:
    """Fingerprint of one case, read from disk.

    Parameters
    ----------
    image, label
        NIfTI paths (``label`` may be None).
    case_id, split
        Copied into the row.
    n_samples, seed
        Foreground intensities sampled for the dataset percentiles.
    lesion_labels
        Label values counted as lesions; None: classes whose name says tumour/lesion
        (names by :func:`napari_liverct.labels.label_table_for`), and
        ``lesion_count`` is None when there is no such class.

    Returns
    -------
    (row, samples)
        ``row`` is a JSON-friendly dict (``"error"`` holds the message when the image
        cannot be read, ``"label_error"`` when only the labels cannot); ``samples``
        is a float32 array of foreground intensities (empty when there are none).
        This function never raises for a bad file.
    """
    from ..geometry import orientation_code
    from ..labels import integral_labels
    from ..nifti import nifti_stem, read_nifti

    t0 = time.perf_counter()
    row: dict = {
        "id": case_id or nifti_stem(image),
        "split": split,
        "image": str(image),
        "label": str(label) if label else None,
        "error": None,
        "label_error": None,
    }
    empty = np.zeros(0, np.float32)
    try:
        vol = read_nifti(image)
    except Exception as exc:  # noqa: BLE001 - reported in the row, the survey goes on
        row["error"] = str(exc) if str(image) in str(exc) else f"{image}: {exc}"
        row["seconds"] = time.perf_counter() - t0
        return row, empty
    aff = vol.affine
    missing, identity = _affine_flags(aff, vol.header)
    spacing = [float(f"{v:.7g}") for v in vol.spacing]  # float32 header precision, no 2.2000000477
    shape = [int(s) for s in vol.spatial_shape]
    row.update(
        shape=shape,
        spacing=spacing,
        shape_ras=_ras_order(shape, aff),
        spacing_ras=_ras_order(spacing, aff),
        orientation=orientation_code(aff),
        dtype=str(vol.data.dtype),
        affine=aff.tolist(),
        affine_missing=missing,
        affine_identity=identity,
    )
    samples = empty
    if label:
        try:
            lvol = read_nifti(label)
            lab = integral_labels(np.asarray(lvol.data), str(label))
        except Exception as exc:  # noqa: BLE001
            row["label_error"] = str(exc) if str(label) in str(exc) else f"{label}: {exc}"
            row["label_error_kind"] = "missing" if not Path(label).exists() else "unreadable"
        else:
            samples = _label_part(row, vol, lvol, lab, n_samples, seed, lesion_labels)
    row["seconds"] = time.perf_counter() - t0
    return row, samples


def _label_part(
    row: dict, vol, lvol, lab: np.ndarray, n_samples: int, seed: int, lesion_labels: Sequence[int] | None = None
) -> np.ndarray:
    """Fill the label fields of ``row``; return the foreground intensity sample."""
    from ..geometry import grid_mismatch, orientation_code, reorient_onto
    from ..labels import label_table_for, lesion_label_ids
    from ..stats import lesion_components, voxel_volume_ml

    laff = lvol.affine
    lmissing, lidentity = _affine_flags(laff, lvol.header)
    lshape = [int(s) for s in lab.shape[:3]]
    row.update(
        label_shape=lshape,
        label_orientation=orientation_code(laff),
        label_affine_missing=lmissing,
        label_affine_identity=lidentity,
        grids_equal=grid_mismatch(lshape, laff, row["shape"], vol.affine, tol_mm=GRID_ATOL) is None,
        grid_max_diff_mm=float(np.abs(laff - vol.affine).max()),
    )
    counts = _label_counts(lab)
    voxel_ml = voxel_volume_ml(laff)
    row["label_values"] = sorted(counts)
    row["label_voxels"] = {str(v): c for v, c in counts.items()}
    row["volume_ml"] = {str(v): round(c * voxel_ml, 6) for v, c in counts.items() if v != 0}
    table = label_table_for(row.get("label"), lvol.header, present=sorted(counts))
    row["label_names_source"] = table.source
    row["lesion_labels"] = sorted(
        int(v) for v in (lesion_label_ids(table.names) if lesion_labels is None else lesion_labels)
    )
    lesion = [v for v in row["lesion_labels"] if counts.get(v)]
    row["lesion_count"] = (lesion_components(lab, lesion)[1] if lesion else 0) if row["lesion_labels"] else None
    fg_stats = dict.fromkeys(("fg_p00_5", "fg_p50", "fg_p99_5", "fg_mean", "fg_std", "fg_min", "fg_max"))
    row.update(fg_voxels=0, **fg_stats)
    on_grid = reorient_onto(lab, laff, row["shape"], vol.affine, tol_mm=GRID_ATOL) if lab.ndim == 3 else None
    row["grids_equivalent"] = on_grid is not None
    if on_grid is None or vol.data.ndim != 3:
        return np.zeros(0, np.float32)
    lab, how = on_grid
    if how:
        row["grid_note"] = f"labels {how}"
    fg = np.asarray(vol.data)[lab > 0]
    row["fg_voxels"] = int(fg.size)
    if fg.size == 0:
        return np.zeros(0, np.float32)
    p = np.percentile(fg, [0.5, 50.0, 99.5])
    row.update(
        fg_p00_5=_f(p[0]),
        fg_p50=_f(p[1]),
        fg_p99_5=_f(p[2]),
        fg_mean=_f(fg.mean(dtype=np.float64)),
        fg_std=_f(fg.std(dtype=np.float64)),
        fg_min=_f(fg.min()),
        fg_max=_f(fg.max()),
    )
    rng = np.random.default_rng(seed)
    return rng.choice(fg, size=n_samples, replace=True).astype(np.float32)


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, processes: bool = True):
    """A ``distributed.Client``: to ``scheduler`` if given, else to a new LocalCluster.

    The local cluster has ``workers`` (default ``os.cpu_count()``) single-threaded
    worker processes (threads when ``processes`` is False), no dashboard, and its
    scheduler's HTTP endpoint on a free local port.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    n = int(workers or os.cpu_count() or 1)
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            # the scheduler always serves HTTP; a free port avoids clashing with another cluster
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0", "dashboard": False},
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _case_fields(case) -> tuple[str, str | None, str, str]:
    if isinstance(case, dict):
        lab = case.get("label")
        return str(case["image"]), (str(lab) if lab else None), case.get("id"), case.get("split", "training")
    return str(case.image), (str(case.label) if case.label else None), case.id, case.split


def iter_survey(
    cases: Sequence,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    processes: bool = True,
    n_samples: int = N_SAMPLES,
    seed: int = SEED,
) -> Iterator[tuple[int, dict, np.ndarray]]:
    """Run :func:`survey_case` for every case; yield ``(index, row, samples)`` as they finish.

    Parameters
    ----------
    cases
        :class:`napari_liverct.dataset.Case` objects or dicts with ``image``,
        ``label``, ``id``, ``split``.
    workers
        Local worker processes (default: the machine's CPU count, at most one per case).
    scheduler
        Address of an existing Dask scheduler; ``"synchronous"`` runs in this process
        without Dask.
    client
        An existing ``distributed.Client`` to use instead (not closed here).
    processes
        Local cluster with processes (default) or threads.
    """
    fields = [_case_fields(c) for c in cases]
    if not fields:
        return
    if scheduler == "synchronous":
        for i, (img, lab, cid, split) in enumerate(fields):
            yield (i, *survey_case(img, lab, cid, split, n_samples, seed))
        return
    if client is not None:
        yield from _run_on(client, fields, n_samples, seed)
        return
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    n = min(int(workers or os.cpu_count() or 1), len(fields))
    with dask_client(n, scheduler, processes) as cl:
        yield from _run_on(cl, fields, n_samples, seed)


def _run_on(client, fields, n_samples, seed):
    from distributed import as_completed

    futures = {}
    for i, (img, lab, cid, split) in enumerate(fields):
        fut = client.submit(
            survey_case,
            img,
            lab,
            cid,
            split,
            n_samples,
            seed,
            key=f"liverct-survey-{i}-{time.time_ns()}",  # no file name: keys must encode as UTF-8
            pure=False,
        )
        futures[fut] = i
    try:
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                row, samples = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died: report, go on
                img, lab, cid, split = fields[i]
                row = {
                    "id": cid,
                    "split": split,
                    "image": img,
                    "label": lab,
                    "error": f"{img}: the survey task failed on its worker ({exc})",
                    "label_error": None,
                }
                samples = np.zeros(0, np.float32)
            yield i, row, samples
    finally:
        client.cancel(list(futures))


def survey(
    cases: Sequence,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | Callable[[int, int, dict], None] = True,
    *,
    label_names: dict[int, str] | None = None,
    dataset_anomalies: list[dict] | None = None,
    client=None,
    processes: bool = True,
    n_samples: int = N_SAMPLES,
    seed: int = SEED,
) -> dict:
    """Survey a dataset: ``{"cases": [...], "summary": {...}, "anomalies": [...]}``.

    Parameters
    ----------
    cases, workers, scheduler, client, processes, n_samples, seed
        See :func:`iter_survey`.
    progress
        True for a rich progress bar on standard error, or a callable
        ``(done, total, row)`` called as each case finishes.
    label_names
        Labels declared by dataset.json; values outside them are anomalies.
    dataset_anomalies
        Where dataset.json and the folder disagree (``Dataset.issues``), listed first.

    Returns
    -------
    dict
        Rows in the order of ``cases``; see :mod:`napari_liverct.survey.summary`.
    """
    from .summary import build_report

    total = len(cases)
    rows: list = [None] * total
    samples: list = [None] * total
    it = iter_survey(
        cases, workers=workers, scheduler=scheduler, client=client, processes=processes, n_samples=n_samples, seed=seed
    )

    def keep(item):
        i, row, smp = item
        rows[i], samples[i] = row, smp
        return row

    drain(it, total, "survey", progress, keep)
    return build_report(rows, samples, label_names, dataset_anomalies)


def drain(items, total: int, what: str, progress, keep) -> None:
    """Consume ``items`` (tuples ``(index, ...)`` as tasks finish), calling ``keep(item)``,
    which returns the row shown in the progress: a rich bar on standard error when
    ``progress`` is True, ``progress(done, total, row)`` when it is a callable.

    The one collect loop of ``survey``, ``evaluate`` and ``report``.
    """
    if progress is True:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task("", total=total)
            for item in items:
                row = keep(item)
                bar.update(task, advance=1, description=str((row or {}).get("id")))
        return
    for done, item in enumerate(items, 1):
        row = keep(item)
        if callable(progress):
            progress(done, total, row)
