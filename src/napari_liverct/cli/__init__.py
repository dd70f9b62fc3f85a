"""``napari-liverct`` command line: one module per subcommand, each with ``add_parser`` and ``run``.

Every subcommand calls the same core functions as the widgets.  Heavy modules
(napari, Qt, torch, MONAI) are imported only by the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import sys

from ..pathtext import path_text
from . import compare, crop, evaluate, report, response, segment, snapshot, stats, survey, view
from ._options import compare_options

__all__ = ["main", "build_parser", "compare_options", "COMMANDS"]

# in the order of ``napari-liverct --help``
COMMANDS = (view, stats, response, crop, snapshot, survey, compare, evaluate, report, segment)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all subcommands."""
    p = argparse.ArgumentParser(
        prog="napari-liverct",
        description="Open, measure, crop and inspect liver CT NIfTI volumes (napari plugin).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``napari-liverct`` console script."""
    args = build_parser().parse_args(argv)
    try:
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
