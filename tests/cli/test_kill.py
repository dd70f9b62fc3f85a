"""Outputs are units: `crop`, `evaluate --out` and `report` killed with SIGKILL at seeded moments.

Each command first runs cleanly twice with two different settings (variants "a" and "b",
the reference outputs).  The target then holds one variant's complete output, and a
run writing the other variant is killed at a seeded random moment, several times.
After every kill the target must be the complete old or the complete new output (for
`crop`: image and labels of one run, or a pair the reader refuses as mixed), never a
truncated file or a mix.  A last clean run must leave no temporary behind, and the
inputs must be unchanged (sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from clirun import CLI_ENV
from napari_liverct.volumes.phantom import make_phantom
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

ENV = CLI_ENV
TEMP_MARKS = (".liverct-tmp-", ".liverct-old-", ".liverct-group")


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "napari_liverct.cli", *map(str, args)]


def _run(cmd) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return time.perf_counter() - t0


def _kill_at(cmd, delay: float) -> tuple[bool, float]:
    """Run ``cmd``, SIGKILL its process group after ``delay`` s; (killed, seconds it ran)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
        return False, time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True, time.perf_counter() - t0


def _sha(paths) -> dict:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def _leftovers(*folders) -> list[str]:
    return [str(p) for f in folders for p in Path(f).rglob("*") if any(m in p.name for m in TEMP_MARKS)]


