"""Several files written as one unit (an image and its labels from one ``crop`` run).

POSIX renames one name at a time, so two files cannot change at the same instant.
:func:`atomic_write_group` gets as close as that allows and makes the rest detectable:

1. every file is written completely into its own temporary beside its target and
   fsynced (:func:`napari_liverct.outputs.units.write_temp`): nothing is visible yet;
2. a small journal ``.NAME.liverct-group`` is written (atomically) beside each target,
   naming all the group's targets with the identity (inode, size, mtime) each will have
   once its temporary is renamed over it;
3. the temporaries are renamed over their targets, one after the other (microseconds);
4. the journals are removed.

A process killed during step 3 leaves an image of the new run beside labels of the old
one.  :func:`incomplete_group` detects that: a journal exists beside the file, and some
but not all targets of the group are the files the journal names (none: the kill came
before the first rename and the old pair is whole; all: the pair is the new one).  :func:`napari_liverct.volumes.nifti.read_nifti`
then refuses the file with a message naming the journal, so the mixed pair is never
read as a pair (the reader, ``stats``, ``compare``, ``crop`` all read through it).  The
next ``crop`` run to the same targets writes a complete pair and removes the journals;
deleting the journal by hand accepts the files as they are.  A journal left by a
process killed during step 4 names files that are all in place: it is ignored and
removed by the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from .units import _stem, atomic_write_text, fsync_dir, write_temp

__all__ = ["atomic_write_group", "incomplete_group", "journal_path"]

_JOURNAL_TAG = ".liverct-group"


def journal_path(target: str | os.PathLike) -> Path:
    """The journal that marks ``target`` as a member of a group being written."""
    target = Path(target)
    return target.parent / f".{_stem(target.name)}{_JOURNAL_TAG}"


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def atomic_write_group(items: list[tuple[str | os.PathLike, Callable[[str], object]]]) -> list[Path]:
    """Write every ``(path, write)`` of ``items`` as one unit (see the module docstring).

    ``write(tmp)`` fills the temporary of ``path`` as in :func:`napari_liverct.outputs.units.atomic_write`.
    On a failure before the first rename, every temporary is removed and no target
    changes.
    """
    paths = [Path(p).absolute() for p, _ in items]
    if len(set(paths)) != len(paths):
        raise ValueError(f"one file named twice in a group: {[str(p) for p in paths]}")
    temps: list[tuple[Path, int]] = []
    try:
        for path, (_, write) in zip(paths, items):
            temps.append(write_temp(path, write))
        members = [{"target": str(p), "identity": _identity(os.stat(tmp))} for p, (tmp, _) in zip(paths, temps)]
        text = json.dumps({"pid": os.getpid(), "members": members}, indent=1) + "\n"
        journals = [journal_path(p) for p in paths]
        for j in journals:
            atomic_write_text(j, text)
        for path, (tmp, _) in zip(paths, temps):
            os.replace(tmp, path)
        for folder in {p.parent for p in paths}:
            fsync_dir(folder)
        for j in journals:
            with contextlib.suppress(OSError):
                j.unlink()
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    finally:
        for _, fd in temps:
            os.close(fd)
    return paths


def incomplete_group(path: str | os.PathLike) -> str | None:
    """Why ``path`` must not be read as it is (an interrupted group write), or None.

    One ``stat`` when there is no journal beside ``path`` (the usual case).
    """
    path = Path(path)
    j = journal_path(path)
    try:
        text = j.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"its write journal {j} cannot be read ({exc.strerror})"
    try:
        members = json.loads(text)["members"]
        pending = []
        for m in members:
            try:
                same = _identity(os.stat(m["target"])) == list(m["identity"])
            except OSError:
                same = False
            if not same:
                pending.append(m["target"])
    except (ValueError, KeyError, TypeError):
        return f"its write journal {j} is not readable JSON"
    if not pending or len(pending) == len(members):
        return None  # all renamed, or none yet: the files are one run's (new or old) pair
    others = [p for p in pending if Path(p).name != path.name]
    return (
        "an interrupted write left it and "
        + (", ".join(others) if others else "its partner files")
        + f" from different runs (journal {j}); run the command again, or delete {j} to read the files as they are"
    )
