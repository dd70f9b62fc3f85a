"""The output guard: an output never replaces or lands inside an input, and its folder can
be written, checked before any work starts.

Every command and every export calls :func:`guard_output` with the output it is about to
write and the inputs it reads:

* paths are compared by their real location (``os.path.realpath``: ``..``, symlinks and a
  folder given through a link to itself all resolve) and, for files that exist, by
  device and inode (a hard link is the same file under another name);
* an output that **is** an input, or **lies inside** an input folder, is refused
  (:class:`OutputClashError`); for a folder output, each file it will hold (``files``)
  is checked as well, and a folder that is replaced whole (``replaces=True``, the HTML
  report) must not hold an input either;
* the folder that will receive the output (or its nearest existing ancestor, when it is
  still to be created) must be a folder in which a file can be created: a probe file is
  created there and removed at once (:class:`OutputNotWritableError`).  The probe is the
  honest test: permission bits say nothing to root, while a read-only file system, a
  full quota or a parent that is a file fail the probe for everyone.

The messages name both paths on one line.  Pure Python; no napari, Qt, torch or MONAI.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

__all__ = ["OutputClashError", "OutputNotWritableError", "guard_output", "writable_folder"]


class OutputClashError(ValueError):
    """An output would replace an input, or be written inside an input folder."""


class OutputNotWritableError(ValueError):
    """The folder that should receive an output cannot be written."""


def _real(path) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _inside(child: str, parent: str) -> bool:
    return child != parent and child.startswith(parent.rstrip(os.sep) + os.sep)


def _stat(path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _same_inode(a: os.stat_result | None, b: os.stat_result | None) -> bool:
    return a is not None and b is not None and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _linked_in_folder(st: os.stat_result, folder: str) -> str | None:
    """A file under ``folder`` that is the file ``st`` (a hard link), or None."""
    for root, _dirs, names in os.walk(folder):
        for n in names:
            p = os.path.join(root, n)
            if _same_inode(st, _stat(p)):
                return p
    return None


def _clash(out, inputs: list) -> str | None:
    """Why writing ``out`` would touch one of ``inputs`` (None: it would not).  The same
    file is named before a folder that holds it."""
    real_out = _real(out)
    st_out = _stat(out)
    ins = [(inp, _real(inp), _stat(inp)) for inp in inputs]
    for inp, real_in, st_in in ins:
        if real_out == real_in:
            both = "" if str(inp) in (str(out), real_in) else f" (both are {real_in})"
            return f"it is the input {inp}{both}"
        if _same_inode(st_out, st_in):
            return f"it is the input {inp} under another name (a hard link: the same file)"
    for inp, real_in, st_in in ins:
        if st_in is None or not stat.S_ISDIR(st_in.st_mode):
            continue
        if _inside(real_out, real_in):
            return f"it lies inside the input folder {inp}"
        if st_out is not None and stat.S_ISREG(st_out.st_mode) and st_out.st_nlink > 1:
            found = _linked_in_folder(st_out, real_in)
            if found:
                return f"it is the input {found} under another name (a hard link: the same file)"
    return None


def writable_folder(folder) -> None:
    """Raise :class:`OutputNotWritableError` unless a file can be created in ``folder``
    (or, when it does not exist yet, in the nearest existing folder above it)."""
    folder = Path(os.path.abspath(os.fspath(folder)))
    probe_in = folder
    while not os.path.lexists(probe_in) and probe_in.parent != probe_in:
        probe_in = probe_in.parent
    st = _stat(probe_in)
    if st is None or not stat.S_ISDIR(st.st_mode):
        what = "does not exist" if st is None else "is a file, not a folder"
        raise OutputNotWritableError(f"cannot write into {folder}: {probe_in} {what}")
    probe = probe_in / f".liverct-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        err = exc.strerror or str(exc)
        if probe_in != folder:
            err = f"{probe_in}, where it would be created, cannot be written ({err})"
        raise OutputNotWritableError(f"cannot write into {folder}: {err}") from None
    os.close(fd)
    os.unlink(probe)


def guard_output(
    out,
    inputs: Iterable = (),
    *,
    folder: bool = False,
    files: Iterable[str] = (),
    replaces: bool = False,
) -> Path:
    """Check the output ``out`` against ``inputs`` and its folder's writability; return it.

    Parameters
    ----------
    out
        The output file, or with ``folder=True`` the output folder.
    inputs
        The files and folders the command reads (None entries are skipped).
    folder
        ``out`` is a folder that receives files (created when missing).
    files
        Names of the files the folder output will hold (each is checked as an output).
    replaces
        The folder output is replaced whole (an input inside it is refused too).

    Raises
    ------
    OutputClashError
        ``out`` (or one of its ``files``) is an input, a hard link to one, or lies inside
        an input folder; or a replaced folder holds an input.
    OutputNotWritableError
        ``out`` is of the wrong kind (a folder for a file output, a file for a folder
        output), or nothing can be created in its folder.
    """
    out = Path(out)
    ins = [i for i in inputs if i is not None and str(i) != ""]
    targets = [out] + [out / f for f in files]
    for target in targets:
        why = _clash(target, ins)
        if why:
            raise OutputClashError(f"refusing to write {target}: {why}")
    if replaces:
        real_out = _real(out)
        for inp in ins:
            if _inside(_real(inp), real_out):
                raise OutputClashError(
                    f"refusing to write {out}: the input {inp} lies inside it, and the output replaces the whole folder"
                )
    st = _stat(out)
    if folder:
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise OutputNotWritableError(f"cannot write into {out}: it is a file, not a folder")
        writable_folder(out)
    else:
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise OutputNotWritableError(f"cannot write {out}: it is a folder; give a file name")
        writable_folder(out.parent)
    return out
