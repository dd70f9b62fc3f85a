"""The output guard (napari_liverct.outputs.guard): an output never is, or lies inside, an
input, and its folder is known writable before any work (issue 23)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from napari_liverct.outputs.guard import OutputClashError, OutputNotWritableError, guard_output


@pytest.fixture
def tree(tmp_path):
    """tmp/D/gt/c1.nii.gz, tmp/D/pred/, a symlink tmp/L -> D/gt and a hard link tmp/hard.nii.gz."""
    gt = tmp_path / "D" / "gt"
    gt.mkdir(parents=True)
    (tmp_path / "D" / "pred").mkdir()
    f = gt / "c1.nii.gz"
    f.write_bytes(b"ground truth")
    (tmp_path / "L").symlink_to(gt)
    os.link(f, tmp_path / "hard.nii.gz")
    return tmp_path


@pytest.mark.parametrize(
    "out, inputs, said",
    [
        ("D/gt/c1.nii.gz", ["D/gt/c1.nii.gz"], "it is the input D/gt/c1.nii.gz"),
        ("D/pred/../gt/c1.nii.gz", ["D/gt/c1.nii.gz"], "it is the input D/gt/c1.nii.gz (both are "),
        ("L/c1.nii.gz", ["D/gt/c1.nii.gz"], "it is the input D/gt/c1.nii.gz (both are "),
        ("hard.nii.gz", ["D/gt/c1.nii.gz"], "under another name (a hard link: the same file)"),
        ("hard.nii.gz", ["D/gt"], "it is the input "),  # a hard link to a file inside an input folder
        ("D/gt/new.json", ["D/gt"], "it lies inside the input folder D/gt"),
        ("L/new.json", ["D/gt"], "it lies inside the input folder D/gt"),
        ("D/gt", ["D/gt"], "it is the input D/gt"),
        ("L", ["D/gt"], "it is the input D/gt"),  # a folder pointed at itself
    ],
)
def test_an_output_that_is_or_lies_inside_an_input_is_refused(tree, monkeypatch, out, inputs, said):
    monkeypatch.chdir(tree)
    folder = os.path.isdir(out)
    with pytest.raises(OutputClashError) as exc:
        guard_output(out, inputs, folder=folder)
    msg = str(exc.value)
    assert msg.startswith(f"refusing to write {out}: ") and said in msg and "\n" not in msg
    assert (tree / "D/gt/c1.nii.gz").read_bytes() == b"ground truth"


def test_files_of_a_folder_output_and_replaced_folders(tree, monkeypatch):
    monkeypatch.chdir(tree)
    # crop's rule: OUT_DIR/<stem>_crop.nii.gz must not be an input (here a hard link to one)
    os.link("D/gt/c1.nii.gz", "D/pred/c1_crop.nii.gz")
    with pytest.raises(OutputClashError, match=r"D/pred/c1_crop.nii.gz: it is the input D/gt/c1.nii.gz under"):
        guard_output("D/pred", ["D/gt/c1.nii.gz"], folder=True, files=["c1_crop.nii.gz"])
    # a folder replaced whole must not hold an input
    with pytest.raises(OutputClashError, match="the input D/gt lies inside it"):
        guard_output("D", ["D/gt"], folder=True, replaces=True)
    # what is allowed: a new file beside the input, a folder next to the dataset
    assert guard_output("D/gt/c1_crop.nii.gz", ["D/gt/c1.nii.gz"]).name == "c1_crop.nii.gz"
    guard_output("out/deeper", ["D/gt"], folder=True, replaces=True)
    assert not (tree / "out").exists()  # checked, not created
    assert sorted(p.name for p in tree.iterdir()) == ["D", "L", "hard.nii.gz"]  # no probe left behind


def test_wrong_kinds_and_unwritable_folders(tree, monkeypatch):
    monkeypatch.chdir(tree)
    with pytest.raises(OutputNotWritableError, match="D/pred: it is a folder; give a file name"):
        guard_output("D/pred", [])
    with pytest.raises(OutputNotWritableError, match="hard.nii.gz: it is a file, not a folder"):
        guard_output("hard.nii.gz", [], folder=True)
    # a parent that is a file fails for everyone, root included
    with pytest.raises(OutputNotWritableError, match=r"hard.nii.gz/x.*is a file, not a folder"):
        guard_output("hard.nii.gz/x/out.json", [])


def _ro_bind_available(path) -> bool:
    if not shutil.which("unshare") or not shutil.which("mount"):
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --bind -o ro '{path}' '{path}' && ! touch '{path}/x' 2>/dev/null"],
        capture_output=True,
    )
    return probe.returncode == 0


def test_read_only_folder_is_refused_even_as_root(tmp_path):
    """A read-only bind mount (a private mount namespace): permission bits mean nothing to
    root, a read-only file system refuses everyone, so this is what the probe must catch."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if not _ro_bind_available(ro):
        pytest.skip("no mount namespace with a read-only bind mount here (unshare -m)")
    code = (
        "from napari_liverct.outputs.guard import guard_output, OutputNotWritableError\n"
        "try:\n"
        f"    guard_output({str(ro / 'out.json')!r}, [])\n"
        "except OutputNotWritableError as e:\n"
        "    print(e)\n"
    )
    script = f"mount --bind -o ro '{ro}' '{ro}' && exec '{sys.executable}' -c \"$0\""
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script, code], capture_output=True, text=True, env=os.environ)
    assert proc.stdout.strip() == f"cannot write into {ro}: Read-only file system", proc.stderr
    assert os.listdir(ro) == []
