"""``python -m napari_liverct.cli``: the ``napari-liverct`` console script."""

import sys

from . import main

sys.exit(main())
