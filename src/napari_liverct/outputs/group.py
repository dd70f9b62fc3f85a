"""Several files written as one unit (an image and its labels from one ``crop`` run).

POSIX renames one name at a time, so two files cannot change at the same instant.
:func:`atomic_write_group` gets as close as that allows and makes the rest detectable:

1. every file is written completely into its own temporary beside its target and
   fsynced (:func:`napari_liverct.outputs.units.write_temp`): nothing is visible yet.  The
   members are written at the same time, one thread each (gzip's zlib releases the GIL,
   so the labels are encoded while the image is), and each is fsynced as soon as it is
   complete;
2. a small journal ``.NAME.liverct-group`` is written beside each target, naming all the
   group's targets with the identity (inode, size, mtime) each will have once its
   temporary is renamed over it.  Each journal is a unit too (temporary, fsync, rename);
   the folders are fsynced once for all journals, before any target is renamed;
3. the temporaries are renamed over their targets, one after the other (microseconds),
   and their folders fsynced;
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
from collections.abc import Callable, Sequence
from pathlib import Path

from .units import _stem, fsync_dir, write_temp

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
        temps = _write_temps(paths, [write for _, write in items])
        members = [{"target": str(p), "identity": _identity(os.stat(tmp))} for p, (tmp, _) in zip(paths, temps)]
        text = json.dumps({"pid": os.getpid(), "members": members}, indent=1) + "\n"
        journals = [journal_path(p) for p in paths]
        _write_journals(journals, text)
        for path, (tmp, _) in zip(paths, temps):
            os.replace(tmp, path)
        for folder in dict.fromkeys(p.parent for p in paths):
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


def _discard(temps: Sequence[tuple[Path, int] | None]) -> None:
    for t in temps:
        if t is not None:
            os.close(t[1])
            with contextlib.suppress(OSError):
                os.unlink(t[0])


def _write_temps(paths: list[Path], writes: list[Callable[[str], object]]) -> list[tuple[Path, int]]:
    """:func:`write_temp` of every member at once: the first in this thread, the others in
    one thread each.  All are complete and fsynced on return; on any failure every
    temporary is removed (after the other writers finished) and the first error raised."""
    if len(paths) == 1:
        return [write_temp(paths[0], writes[0])]
    from concurrent.futures import ThreadPoolExecutor

    results: list[tuple[Path, int] | None] = [None] * len(paths)
    error: BaseException | None = None
    futures = []
    pool = ThreadPoolExecutor(len(paths) - 1, thread_name_prefix="liverct-group")
    try:
        futures = [pool.submit(write_temp, p, w) for p, w in zip(paths[1:], writes[1:])]
        try:
            results[0] = write_temp(paths[0], writes[0])
        except BaseException as exc:  # noqa: BLE001 - re-raised below, once the others are done
            error = exc
    finally:
        pool.shutdown(wait=True)  # a temporary is never left to a writer still running
    for i, f in enumerate(futures, 1):
        try:
            results[i] = f.result()
        except BaseException as exc:  # noqa: BLE001
            error = error or exc
    if error is not None:
        _discard(results)
        raise error
    return results  # type: ignore[return-value]


def _write_journals(journals: list[Path], text: str) -> None:
    """Each journal as a unit (temporary, fsync, rename); the folders fsynced once for all."""
    temps: list[tuple[Path, int] | None] = []
    try:
        for j in journals:
            temps.append(write_temp(j, lambda tmp: Path(tmp).write_text(text, encoding="utf-8")))
        for j, (tmp, _) in zip(journals, temps):
            os.replace(tmp, j)
        for folder in dict.fromkeys(j.parent for j in journals):
            fsync_dir(folder)
    except BaseException:
        _discard(temps)
        raise
    for _, fd in temps:
        os.close(fd)


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
