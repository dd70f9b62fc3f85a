"""The exit codes of every ``napari-liverct`` command (one scheme, documented in the README).

====  ==================================================================================
0     done: every case (or the one file) was processed
1     internal error: a bug of napari-liverct (the message says "please report it");
      never used for a problem with the data
2     bad usage or input: wrong options, a folder or dataset.json that cannot be used,
      a single file that cannot be read; nothing (or nothing new) was written
3     some cases failed: the results of all the others were written; every failed case
      is listed with its reason on standard error and in the output
130   interrupted (Ctrl+C)
====  ==================================================================================
"""

from __future__ import annotations

import sys

from ..outputs.pathtext import path_text

__all__ = ["OK", "INTERNAL", "USAGE", "PARTIAL", "INTERRUPTED", "finish"]

OK = 0
INTERNAL = 1
USAGE = 2
PARTIAL = 3
INTERRUPTED = 130


def finish(command: str, failures: list[tuple[str, str]], n_cases: int) -> int:
    """List each failed case ``(case id, reason)`` on standard error; return 0 or 3."""
    for case_id, reason in failures:
        print(f"napari-liverct {command}: failed case {path_text(str(case_id))}: {path_text(reason)}", file=sys.stderr)
    if failures:
        print(
            f"napari-liverct {command}: {len(failures)} of {n_cases} cases failed; "
            f"the results of the others were written (exit code {PARTIAL})",
            file=sys.stderr,
        )
        return PARTIAL
    return OK
