"""nnU-Net's own ``compute_metrics_on_folder`` (nnunetv2 2.8.1) as the oracle of ``evaluate``.

The folder is built from TotalSegmentator's real segmentation of its example CT
(``example_seg_fast_force_split.nii.gz``, 62 classes): each ground truth keeps a
different subset of its organs relabelled 1..4 (so the first case lacks classes that
later ones have), each prediction is a perturbed copy (shifted, organs dropped,
eroded, a stray class added).  nnU-Net evaluates every class in every case; every
per-case value and every mean of ``evaluate`` must equal its ``summary.json``.

nnunetv2 pulls torch, so it lives in its own virtual environment under
``~/.cache/napari-liverct/venvs/nnunetv2-<hash>`` (tests/oracle_venv.py; CPU torch 2.13.0 first, then nnunetv2 with
torchvision <= 0.28.0, otherwise pip swaps torch for a CUDA build), built on first use
and reused; skipped with the reason when it cannot be built (fails under CI).
"""

from __future__ import annotations

import json
import math
import subprocess
import textwrap
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from napari_liverct.compare.evaluate import evaluate
from oracle_venv import oracle_python
from realdata import EXAMPLE_SEG_FAST, real

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the first run builds the venv (~1-3 min)


# TotalSegmentator v2 'total' ids: 1 spleen, 2/3 kidneys, 5 liver, 6 stomach
GT_SUBSETS = [
    {5: 1},  # the first case: liver only
    {5: 1, 1: 2},
    {5: 1, 1: 2, 2: 3, 3: 3},
    {5: 1, 6: 4},
    {1: 2, 6: 4},  # no liver
]

ORACLE = textwrap.dedent("""
    import json, sys
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    if __name__ == "__main__":  # its pool spawns processes
        ref, pred, out, labels = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
        compute_metrics_on_folder(ref, pred, out, SimpleITKIO(), ".nii.gz", labels, None, 1)
""")


def nnunet_python() -> Path:
    """The oracle venv's python (tests/oracle_venv.py: built once per machine, reused by every clone)."""
    return oracle_python(
        "nnunetv2",
        [["torch==2.13.0"], ["nnunetv2==2.8.1", "torchvision<=0.28.0"]],
        "import nnunetv2.evaluation.evaluate_predictions",
        timeout=900,
    )


def _perturb(gt: np.ndarray, i: int, rng: np.random.Generator) -> np.ndarray:
    pred = np.roll(gt, shift=int(rng.integers(-2, 3)), axis=int(rng.integers(0, 3)))
    if i == 1:
        pred[pred == 2] = 0  # the spleen is missed entirely
    if i == 2:
        pred = np.where(ndimage.binary_erosion(pred > 0, iterations=1), pred, 0).astype(gt.dtype)
    if i == 3:
        pred[60:64, 40:44, 50:54] = 5  # a stray class that no ground truth has
    return pred


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    seg_img = nib.load(real(EXAMPLE_SEG_FAST))
    seg = np.asarray(seg_img.dataobj)
    tmp = tmp_path_factory.mktemp("nnunet")
    gt_dir, pred_dir = tmp / "gt", tmp / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    rng = np.random.default_rng(16)
    for i, subset in enumerate(GT_SUBSETS):
        gt = np.zeros(seg.shape, np.uint8)  # relabelled: saved without the original label table
        for src, dst in subset.items():
            gt[seg == src] = dst
        name = f"case_{i:02d}.nii.gz"
        nib.save(nib.Nifti1Image(gt, seg_img.affine), gt_dir / name)
        nib.save(nib.Nifti1Image(_perturb(gt, i, rng), seg_img.affine), pred_dir / name)
    return gt_dir, pred_dir, tmp


def test_evaluate_equals_nnunet_compute_metrics_on_folder(folder):
    gt_dir, pred_dir, tmp = folder
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Mean of empty slice" or any other warning
        ours = evaluate(gt_dir, pred_dir, scheduler="synchronous", progress=False)
    assert ours["summary"]["n_failed"] == 0
    labels = sorted(int(k) for k in ours["mean"])
    assert labels == [1, 2, 3, 4, 5]  # the union: case_00 has only 1, class 5 is only predicted
    py = nnunet_python()
    out = tmp / "summary.json"
    script = tmp / "oracle.py"
    script.write_text(ORACLE)
    run = subprocess.run(
        [str(py), str(script), str(gt_dir), str(pred_dir), str(out), json.dumps(labels)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    theirs = json.loads(out.read_text())

    def same(a, b):
        return (a is None or (isinstance(a, float) and math.isnan(a))) and math.isnan(b) or a == pytest.approx(b)

    by_file = {Path(c["reference_file"]).name: c for c in ours["metric_per_case"]}
    assert len(theirs["metric_per_case"]) == len(by_file) == len(GT_SUBSETS)
    n_values = 0
    for case in theirs["metric_per_case"]:
        mine = by_file[Path(case["reference_file"]).name]
        assert set(mine["metrics"]) == set(case["metrics"])  # every class in every case
        for lab, metrics in case["metrics"].items():
            for key, value in metrics.items():
                assert same(mine["metrics"][lab][key], value), (case["reference_file"], lab, key)
                n_values += 1
    assert n_values == len(GT_SUBSETS) * len(labels) * 8
    for lab, metrics in theirs["mean"].items():
        for key, value in metrics.items():
            assert same(ours["mean"][lab][key], value), (lab, key)
    for key, value in theirs["foreground_mean"].items():
        assert same(ours["foreground_mean"][key], value), key
    # and the classes that some case lacks really were evaluated there (TP = FP = FN = 0, Dice NaN)
    c0 = theirs["metric_per_case"][0]["metrics"]["2"]
    assert (c0["TP"], c0["FP"], c0["FN"]) == (0, 0, 0) and math.isnan(c0["Dice"])
    assert ours["summary"]["classes"]["2"]["n_cases"] == len(GT_SUBSETS)
    assert ours["summary"]["classes"]["2"]["n_present"] == 3
