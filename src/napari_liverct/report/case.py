"""One case of the QC report: the survey row, the evaluation, the label table and the pictures.

:func:`report_case` is a plain, picklable function of file paths that never raises, so
it runs as a Dask task exactly like :func:`napari_liverct.survey.survey_case` (which it
calls, together with :func:`napari_liverct.compare.evaluate.evaluate_case`, so the report's
numbers are the survey's and the evaluation's).  Pictures come back as PNG bytes, so
workers on another machine need not see the output folder.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..stats.results import StatsResult

__all__ = ["report_case", "draft_anomalies", "focus_point", "MAX_LESION_PICTURES"]

#: Extra axial pictures through missed / false lesions, per case.
MAX_LESION_PICTURES = 6
VIEW_NAMES = ("axial", "coronal", "sagittal")


def focus_point(stats: StatsResult | None, affine: np.ndarray, shape) -> tuple[list[float], str]:
    """RAS mm point the three planes go through, and why.

    The centroid of the largest lesion; else of the organ classes (named liver, or the
    user's); else of all labels; else the volume centre.
    """
    lesions = stats.lesions if stats is not None else ()
    if lesions:
        les = lesions[0]
        return list(les.centroid_mm), (
            f"largest lesion (1 of {len(lesions)}): {les.volume_ml:.1f} mL, max diameter {les.max_diameter_mm:.0f} mm"
        )
    rows = [r for r in (stats.labels if stats is not None else ()) if r.voxels]
    organ = [r for r in rows if r.label in set(stats.organ_labels)]
    for chosen, why in ((organ, "organ centroid (no lesion)"), (rows, "labels centroid (no lesion, no organ)")):
        if chosen:
            w = np.array([r.voxels for r in chosen], float)
            c = np.array([r.centroid_mm for r in chosen], float)
            return (w[:, None] * c).sum(0) / w.sum(), why
    centre = (np.asarray(shape[:3], float) - 1) / 2
    return (np.asarray(affine, float) @ np.append(centre, 1.0))[:3].tolist(), "volume centre (no labels)"


def report_case(
    image: str,
    label: str | None,
    case_id: str,
    split: str,
    pred: str | None,
    options: dict | None,
    n_samples: int,
    seed: int,
    max_px: int = 288,
    evaluate: bool = False,
) -> dict:
    """Everything the report shows of one case; never raises.

    Returns a dict: ``row`` and ``samples`` (from :func:`~napari_liverct.survey.survey_case`),
    ``evaluation`` (the row of :func:`~napari_liverct.compare.evaluate.evaluate_case`, when
    ``evaluate`` and the case has ground truth), ``stats`` (label and lesion tables,
    :func:`napari_liverct.stats.stats_on_grid`, as JSON), ``focus`` / ``focus_why``, ``pictures``
    (``[{"file", "view", "caption", "kind"}]``) with ``png`` (file name -> bytes) and
    ``notes`` (why a picture or table is missing) and ``anomalies`` (the plausibility warnings
    an offline draft's sidecar records, for the labels or the prediction, as ``draft_<code>``).
    """
    from ..survey import survey_case

    t0, c0 = time.perf_counter(), time.process_time()
    # each file is read once; a file that cannot be read is read again by the step that
    # reports it, so the survey and the evaluation give their usual reasons
    vols = _read_once({"image": image, "label": label, "pred": pred if evaluate and label else None})
    row, samples = survey_case(image, label, case_id, split, n_samples, seed, volumes=vols)
    out = {
        "row": row,
        "samples": samples,
        "evaluation": None,
        "stats": None,
        "focus": None,
        "focus_why": None,
        "pictures": [],
        "png": {},
        "notes": [],
        "anomalies": draft_anomalies(case_id, {"labels": label, "prediction": pred}),
    }
    if evaluate and label:
        from ..compare.evaluate import evaluate_case

        pair = (vols["label"], vols["pred"]) if vols["label"] is not None and vols["pred"] is not None else None
        out["evaluation"] = evaluate_case(case_id, str(label), pred, dict(options or {}), pair)
    if not row.error:
        try:
            _pictures(out, vols["image"], label, vols.get("label"), vols.get("pred"), max_px)
        except Exception as exc:  # noqa: BLE001 - the row still shows; the reason goes in the page
            out["notes"].append(f"pictures: {exc}")
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.process_time() - c0  # this worker process's CPU (the benchmark's load-free figure)
    return out


def draft_anomalies(case_id: str, files: dict) -> list:
    """``draft_<code>`` anomalies from the sidecars of offline drafts among ``files``
    (``{"labels": path, "prediction": path}``): what :func:`napari_liverct.segment.files.draft_check_of`
    reads, the flags the segment command wrote."""
    from ..results.anomaly import Anomaly
    from ..segment.files import draft_check_of

    out = []
    for what, path in files.items():
        check = draft_check_of(path) if path else None
        for f in check.findings if check is not None else ():
            out.append(Anomaly(case_id, f"draft_{f.code}", f"{what} (offline draft): {f.message}"))
    return out


def _read_once(paths: dict) -> dict:
    """``{key: Volume}`` of the paths that could be read (None for the others)."""
    from ..volumes.dispatch import read_volume

    vols = {}
    for key, path in paths.items():
        try:
            vols[key] = read_volume(path) if path else None
        except Exception:  # noqa: BLE001 - the step that needs it reports the reason
            vols[key] = None
    return vols


def _read_on_grid(path, vol, img, what: str, notes: list, resample: bool = False):
    """Labels volume (read from ``path``) viewed on the image grid (flips/permutations free;
    resampled only if asked)."""
    from ..geometry.grids import GridMismatchError, conform_to_grid
    from ..labels.tables import integral_labels

    if vol is None:
        raise ValueError(f"{path}: cannot be read")
    lab = integral_labels(np.asarray(vol.data), str(path))
    if lab.ndim != 3:
        notes.append(f"{what}: {path} is not a 3D label volume ({lab.shape})")
        return None, vol
    try:
        on, how = conform_to_grid(
            lab, vol.affine, img.data.shape[:3], img.affine, resample=resample, names=(str(path), str(img.path))
        )
    except GridMismatchError as exc:
        notes.append(f"{what} not drawn: {exc}")
        return None, vol
    if how:
        notes.append(f"{what}: {how}")
    return on, vol


def _pictures(out: dict, img, label, lvol_read, pvol_read, max_px: int) -> None:
    from ..labels.tables import label_names_for
    from ..stats import stats_on_grid
    from .thumbnails import FALSE_COLOR, MISSED_COLOR, display_volume, png_bytes, render_plane, world_index

    notes = out["notes"]
    ct = display_volume(img.data, img.affine, kind="image", name=out["row"].id, header=img.header, source_path=img.path)
    lab, labels_dv, lvol = None, None, None
    if label:
        try:
            lab, lvol = _read_on_grid(label, lvol_read, img, "labels", notes)
        except Exception as exc:  # noqa: BLE001 - unreadable labels are in the survey row already
            notes.append(f"labels not drawn: {exc}")
    vol3 = np.asarray(img.data)
    if vol3.ndim > 3:  # time/channels: the first volume, as the viewer's slider starts there
        vol3 = vol3[(slice(None),) * 3 + (0,) * (vol3.ndim - 3)]
        notes.append(
            f"{vol3.ndim + (img.data.ndim - 3)}D image {tuple(img.data.shape)}: the first volume is shown and measured"
        )
    if lab is not None:
        names = label_names_for(label, lvol.header, lab)
        stats = stats_on_grid(vol3, lab, img.affine, names=names)
        labels_dv = display_volume(
            lab, img.affine, kind="labels", name=f"{out['row'].id} labels", header=lvol.header, source_path=label
        )
        out["colors"] = {int(k): [float(x) for x in v] for k, v in labels_dv.colors.items() if k}
        out["names"] = {int(k): str(v) for k, v in labels_dv.names.items()}
    else:
        stats = stats_on_grid(vol3, None, img.affine)
    out["stats"] = stats.to_json()
    focus, why = focus_point(stats, img.affine, img.data.shape)
    out["focus"], out["focus_why"] = [float(v) for v in focus], why
    centre = np.clip(np.round(world_index(ct, focus)).astype(int), 0, np.array(ct.data.shape) - 1)
    window = f"{ct.window} window" if ct.window else "data range"
    lo, hi = ct.contrast_limits

    def add(name, im, view, caption, kind):
        fname = f"{name}.png"
        out["png"][fname] = png_bytes(im)
        out["pictures"].append(
            {"file": fname, "view": view, "caption": caption, "kind": kind, "width": im.width, "height": im.height}
        )

    for ax, view in enumerate(VIEW_NAMES):
        im = render_plane(ct, view, int(centre[ax]), labels=labels_dv, max_px=max_px)
        add(view, im, view, f"{view} {'SPL'[ax]} index {int(centre[ax])}, {window} {lo:g}..{hi:g}", "labels")
    ev = out.get("evaluation")
    res = ev.get("result") if ev else None
    if res is None or lab is None:
        return
    opts_resample = bool(res.resampled)
    try:
        pred, _ = _read_on_grid(ev["pred"], pvol_read, img, "prediction", notes, resample=opts_resample)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"prediction not drawn: {exc}")
        return
    if pred is None:
        return
    gt_dv = display_volume(lab, img.affine, kind="labels", name="gt", label_names={0: "background"})
    pred_dv = display_volume(pred, img.affine, kind="labels", name="pred", label_names={0: "background"})
    rings = []
    lesion_rows = [r for r in (res.lesions.lesions if res.lesions else []) if r.status in ("FN", "FP")]
    for r in lesion_rows:
        rings.append(
            (
                world_index(ct, r.centroid_ras),
                max(float(r.diameter_mm) / 2, 2.0),
                MISSED_COLOR if r.status == "FN" else FALSE_COLOR,
            )
        )
    for ax, view in enumerate(VIEW_NAMES):
        im = render_plane(ct, view, int(centre[ax]), gt=gt_dv, pred=pred_dv, rings=rings, max_px=max_px)
        add(f"{view}_compare", im, view, f"{view}: ground truth and prediction", "compare")
    for r in lesion_rows[:MAX_LESION_PICTURES]:
        idx = world_index(ct, r.centroid_ras)
        s = int(np.clip(round(float(idx[0])), 0, ct.data.shape[0] - 1))
        what = "missed" if r.status == "FN" else "false"
        ml = r.gt_ml if r.status == "FN" else r.pred_ml
        im = render_plane(ct, "axial", s, gt=gt_dv, pred=pred_dv, rings=rings, max_px=max_px)
        add(
            f"lesion_{r.id}",
            im,
            "axial",
            f"{what} lesion {r.id}: {ml:.2f} mL, {r.diameter_mm:.0f} mm, axial S index {s}",
            r.status,
        )
    if len(lesion_rows) > MAX_LESION_PICTURES:
        notes.append(
            f"{len(lesion_rows) - MAX_LESION_PICTURES} more missed/false lesions are ringed but "
            "have no picture of their own"
        )