def _strip(obj):
    """JSON without wall-clock fields (they differ between any two runs)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not k.endswith("seconds") and k != "generated"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _kill_loop(n_kills, seed, t_full, write_variant, observe, reference):
    """Kill ``n_kills`` runs; after each, the target is the complete old or new variant."""
    rng = np.random.default_rng(seed)
    state, kills, seen = "a", 0, []
    for _ in range(3 * n_kills):  # a run that finishes before its moment is not a kill: draw again
        if kills == n_kills:
            break
        other = "b" if state == "a" else "a"
        delay = float(rng.uniform(0.35, 1.2) * t_full)  # the first third is start-up; past 1: load varies
        killed, ran = _kill_at(write_variant(other), delay)
        kills += killed
        if not killed:  # the machine got faster than the first clean run: draw from what this run took
            t_full = min(t_full, ran)
        got = observe()
        assert got in (state, other, "refused"), f"after a kill at {delay:.2f} s the target is {got!r}"
        seen.append(got)
        if got == "refused":  # a mixed crop pair, refused by the reader: a clean run repairs it
            _run(write_variant(state))
            assert observe() == state
        else:
            state = got
    assert kills == n_kills, f"only {kills} of {len(seen)} runs were killed"
    print(f"{kills} killed of {len(seen)} runs; the target after each: {seen}")
    return state, seen


# ------------------------------------------------------------------ crop (real CT and its segmentation)
def test_crop_killed_leaves_a_whole_pair(tmp_path):
    ct, seg = real(EXAMPLE_CT), real(EXAMPLE_SEG_FAST)
    inputs = _sha([ct, seg])
    variant = {"a": ["--threshold", "-200"], "b": ["--threshold", "100", "--margin", "4"]}
    target = tmp_path / "out"
    t = _run(_cli("crop", ct, "--labels", seg, "--out-dir", target, *variant["a"]))  # the old content
    _run(_cli("crop", ct, "--labels", seg, "--out-dir", tmp_path / "ref_b", *variant["b"]))
    refs = {"a": _pair_content(target), "b": _pair_content(tmp_path / "ref_b")}
    assert refs["a"] != refs["b"]

    def observe():
        from napari_liverct.volumes.nifti import NiftiReadError, read_nifti

        try:
            for f in target.iterdir():
                if not f.name.startswith("."):
                    read_nifti(f)
        except NiftiReadError as exc:
            assert "interrupted write" in str(exc)
            return "refused"
        got = _pair_content(target)
        return next((v for v in "ab" if got == refs[v]), got)

    state, seen = _kill_loop(
        6, 1, t, lambda v: _cli("crop", ct, "--labels", seg, "--out-dir", target, *variant[v]), observe, refs
    )
    _run(_cli("crop", ct, "--labels", seg, "--out-dir", target, *variant["b" if state == "a" else "a"]))
    assert _leftovers(target) == []
    assert _sha([ct, seg]) == inputs


def _pair_content(folder):
    out = {}
    for f in sorted(Path(folder).iterdir()):
        if f.name.startswith("."):
            continue
        img = nib.load(f)  # the oracle: nibabel, which knows nothing of our journals
        data = np.asanyarray(img.dataobj)
        out[f.name] = (data.shape, hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest())
    return out


# ------------------------------------------------------------------ evaluate --out and report (small phantoms)
def _dataset(root: Path, n=3):
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for pred in ("preds_a", "preds_b"):
        (root.parent / pred).mkdir(exist_ok=True)
    training = []
    for i in range(n):
        ph = make_phantom(shape=(64, 64, 20), spacing=(3.0, 3.0, 6.0), seed=i, noise=8.0)
        cid = f"liver_{i}"
        nib.save(nib.Nifti1Image(ph.image, ph.affine), root / "imagesTr" / f"{cid}.nii.gz")
        nib.save(nib.Nifti1Image(ph.labels, ph.affine), root / "labelsTr" / f"{cid}.nii.gz")
        for k, pred in enumerate(("preds_a", "preds_b")):
            nib.save(
                nib.Nifti1Image(np.roll(ph.labels, k + 1, axis=0), ph.affine), root.parent / pred / f"{cid}.nii.gz"
            )
        training.append({"image": f"./imagesTr/{cid}.nii.gz", "label": f"./labelsTr/{cid}.nii.gz"})
    (root / "dataset.json").write_text(
        json.dumps(
            {"name": "Task03_Liver", "labels": {"0": "background", "1": "liver", "2": "cancer"}, "training": training}
        )
    )
    return root


def _all_files(*folders):
    return [p for f in folders for p in Path(f).rglob("*") if p.is_file()]


def test_evaluate_out_killed_leaves_old_or_new_json(tmp_path):
    root = _dataset(tmp_path / "Task03_Liver")
    inputs = _sha(_all_files(root, tmp_path / "preds_a", tmp_path / "preds_b"))

    def cmd(v, out):
        return _cli("evaluate", root, tmp_path / f"preds_{v}", "--scheduler", "synchronous", "--out", out)

    target = tmp_path / "res" / "evaluation.json"
    t = _run(cmd("a", target))  # the old content
    _run(cmd("b", tmp_path / "ref_b.json"))
    refs = {v: _strip(json.loads(p.read_text())) for v, p in (("a", target), ("b", tmp_path / "ref_b.json"))}
    assert refs["a"] != refs["b"]

    def observe():
        got = _strip(json.loads(target.read_text()))  # a truncated file fails here
        return next((v for v in "ab" if got == refs[v]), "neither")

    _kill_loop(5, 2, t, lambda v: cmd(v, target), observe, refs)
    _run(cmd("a", target))
    assert _leftovers(target.parent) == [] and sorted(p.name for p in target.parent.iterdir()) == ["evaluation.json"]
    assert _sha(_all_files(root, tmp_path / "preds_a", tmp_path / "preds_b")) == inputs


def _site(folder: Path):
    """A report folder as comparable content: PNG bytes, JSON and page data without timings."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        rel = str(p.relative_to(folder))
        if p.suffix == ".png":
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.suffix == ".json":
            out[rel] = _strip(json.loads(p.read_text()))
        elif p.name == "index.html":
            text = p.read_text()
            assert text.rstrip().endswith("</html>"), "a truncated page"
            m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
            out[rel] = _strip(json.loads(m.group(1)))
        else:
            out[rel] = p.read_bytes()
    return out


