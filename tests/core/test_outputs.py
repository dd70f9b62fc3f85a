"""Outputs as units (napari_liverct.outputs.units): temporaries, permissions, dead writers, folder swaps."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from napari_liverct.outputs import units as outputs
from napari_liverct.outputs.units import atomic_folder, atomic_write, atomic_write_bytes, atomic_write_text, temp_prefix


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _tmp_name(target, pid, host=None, suffix=""):
    return target.parent / f"{temp_prefix(target)}{pid}-{host or outputs._HOST}-abcd{suffix}"


def test_text_and_bytes_modes_and_no_temporaries(tmp_path):
    out = tmp_path / "r.json"
    old = os.umask(0o027)
    try:
        atomic_write_text(out, "é\n")
        assert stat.S_IMODE(out.stat().st_mode) == 0o640  # 0666 minus the umask, not mkstemp's 0600
        out.chmod(0o604)
        atomic_write_bytes(out, b"\x00\x01")
        assert stat.S_IMODE(out.stat().st_mode) == 0o604  # the replaced file's bits kept
    finally:
        os.umask(old)
    assert out.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    atomic_write_text(out, "a\nb\n", newline="\r\n")
    assert out.read_bytes() == b"a\r\nb\r\n"


def test_failure_leaves_target_and_no_temporary(tmp_path):
    out = tmp_path / "r.csv"
    out.write_text("old")

    def boom(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(out, boom)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_temporaries_of_dead_writers_go_whatever_their_age(tmp_path):
    out = tmp_path / "case.nii.gz"
    dead = _tmp_name(out, _dead_pid(), suffix=".nii.gz")
    dead.write_bytes(b"")  # 0 bytes and brand new, as a SIGKILL leaves it
    legacy = tmp_path / f"{temp_prefix(out)}k2j_x9ab.nii.gz"  # mkstemp name of earlier versions
    legacy.write_bytes(b"x")
    mine_unlocked = _tmp_name(out, os.getpid(), suffix=".nii.gz")  # running PID, lock free: maybe reused
    mine_unlocked.write_bytes(b"y")
    old_reused = _tmp_name(out, os.getpid(), host="0" * 8, suffix=".nii.gz")  # another host, two hours old
    old_reused.write_bytes(b"z")
    two_hours_ago = time.time() - 7200
    os.utime(old_reused, (two_hours_ago, two_hours_ago))
    unrelated = tmp_path / ".other.nii.gz.liverct-tmp-1-00000000-ab.nii.gz"
    unrelated.write_bytes(b"")
    atomic_write_bytes(out, b"new")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["case.nii.gz", mine_unlocked.name, unrelated.name])


def test_live_writer_temporary_is_left_alone_then_removed_once_it_dies(tmp_path):
    out = tmp_path / "report.json"
    live = _tmp_name(out, 0)  # the PID is filled in by the child
    code = (
        "import fcntl, os, sys, time\n"
        f"p = {str(live)!r}.replace('-0-', '-%d-' % os.getpid())\n"
        "fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print(p, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        name = child.stdout.readline().strip()
        atomic_write_text(out, "1")
        assert os.path.exists(name), "a live writer's temporary was removed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    atomic_write_text(out, "2")
    assert not os.path.exists(name)
    assert out.read_text() == "2"


def test_long_names_get_short_temporaries(tmp_path):
    out = tmp_path / ("x" * 240 + ".nii.gz")
    seen = []
    atomic_write(out, lambda tmp: (seen.append(tmp), open(tmp, "wb").close()))
    assert len(os.path.basename(seen[0]).encode()) < 255 and seen[0].endswith(".nii.gz")
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "rename-aside"])
def test_folder_swap_keeps_old_until_complete(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setenv("LIVERCT_NO_RENAME_EXCHANGE", "1")
    target = tmp_path / "report"
    with atomic_folder(target) as d:
        (d / "index.html").write_text("v1")
        (d / "cases").mkdir()
        (d / "cases" / "a.png").write_bytes(b"1")
    assert (target / "index.html").read_text() == "v1"
    with atomic_folder(target) as d:
        (d / "index.html").write_text("v2")
        assert (target / "index.html").read_text() == "v1"  # the old report is whole until the swap
        assert (target / "cases" / "a.png").exists()
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["index.html"]
    assert (target / "index.html").read_text() == "v2"
    with pytest.raises(KeyError), atomic_folder(target) as d:
        (d / "index.html").write_text("v3")
        raise KeyError("x")
    assert (target / "index.html").read_text() == "v2"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_folder_set_aside_by_a_killed_fallback_swap_is_put_back(tmp_path):
    target = tmp_path / "report"
    aside = tmp_path / f"{temp_prefix(target, outputs._OLD_TAG)}{_dead_pid()}-{outputs._HOST}-beef"
    aside.mkdir()
    (aside / "index.html").write_text("old")
    half = tmp_path / f"{temp_prefix(target)}{_dead_pid()}-{outputs._HOST}-cafe"
    half.mkdir()
    (half / "index.html").write_text("new, complete but never swapped in")
    outputs.remove_dead_temps(target)
    assert (target / "index.html").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_folder_symlink_target_is_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "index.html").write_text("old")
    link = tmp_path / "link"
    link.symlink_to(real)
    with atomic_folder(link) as d:
        (d / "index.html").write_text("new")
    assert link.is_symlink() and (link / "index.html").read_text() == "new"
    with pytest.raises(ValueError, match="not a folder"), atomic_folder(real / "index.html"):
        pass


def test_group_failure_changes_no_member_and_leaves_nothing(tmp_path):
    from napari_liverct.outputs.group import atomic_write_group, incomplete_group

    a, b = tmp_path / "img.nii.gz", tmp_path / "img_label.nii.gz"
    a.write_bytes(b"old a")
    b.write_bytes(b"old b")

    def broken(tmp):
        open(tmp, "wb").write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write_group([(a, lambda tmp: open(tmp, "wb").write(b"new a")), (b, broken)])
    assert (a.read_bytes(), b.read_bytes()) == (b"old a", b"old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.nii.gz", "img_label.nii.gz"]
    atomic_write_group(
        [(a, lambda tmp: open(tmp, "wb").write(b"new a")), (b, lambda tmp: open(tmp, "wb").write(b"new b"))]
    )
    assert (a.read_bytes(), b.read_bytes()) == (b"new a", b"new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.nii.gz", "img_label.nii.gz"]
    assert incomplete_group(a) is None and incomplete_group(b) is None


def test_group_members_are_written_at_once_and_a_failing_first_member_removes_all(tmp_path):
    """The members are encoded concurrently: the second writer waits for a signal the first
    gives only while it is still writing (sequential writers would time out).  A failure of
    the first member, with the second complete, leaves both targets old and no temporary."""
    import threading

    from napari_liverct.outputs.group import atomic_write_group

    a, b = tmp_path / "img.nii.gz", tmp_path / "img_label.nii.gz"
    a.write_bytes(b"old a")
    b.write_bytes(b"old b")
    started, seen = threading.Event(), threading.Event()

    def first(tmp):
        started.set()
        assert seen.wait(10), "the second member did not run while the first was being written"
        open(tmp, "wb").write(b"new a")

    def second(tmp):
        assert started.wait(10), "the first member did not start while the second was being written"
        open(tmp, "wb").write(b"new b")
        seen.set()

    atomic_write_group([(a, first), (b, second)])
    assert (a.read_bytes(), b.read_bytes()) == (b"new a", b"new b")

    def broken(tmp):
        open(tmp, "wb").write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write_group([(a, broken), (b, lambda tmp: open(tmp, "wb").write(b"newer b"))])
    assert (a.read_bytes(), b.read_bytes()) == (b"new a", b"new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.nii.gz", "img_label.nii.gz"]


def test_group_journals_are_on_disk_before_the_first_rename(tmp_path, monkeypatch):
    """The order a power cut needs: every member's temporary and both journals fsynced, the
    journals renamed into place and their folder fsynced, only then the members renamed, then
    the folder fsynced again.  One folder fsync serves both journals (six fsyncs in all)."""
    from napari_liverct.outputs import group

    a, b = tmp_path / "img.nii.gz", tmp_path / "img_label.nii.gz"
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", "dir" if os.path.isdir(path) else os.path.basename(path)))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", os.path.basename(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    group.atomic_write_group([(a, lambda t: open(t, "wb").write(b"a")), (b, lambda t: open(t, "wb").write(b"b"))])
    monkeypatch.undo()
    kinds = [(e, "journal" if n.endswith(".liverct-group") else "dir" if n == "dir" else n) for e, n in events]
    first_target = min(kinds.index(("rename", n)) for n in ("img.nii.gz", "img_label.nii.gz"))
    journal_renames = [i for i, k in enumerate(kinds) if k == ("rename", "journal")]
    assert len(journal_renames) == 2 and max(journal_renames) < first_target
    dir_syncs = [i for i, k in enumerate(kinds) if k == ("fsync", "dir")]
    assert any(max(journal_renames) < i < first_target for i in dir_syncs)  # journals durable first
    assert dir_syncs[-1] > max(kinds.index(("rename", n)) for n in ("img.nii.gz", "img_label.nii.gz"))
    member_syncs = [i for i, (e, n) in enumerate(events) if e == "fsync" and ".liverct-tmp-" in n]
    assert len(member_syncs) == 4 and max(member_syncs) < first_target  # two members, two journal temporaries
    assert len([k for k in kinds if k[0] == "fsync"]) == 6
    assert (a.read_bytes(), b.read_bytes()) == (b"a", b"b") and not list(tmp_path.glob(".*"))
