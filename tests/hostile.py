"""A seeded generator of hostile MSD-style dataset folders (and predictions).

:func:`make_hostile` writes ``root/Task03_Liver`` (dataset.json, imagesTr/, labelsTr/)
and ``root/preds`` and returns what it did: which cases are healthy (and their ground
truth and prediction arrays, for a plain numpy Dice), which are broken and how.  Each
seed draws its own shapes, label sets and a random subset of the hostile features, always
with at least one healthy case and at least one broken one:

* label values that differ between cases (the first case has only the liver; a stray 3
  that dataset.json does not declare);
* names with spaces, with bytes that are not UTF-8, and of 240 characters;
* missing, truncated and zero-byte files (image, labels or prediction);
* a symlinked image, and a symlink loop where an image should be;
* a dataset.json that lies: ``numTraining`` too large, a case listed twice, a NIfTI file
  in imagesTr/ it does not list;
* a CT given as labels (thousands of values, negative ones).
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

AFFINE = np.diag([-1.5, -1.5, 3.0, 1.0])


#: what each command cannot measure: a case of one of these kinds is a failure of that command
BROKEN_FOR = {
    "survey": {"zero_label", "missing_image", "truncated_image", "loop_image"},
    "evaluate": {"zero_label", "missing_pred", "truncated_pred"},
}
BROKEN_FOR["report"] = BROKEN_FOR["survey"] | BROKEN_FOR["evaluate"]
HEALTHY_KINDS = ("plain", "spaces", "bytes", "long", "symlink", "stray3")
HOSTILE_KINDS = ("missing_image", "truncated_image", "loop_image", "missing_pred", "truncated_pred", "ct_as_labels")


@dataclass
class Hostile:
    root: Path  # the dataset folder
    preds: Path
    kinds: dict[str, str] = field(default_factory=dict)  # case id -> kind
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # id -> (gt, pred)
    dataset_lies: list[str] = field(default_factory=list)  # anomaly kinds dataset.json must produce

    def failing(self, command: str) -> set[str]:
        """Case ids that ``command`` must list as failed."""
        return {c for c, k in self.kinds.items() if k in BROKEN_FOR[command]}

    def measured(self, command: str) -> set[str]:
        """Case ids that ``command`` must measure (the CT-as-labels case may go either way)."""
        return {c for c, k in self.kinds.items() if k not in BROKEN_FOR[command] and k != "ct_as_labels"}


def _name(rng, i: int, kind: str) -> str:
    if kind == "spaces":
        return f"liver case {i} (copy)"
    if kind == "bytes":
        return os.fsdecode(b"liver_\xff\xfe_" + str(i).encode())
    if kind == "long":
        stem = f"liver_{i}_"
        return stem + "x" * (240 - len(stem) - len(".nii.gz"))
    return f"liver_{i}"


def _case_arrays(rng, shape, labels: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ct = rng.normal(40, 15, shape).astype(np.int16)
    gt = np.zeros(shape, np.uint8)
    x0 = int(rng.integers(2, 5))
    gt[x0 : shape[0] - 3, 3 : shape[1] - 3, 2 : shape[2] - 2] = 1
    if 2 in labels:
        c = [int(rng.integers(6, s - 6)) for s in shape[:2]]
        gt[c[0] - 2 : c[0] + 2, c[1] - 2 : c[1] + 2, 3:6] = 2
    if 3 in labels:  # a stray voxel of an undeclared class
        gt[1, 1, 1] = 3
    pred = np.roll(gt, int(rng.integers(0, 2)), axis=0)
    if rng.random() < 0.5:
        pred[pred == 2] = 1  # the tumour missed
    return ct, gt, pred


def _save(arr, path: Path) -> None:
    nib.save(nib.Nifti1Image(arr, AFFINE), str(path))


def make_hostile(base: Path, seed: int) -> Hostile:
    rng = np.random.default_rng(seed)
    root = Path(base) / "Task03_Liver"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    store = Path(base) / "store"  # where a symlinked image really lives
    store.mkdir()
    preds = Path(base) / "preds"
    preds.mkdir()
    h = Hostile(root, preds)
    shape = (int(rng.integers(20, 28)), int(rng.integers(18, 26)), int(rng.integers(8, 12)))
    hostile = list(HOSTILE_KINDS)
    rng.shuffle(hostile)
    chosen = ["liver_only", *rng.choice(HEALTHY_KINDS, size=3, replace=False).tolist(), "zero_label"]
    chosen += hostile[: int(rng.integers(3, 6))]
    training = []
    for i, kind in enumerate(chosen):
        cid = _name(rng, i, kind if kind in ("spaces", "bytes", "long") else "plain")
        img_p, lab_p, pred_p = (
            root / "imagesTr" / f"{cid}.nii.gz",
            root / "labelsTr" / f"{cid}.nii.gz",
            preds / f"{cid}.nii.gz",
        )
        labels = (1,) if kind == "liver_only" else (1, 2, 3) if kind == "stray3" else (1, 2)
        ct, gt, pred = _case_arrays(rng, shape, labels)
        training.append({"image": f"./imagesTr/{cid}.nii.gz", "label": f"./labelsTr/{cid}.nii.gz"})
        if kind == "symlink":
            _save(ct, store / f"{cid}.nii.gz")
            img_p.symlink_to(store / f"{cid}.nii.gz")
        elif kind == "missing_image":
            pass
        elif kind == "loop_image":
            img_p.symlink_to(img_p)
        elif kind == "truncated_image":
            _save(ct, img_p)
            data = img_p.read_bytes()
            img_p.write_bytes(data[: len(data) // 2])
        else:
            _save(ct, img_p)
        if kind == "zero_label":
            lab_p.write_bytes(b"")
        elif kind == "ct_as_labels":
            _save((rng.normal(0, 400, shape)).astype(np.int16), lab_p)
        else:
            _save(gt, lab_p)
        if kind == "missing_pred":
            pass
        elif kind == "truncated_pred":
            raw = gzip.compress(nib.Nifti1Image(pred, AFFINE).to_bytes())
            pred_p.write_bytes(raw[: len(raw) // 3])
        else:
            _save(pred, pred_p)
        h.kinds[cid] = kind
        h.arrays[cid] = (gt, pred)
    # the json lies: numTraining too large, a case listed twice, a file it does not list
    if rng.random() < 0.7:
        training.append(dict(training[0]))
        h.dataset_lies.append("duplicate_case")
    _save(np.zeros(shape, np.int16), root / "imagesTr" / "forgotten_99.nii.gz")
    h.dataset_lies += ["count_mismatch", "unlisted_file"]
    spec = {
        "name": "Task03_Liver",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "liver", "2": "cancer"},
        "numTraining": len(training) + 100,
        "training": training,
        "test": [],
    }
    # ASCII JSON, as json.dump writes os.listdir names: a non-UTF-8 byte is a \\udcNN escape
    (root / "dataset.json").write_text(json.dumps(spec, indent=1))
    return h


def numpy_dice(gt: np.ndarray, pred: np.ndarray, label: int) -> float:
    g, p = gt == label, pred == label
    denom = int(g.sum()) + int(p.sum())
    return float("nan") if denom == 0 else 2.0 * int((g & p).sum()) / denom
