"""Lesion-level comparison: connected components, matching, detection and panoptic quality.

Lesions are the connected components (cc3d, 6 or 26 connectivity) of the union of the
chosen lesion classes, numbered 1..n by decreasing size as in the statistics
(:func:`napari_liverct.stats.lesion_label_map`), separately in the ground truth
(``G1, G2, ...``) and in the prediction (``P1, P2, ...``).

Matching rules (``match``):

* ``"overlap"`` (LiTS): a ground-truth lesion is detected (TP) when at least one
  predicted lesion overlaps it by one voxel or more, else missed (FN); a predicted
  lesion that overlaps no ground-truth lesion is invented (FP).  Detection precision =
  overlapping predicted lesions / predicted lesions, recall = detected / true lesions,
  F1 = their harmonic mean.  The Dice of a detected lesion is computed against the
  union of every predicted lesion that overlaps it.
* ``"iou50"`` (panoptica's default ``NaiveThresholdMatching``): pairs with IoU >= 0.5
  are matched one-to-one, highest IoU first; TP = matched pairs, FN/FP = unmatched
  true/predicted lesions; precision = TP/n_pred, recall = TP/n_gt, F1 = 2TP/(2TP+FP+FN).
  The Dice of a lesion is against its matched partner.

Whatever the rule, **merges** count predicted lesions that overlap two or more true
lesions and **splits** true lesions overlapped by two or more predicted ones, and the
**panoptic quality** is panoptica's: one-to-one IoU >= 0.5 matching, RQ = TP / (TP +
FP/2 + FN/2), SQ = mean IoU of the matched pairs, PQ = SQ x RQ (no lesion on either
side: all NaN; lesions but no match: SQ = PQ = 0).  With no lesion in either map,
precision, recall and F1 are NaN; with true lesions but no prediction, recall = F1 = 0
and precision is NaN (and the reverse).
"""

from __future__ import annotations

import math

import numpy as np

from ..constants import CONNECTIVITIES, MATCH_RULES
from .results import LesionRow, LesionSummary
from .surface import mask_box

__all__ = ["compare_lesions", "MATCH_RULES"]


def _div(a: float, b: float) -> float:
    return a / b if b else math.nan


def _f1(precision: float, recall: float, ng: int, npr: int) -> float:
    """Harmonic mean; 0 when exactly one side has lesions, NaN when neither has."""
    if ng == 0 and npr == 0:
        return math.nan
    if ng == 0 or npr == 0:
        return 0.0
    return _div(2 * precision * recall, precision + recall) if precision + recall else 0.0


