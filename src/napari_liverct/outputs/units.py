"""Outputs written as units: a reader sees the complete old or the complete new content.

Every file and folder the package writes goes through this module, as databases and
build tools do (git's lock files, ``rsync --delay-updates``):

* :func:`atomic_write` (and :func:`atomic_write_text` / :func:`atomic_write_bytes`):
  the content goes into a temporary file beside the target, which is fsynced, given
  the permission bits of the file it replaces (or the umask default for a new file),
  renamed over the target in one ``rename(2)``, and the folder is fsynced.
* :func:`atomic_folder`: a folder (the HTML report) is built in a temporary folder
  beside the target and swapped in when complete.  The previous folder stays intact
  until then.  The swap is Linux's ``renameat2(RENAME_EXCHANGE)`` (called through
  ctypes): one system call exchanges the two names, so at every instant the target
  name is the whole old or the whole new folder, then the old one (now under the
  temporary name) is deleted.  Where the call is missing or the file system refuses
  it, the fallback is two renames (old folder aside, new folder in); a process killed
  between them leaves no folder at the target name and the old one under
  ``.NAME.liverct-old-*``, which the next run puts back before doing anything else.
  A symlink at the target name was considered (``rename`` of a symlink is atomic
  everywhere) but it turns the user's folder into a link to a hidden one.

Temporary names are ``.NAME.liverct-tmp-PID-HOST-RANDOM`` (the target's suffix kept, so
nibabel still sees ``.nii.gz``).  The writer holds an exclusive ``flock`` on the
temporary file or folder while it writes; the kernel releases it when the writer dies,
however it dies.  Before writing ``NAME``, a run removes every temporary of ``NAME``
whatever its age when its lock is free and its writer is gone: the PID it names is not
a running process on this host (a zombie counts as gone).  A temporary whose lock is
held belongs to a live concurrent writer and is left alone; one whose lock is free but
whose PID runs again (a reused PID, or another host's writer on a shared file system)
goes after an hour.  Temporaries of earlier versions (no PID in the name) go at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_folder",
    "remove_dead_temps",
    "write_temp",
    "fsync_dir",
    "temp_prefix",
    "TMP_TAG",
]

TMP_TAG = ".liverct-tmp-"
_OLD_TAG = ".liverct-old-"
#: A temporary whose lock is free but whose PID is running (reused PID, other host) goes after this.
_REUSED_PID_AGE = 3600.0
_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]
_NAME_RE = re.compile(r"(\d+)-([0-9a-f]{8})-[0-9a-f]+")


def _stem(name: str) -> str:
    """The target's name as used in its temporaries (shortened with a hash when long)."""
    raw = os.fsencode(name)
    if len(raw) <= 150:
        return name
    return os.fsdecode(raw[:100]) + "~" + hashlib.sha1(raw).hexdigest()[:10]


def temp_prefix(path: str | os.PathLike, tag: str = TMP_TAG) -> str:
    """Name prefix of the temporaries of ``path`` (``.NAME.liverct-tmp-``)."""
    return "." + _stem(Path(path).name) + tag


def _suffix(path: Path) -> str:
    low = path.name.lower()
    if low.endswith(".gz"):
        return "".join(path.suffixes[-2:])
    return path.suffix if len(path.suffix) <= 16 else ""


def _new_name(path: Path, tag: str = TMP_TAG, keep_suffix: bool = True) -> Path:
    name = f"{temp_prefix(path, tag)}{os.getpid()}-{_HOST}-{secrets.token_hex(4)}"
    return path.parent / (name + (_suffix(path) if keep_suffix else ""))


