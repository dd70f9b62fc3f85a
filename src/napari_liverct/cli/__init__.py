"""``napari-liverct`` command line: one module per subcommand, each with ``add_parser`` and ``run``.

Every subcommand calls the same core functions as the widgets.  Heavy modules
(napari, Qt, torch, MONAI) are imported only by the subcommand that needs them.
The parser and the entry point are in ``main.py``.
"""

from __future__ import annotations

from ._options import compare_options
from .main import COMMANDS, build_parser, main

__all__ = ["main", "build_parser", "compare_options", "COMMANDS"]
