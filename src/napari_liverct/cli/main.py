"""The ``napari-liverct`` parser (every subcommand's ``add_parser``) and entry point."""

from __future__ import annotations

import argparse
import sys

from ..outputs.pathtext import path_text
from . import compare, crop, dicom, evaluate, refine, report, response, segment, snapshot, stats, survey, view

__all__ = ["main", "build_parser", "COMMANDS"]

# in the order of ``napari-liverct --help``
COMMANDS = (view, stats, response, crop, snapshot, survey, compare, evaluate, report, segment, refine, dicom)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all subcommands."""
    p = argparse.ArgumentParser(
        prog="napari-liverct",
        description="Open, measure, crop and inspect liver CT volumes: NIfTI, DICOM series and SEG, NRRD, "
        "MetaImage (napari plugin).",
    )
    p.add_argument(
        "--series-uid",
        default=None,
        metavar="UID",
        help="for a DICOM folder holding several series: read this one (see 'dicom-series FOLDER'); "
        "default: the largest CT series, named on standard error",
    )
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``napari-liverct`` console script.

    ``argv`` None (the process's own command line: the console script, ``python -m``)
    also freezes the garbage collector's objects before returning: the process is about
    to exit, every output is already written, closed and fsynced, and the interpreter's
    final collections over the imported modules' objects (nibabel, pydicom, numpy) would
    cost about 0.1 s.  Callers passing a list (tests, scripts) keep a normal collector.
    """
    try:
        return _main(argv)
    finally:
        if argv is None:
            import gc

            gc.freeze()


def _main(argv: list[str] | None) -> int:
    import warnings

    from ..volumes.dispatch import series_choice
    from ..volumes.volume import VolumeWarning

    args = build_parser().parse_args(argv)

    def say(message, category, *_a, **_k):  # what a reader or writer chose or did: one plain line
        print(path_text(f"napari-liverct {args.command}: warning: {message}"), file=sys.stderr)

    try:
        with warnings.catch_warnings(), series_choice(args.series_uid):
            warnings.simplefilter("always", VolumeWarning)
            plain = warnings.showwarning
            warnings.showwarning = lambda m, c, *a, **k: (
                say(m, c) if issubclass(c, VolumeWarning) else plain(m, c, *a, **k)
            )
            return int(args.handler(args) or 0)
    except (ValueError, OSError, RuntimeError) as exc:
        print(path_text(f"napari-liverct {args.command}: error: {exc}"), file=sys.stderr)
        return 2  # exitcodes.USAGE
    except KeyboardInterrupt:
        print(f"napari-liverct {args.command}: interrupted", file=sys.stderr)
        return 130  # exitcodes.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a user sees a message, never a traceback
        print(
            path_text(f"napari-liverct {args.command}: internal error ({type(exc).__name__}: {exc}); please report it"),
            file=sys.stderr,
        )
        return 1  # exitcodes.INTERNAL
