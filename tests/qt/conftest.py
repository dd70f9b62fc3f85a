"""Every test in this folder needs a real napari viewer (OpenGL under Xvfb): mark it ``gui``."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.gui)