def _default_mode(folder: bool) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def _lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when another holds it."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: fall back on the PID
        return True
    return True


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return False
    try:  # a killed process nobody has reaped yet is a zombie: its writes are over
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _writer_gone(p: Path, prefix: str) -> bool:
    """True when the temporary ``p`` belongs to no live writer (see the module docstring)."""
    try:
        flags = os.O_RDONLY | (os.O_DIRECTORY if p.is_dir() and not p.is_symlink() else 0)
        fd = os.open(p, flags | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return p.is_symlink()  # a dangling or foreign symlink with our name: not a writer's
    try:
        if not _lock(fd):
            return False  # a live writer holds it
        m = _NAME_RE.match(p.name[len(prefix) :])
        if m is None:
            return True  # an earlier version's temporary: no PID to ask, no lock to hold
        if m.group(2) == _HOST and not _pid_running(int(m.group(1))):
            return True
        return time.time() - os.fstat(fd).st_mtime > _REUSED_PID_AGE
    finally:
        os.close(fd)  # also drops the lock we may have taken


def _remove(p: Path) -> None:
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink()
    except OSError:
        pass


def remove_dead_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of writes to ``path`` whose writer is gone; return them.

    A folder set aside by an interrupted fallback swap (:func:`atomic_folder`) is put
    back when nothing took its place, and removed otherwise.
    """
    path = Path(path)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    prefix, old_prefix = temp_prefix(path), temp_prefix(path, _OLD_TAG)
    for e in entries:
        p = Path(e.path)
        if e.name.startswith(prefix) and _writer_gone(p, prefix):
            _remove(p)
            removed.append(p)
        elif e.name.startswith(old_prefix) and _writer_gone(p, old_prefix):
            if not os.path.lexists(path):
                with contextlib.suppress(OSError):
                    os.rename(p, path)
                    fsync_dir(path.parent)
                    continue
            _remove(p)
            removed.append(p)
    return removed


def fsync_dir(folder: Path) -> None:
    """fsync a folder (its entries are then on disk); silently skipped where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder
        pass
    finally:
        os.close(fd)


def _fsync_file(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Write ``path`` as a unit: ``write(tmp)`` fills a temporary beside it, then one rename.

    Parameters
    ----------
    path
        The target file.  Its folder must exist.
    write
        Called with the temporary file's path (a string ending in the target's suffix,
        ``.nii.gz`` included); it writes the complete content there.

    Returns
    -------
    Path
        ``path``.  The new file keeps the permission bits of the file it replaces (a new
        file gets 0666 minus the umask, not mkstemp's 0600).  On any failure the
        temporary is removed and the target is untouched.
    """
    path = Path(path)
    tmp, fd = write_temp(path, write)
    try:
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)
    return path


def write_temp(path: Path, write: Callable[[str], object]) -> tuple[Path, int]:
    """Fill a locked, fsynced temporary beside ``path`` with ``write(tmp)``; return it and its fd.

    The first half of :func:`atomic_write` (dead writers' temporaries of ``path`` are
    removed first).  The caller renames the temporary over ``path`` and closes the fd,
    which releases the lock; on failure here the temporary is already removed.
    """
    remove_dead_temps(path)
    tmp = _new_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _lock(fd)
        try:
            st = os.stat(path)
            mode = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else _default_mode(False)
        except OSError:
            mode = _default_mode(False)
        write(str(tmp))
        os.chmod(tmp, mode)
        _fsync_file(tmp)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp, fd


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(
    path: str | os.PathLike, text: str, *, encoding: str = "utf-8", newline: str | None = None
) -> Path:
    """:func:`atomic_write` of ``text`` (UTF-8 unless told; ``newline`` as :func:`open`)."""

    def write(tmp):
        with open(tmp, "w", encoding=encoding, newline=newline) as fh:
            fh.write(text)

    return atomic_write(path, write)


# -- folders ---------------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one system call (Linux renameat2); False if unsupported."""
    if os.environ.get("LIVERCT_NO_RENAME_EXCHANGE"):  # tests of the fallback
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, f"cannot swap {b} into place: {os.strerror(err)}", str(b))


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (before the swap, so a power cut cannot
    leave a swapped-in folder with empty files).  In parallel threads: the file system's
    journal then commits them together (600 report pictures: 0.09 s instead of 2-3 s)."""
    from concurrent.futures import ThreadPoolExecutor

    files, folders = [], []
    for folder, _dirs, names in os.walk(root):
        folders.append(Path(folder))
        files.extend(os.path.join(folder, f) for f in names)
    if len(files) > 4:
        with ThreadPoolExecutor(min(16, len(files))) as pool:
            list(pool.map(_fsync_file, files))
    else:
        for f in files:
            _fsync_file(f)
    for folder in reversed(folders):
        fsync_dir(folder)


def _swap_in(new: Path, target: Path) -> None:
    if not os.path.lexists(target):
        os.rename(new, target)
    elif _exchange(new, target):
        fsync_dir(target.parent)
        _remove(new)  # the old folder, now under the temporary name
    else:
        aside = _new_name(target, _OLD_TAG, keep_suffix=False)
        os.rename(target, aside)
        os.rename(new, target)
        fsync_dir(target.parent)
        _remove(aside)
    fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Build a folder as a unit: yield a temporary folder beside ``target``, swap it in on success.

    The previous ``target`` (if any) stays whole until the swap, which is atomic on Linux
    (see the module docstring); on an exception the temporary folder is removed and
    ``target`` is untouched.  A symlink at ``target`` is followed (the folder it points
    to is replaced).  Everything in the old folder is replaced: callers check that it
    holds only their own output first.

    Yields
    ------
    Path
        The folder to write into.
    """
    target = Path(os.path.abspath(target))  # "." or "out/.." name a folder by its parent's entry
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if os.path.lexists(target) and not target.is_dir():
        raise ValueError(f"{target} exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temps(target)
    tmp = _new_name(target, keep_suffix=False)
    os.mkdir(tmp, 0o700)
    fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _lock(fd)
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            mode = _default_mode(True)
        yield tmp
        os.chmod(tmp, mode)
        _fsync_tree(tmp)
        _swap_in(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        os.close(fd)
