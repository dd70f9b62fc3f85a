"""House rules that hold for the whole package (static checks, no viewer).

The limits of issue 18: no module over 400 lines, no ``__init__.py`` over 80 lines,
``centroid_world`` (the napari face's world centroid) in at most one module, every use of a
napari private in ``_napari/compat.py``, import-linter and ruff clean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import napari_liverct

PACKAGE = Path(napari_liverct.__file__).parent
ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_INIT_LINES = 80


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_over_400_lines():
    over = {p.relative_to(PACKAGE).as_posix(): n for p in _modules() if (n := _lines(p)) > MAX_MODULE_LINES}
    assert over == {}, f"modules over {MAX_MODULE_LINES} lines (split them): {over}"


def test_no_init_over_80_lines():
    over = {
        p.relative_to(PACKAGE).as_posix(): n
        for p in _modules()
        if p.name == "__init__.py" and (n := _lines(p)) > MAX_INIT_LINES
    }
    assert over == {}, f"__init__.py files over {MAX_INIT_LINES} lines (logic belongs in named modules): {over}"


def test_centroid_world_lives_in_one_module():
    users = [p.relative_to(PACKAGE).as_posix() for p in _modules() if "centroid_world" in p.read_text(encoding="utf-8")]
    assert len(users) <= 1, f"centroid_world in {len(users)} modules: {users}"


def test_no_module_but_the_compat_one_touches_napari_privates():
    bad = []
    for path in _modules():
        if path.relative_to(PACKAGE).as_posix() == "_napari/compat.py":
            continue
        text = path.read_text()
        for needle in (
            "_qt_viewer",
            "_qt_window",
            "_scene_canvas",
            "layer_to_visual",
            "_type_string",
            "_light_direction",
            "__wrapped__",
        ):
            if needle in text:
                bad.append(f"{path.name}: {needle}")
    assert bad == []


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (testing extra)")
    return found


def _run(cmd) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE.parent), env.get("PYTHONPATH")) if p)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_import_linter_contracts_kept():
    out = _run([_tool("lint-imports")])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_ruff_check_and_format_clean():
    ruff = _tool("ruff")
    dirs = [d for d in ("src", "tests", "benchmarks", "scripts") if (ROOT / d).is_dir()]
    check = _run([ruff, "check", *dirs])
    assert check.returncode == 0, check.stdout[-3000:]
    fmt = _run([ruff, "format", "--check", *dirs])
    assert fmt.returncode == 0, fmt.stdout[-3000:]