def _components(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    from ..stats import lesion_label_map

    return lesion_label_map(mask.view(np.uint8), label=1, connectivity=connectivity)


def _props(cc: np.ndarray, n: int, affine: np.ndarray, offset) -> tuple[list, np.ndarray]:
    """Per component: (bounding-box slices, centroid RAS mm)."""
    import cc3d

    if n == 0:
        return [], np.zeros((0, 3))
    st = cc3d.statistics(cc)
    boxes = list(st["bounding_boxes"][1 : n + 1])
    cents = np.asarray(st["centroids"][1 : n + 1], float) + np.asarray(offset, float)
    a = np.asarray(affine, float)
    ras = cents @ a[:3, :3].T + a[:3, 3]
    return boxes, ras


def _diameter(cc: np.ndarray, box, lesion_id: int, affine) -> float:
    from ..stats import max_diameter_mm

    return float(max_diameter_mm(cc[box] == lesion_id, affine))


def _greedy_iou50(iou: np.ndarray) -> list[tuple[int, int]]:
    """panoptica's NaiveThresholdMatching: pairs by decreasing IoU, one-to-one, IoU >= 0.5."""
    gi, pi = np.nonzero(iou >= 0.5)
    order = np.argsort(-iou[gi, pi], kind="stable")
    used_g, used_p, pairs = set(), set(), []
    for k in order:
        g, p = int(gi[k]), int(pi[k])
        if g in used_g or p in used_p:
            continue
        used_g.add(g)
        used_p.add(p)
        pairs.append((g, p))
    return pairs


def compare_lesions(
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    affine: np.ndarray,
    *,
    labels: tuple[int, ...] = (),
    connectivity: int = 26,
    match: str = "overlap",
    offset=(0, 0, 0),
) -> LesionSummary:
    """Match the lesions of two boolean lesion masks (see the module docstring).

    Parameters
    ----------
    gt_mask, pred_mask
        Boolean arrays (stored order) of the lesion classes in each map.
    affine
        Voxel-to-RAS affine (volumes in mL, diameters in mm, centroids in RAS mm).
    labels
        The ground-truth lesion class values (reported only).
    connectivity
        6 or 26.
    match
        ``"overlap"`` or ``"iou50"``.
    offset
        Voxel index of ``gt_mask[0, 0, 0]`` in the file's array, when the masks are a crop.
    """
    from ..stats import voxel_volume_ml

    if match not in MATCH_RULES:
        raise ValueError(f"match must be one of {MATCH_RULES}, not {match!r}")
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"connectivity must be 6 or 26, not {connectivity}")
    vml = voxel_volume_ml(affine)
    box = mask_box(np.asarray(gt_mask, bool) | np.asarray(pred_mask, bool))
    if box is None:
        return LesionSummary(
            tuple(labels),
            connectivity,
            match,
            0,
            0,
            0,
            0,
            0,
            0,
            math.nan,
            math.nan,
            math.nan,
            0,
            0,
            math.nan,
            math.nan,
            math.nan,
            0,
            0,
            0,
            [],
        )
    offset = [s.start + int(o) for s, o in zip(box, offset)]
    gcc, ng = _components(np.ascontiguousarray(gt_mask[box], bool), connectivity)
    pcc, npr = _components(np.ascontiguousarray(pred_mask[box], bool), connectivity)
    gsize = np.bincount(gcc.ravel(), minlength=ng + 1)[1:].astype(np.int64)
    psize = np.bincount(pcc.ravel(), minlength=npr + 1)[1:].astype(np.int64)
    both = (gcc > 0) & (pcc > 0)
    pair = gcc[both].astype(np.int64) * (npr + 1) + pcc[both]
    inter = np.bincount(pair, minlength=(ng + 1) * (npr + 1)).reshape(ng + 1, npr + 1)[1:, 1:]
    union = gsize[:, None] + psize[None, :] - inter
    iou = np.where(inter > 0, inter / np.maximum(union, 1), 0.0)
    overl = inter > 0
    merges = int(np.count_nonzero(overl.sum(axis=0) >= 2))
    splits = int(np.count_nonzero(overl.sum(axis=1) >= 2))
    pairs50 = _greedy_iou50(iou)
    tp50 = len(pairs50)
    fp50, fn50 = npr - tp50, ng - tp50
    if ng == 0 and npr == 0:
        rq = sq = pq = math.nan
    else:
        rq = tp50 / (tp50 + 0.5 * fp50 + 0.5 * fn50)
        sq = float(np.mean([iou[g, p] for g, p in pairs50])) if pairs50 else 0.0
        pq = sq * rq

    gprops = _props(gcc, ng, affine, offset)
    pprops = _props(pcc, npr, affine, offset)
    rows: list[LesionRow] = []
    if match == "overlap":
        det_g = overl.any(axis=1)
        det_p = overl.any(axis=0)
        tp, tp_pred = int(det_g.sum()), int(det_p.sum())
        fn, fp = ng - tp, npr - tp_pred
        precision, recall = _div(tp_pred, npr), _div(tp, ng)
        partners = {g: tuple(int(p) + 1 for p in np.flatnonzero(overl[g])) for g in range(ng)}
        for g in range(ng):
            ps = [p - 1 for p in partners[g]]
            pv = int(psize[ps].sum()) if ps else 0
            i = int(inter[g, ps].sum()) if ps else 0
            u = int(gsize[g]) + pv - i
            rows.append(
                _row(
                    g,
                    "TP" if ps else "FN",
                    partners[g],
                    gsize[g],
                    pv,
                    i,
                    u,
                    vml,
                    gprops,
                    gcc,
                    affine,
                    merged=any(overl[:, p].sum() >= 2 for p in ps),
                    split=len(ps) >= 2,
                )
            )
        fp_ids = [p for p in range(npr) if not det_p[p]]
    else:
        mg = dict(pairs50)
        mp = {p: g for g, p in pairs50}
        tp, tp_pred, fn, fp = tp50, tp50, fn50, fp50
        precision, recall = _div(tp, npr), _div(tp, ng)
        for g in range(ng):
            p = mg.get(g)
            pv = int(psize[p]) if p is not None else 0
            i = int(inter[g, p]) if p is not None else 0
            rows.append(
                _row(
                    g,
                    "TP" if p is not None else "FN",
                    (p + 1,) if p is not None else (),
                    gsize[g],
                    pv,
                    i,
                    int(gsize[g]) + pv - i,
                    vml,
                    gprops,
                    gcc,
                    affine,
                    merged=p is not None and overl[:, p].sum() >= 2,
                    split=overl[g].sum() >= 2,
                )
            )
        fp_ids = [p for p in range(npr) if p not in mp]
    for p in fp_ids:
        overlapping = tuple(int(g) + 1 for g in np.flatnonzero(overl[:, p]))
        box_p, ras = pprops[0][p], pprops[1][p]
        rows.append(
            LesionRow(
                id=f"P{p + 1}",
                status="FP",
                gt_id=None,
                pred_id=p + 1,
                matched=overlapping,
                gt_ml=0.0,
                pred_ml=float(psize[p] * vml),
                dice=0.0,
                iou=0.0,
                diameter_mm=_diameter(pcc, box_p, p + 1, affine),
                centroid_ras=tuple(float(v) for v in ras),
                merged=bool(overl[:, p].sum() >= 2),
                split=False,
            )
        )
    f1 = _f1(precision, recall, ng, npr)
    return LesionSummary(
        labels=tuple(int(v) for v in labels),
        connectivity=connectivity,
        match=match,
        n_gt=ng,
        n_pred=npr,
        tp=tp,
        fn=fn,
        fp=fp,
        tp_pred=tp_pred,
        precision=precision,
        recall=recall,
        f1=f1,
        merges=merges,
        splits=splits,
        pq=pq,
        sq=sq,
        rq=rq,
        tp_iou50=tp50,
        fp_iou50=fp50,
        fn_iou50=fn50,
        lesions=rows,
    )


def _row(g, status, partners, gvox, pvox, inter, union, vml, gprops, gcc, affine, merged, split) -> LesionRow:
    box, ras = gprops[0][g], gprops[1][g]
    gvox = int(gvox)
    return LesionRow(
        id=f"G{g + 1}",
        status=status,
        gt_id=g + 1,
        pred_id=partners[0] if len(partners) == 1 else None,
        matched=tuple(partners),
        gt_ml=float(gvox * vml),
        pred_ml=float(pvox * vml),
        dice=float(2 * inter / (gvox + pvox)) if gvox + pvox else math.nan,
        iou=float(inter / union) if union else math.nan,
        diameter_mm=_diameter(gcc, box, g + 1, affine),
        centroid_ras=tuple(float(v) for v in ras),
        merged=bool(merged),
        split=bool(split),
    )