@pytest.mark.slow
def test_report_killed_leaves_old_or_new_site(tmp_path):
    root = _dataset(tmp_path / "Task03_Liver")
    inputs = _sha(_all_files(root, tmp_path / "preds_a", tmp_path / "preds_b"))

    def cmd(v, out):
        return _cli(
            "report", root, "--predictions", tmp_path / f"preds_{v}", "--scheduler", "synchronous", "--out", out
        )

    target = tmp_path / "sites" / "report"
    t = _run(cmd("a", target))  # the old content
    _run(cmd("b", tmp_path / "ref_b"))
    refs = {"a": _site(target), "b": _site(tmp_path / "ref_b")}
    assert refs["a"] != refs["b"]

    def observe():
        got = _site(target)
        return next((v for v in "ab" if got == refs[v]), "neither")

    _kill_loop(4, 3, t, lambda v: cmd(v, target), observe, refs)
    _run(cmd("b", target))
    assert _site(target) == refs["b"]
    assert _leftovers(target.parent) == [] and [p.name for p in target.parent.iterdir()] == ["report"]
    assert _sha(_all_files(root, tmp_path / "preds_a", tmp_path / "preds_b")) == inputs


def test_report_refuses_a_folder_that_is_not_a_report(tmp_path):
    from napari_liverct import cli

    root = _dataset(tmp_path / "Task03_Liver", n=1)
    mine = tmp_path / "my_folder"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    assert cli.main(["report", str(root), "--scheduler", "synchronous", "--out", str(mine)]) == 2
    assert (mine / "thesis.tex").read_text() == "precious" and [p.name for p in mine.iterdir()] == ["thesis.tex"]
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------ a kill between the two renames of a pair
@pytest.mark.parametrize("when", ["before", "after"])
def test_pair_killed_around_its_first_rename(tmp_path, when):
    """Killed after the journals, just before the first rename: the old pair is whole and reads.
    Killed just after it: one new file beside one old file, which the reader refuses; the
    next crop run repairs it."""
    ct, seg = real(EXAMPLE_CT), real(EXAMPLE_SEG_FAST)
    out = tmp_path / "out"
    _run(_cli("crop", ct, "--labels", seg, "--out-dir", out, "--threshold", "-200"))
    old = _pair_content(out)
    code = (
        "import os, signal, sys\n"
        "real = os.replace\n"
        "def replace(a, b):\n"
        f"    if {when == 'before'} and str(b).endswith('.nii.gz'):\n"  # about to rename the first member
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    real(a, b)\n"
        "    if str(b).endswith('.nii.gz'):\n"  # the first member renamed
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.replace = replace\n"
        "from napari_liverct.cli import main\n"
        f"sys.exit(main(['crop', {str(ct)!r}, '--labels', {str(seg)!r}, '--out-dir', {str(out)!r}, '--threshold', '100']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    mixed = _pair_content(out)
    from napari_liverct.volumes.nifti import NiftiReadError, read_nifti

    if when == "before":
        assert mixed == old
        for f in old:
            read_nifti(out / f)
        return
    assert sum(mixed[k] != old[k] for k in old) == 1  # one file new, one old: the window exists
    for f in old:
        with pytest.raises(NiftiReadError, match=r"interrupted write left it and .* from different runs"):
            read_nifti(out / f)
    _run(_cli("crop", ct, "--labels", seg, "--out-dir", out, "--threshold", "-200"))
    assert _pair_content(out) == old and _leftovers(out) == []
    for f in old:
        read_nifti(out / f)


def test_report_that_fails_midway_leaves_the_old_report_and_no_temporary(tmp_path, monkeypatch):
    """An exception after the pictures were written (the KeyError of issue 16 came after
    cases/ and survey.json): the previous report is untouched, nothing half-written remains."""
    from napari_liverct.report import plots
    from napari_liverct.report.build import build_report

    root = _dataset(tmp_path / "Task03_Liver", n=1)
    target = tmp_path / "site"
    build_report(root, target, scheduler="synchronous", progress=False)
    before = _site(target)

    def boom(*a, **k):
        raise KeyError("3")

    monkeypatch.setattr(plots, "summary_plots", boom)
    with pytest.raises(KeyError):
        build_report(root, target, predictions=tmp_path / "preds_a", scheduler="synchronous", progress=False)
    assert _site(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Task03_Liver", "preds_a", "preds_b", "site"]
    with pytest.raises(KeyError):
        build_report(root, tmp_path / "new_site", scheduler="synchronous", progress=False)
    assert not (tmp_path / "new_site").exists() and _leftovers(tmp_path) == []
