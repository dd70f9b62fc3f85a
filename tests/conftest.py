"""Shared fixtures: synthetic NIfTI files and a real napari viewer under Xvfb.

GUI tests are marked ``gui``; they need OpenGL, which ``QT_QPA_PLATFORM=offscreen``
lacks here, so a virtual X display (Xvfb + Mesa) is started when there is none.
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

os.environ.pop("QT_QPA_PLATFORM", None) if os.environ.get("QT_QPA_PLATFORM") == "offscreen" else None


def _network_cache_folder() -> str:
    """Where the suite keeps the real networks' outputs (``NAPARI_LIVERCT_NETWORK_CACHE``,
    :mod:`napari_liverct.segment.netcache`): ``LIVERCT_TEST_NETWORK_CACHE`` names a folder,
    or ``session`` for a new empty one (a cold run: each distinct pass still runs once);
    by default ~/.cache/napari-liverct/network-cache, shared by sessions and test processes
    and pruned of entries unused for 30 days."""
    import tempfile
    import time
    from pathlib import Path

    from napari_liverct.segment.weights import data_dir

    choice = os.environ.get("LIVERCT_TEST_NETWORK_CACHE", "")
    if choice == "session":
        return tempfile.mkdtemp(prefix="liverct-network-cache-")
    folder = Path(choice) if choice else data_dir() / "network-cache"
    for old in folder.glob("*.npy") if folder.is_dir() else ():
        if time.time() - old.stat().st_mtime > 30 * 86400:
            old.unlink(missing_ok=True)
    return str(folder)


#: The test files that keep one worker busy longest (the real networks uncached, the TensorFlow
#: oracle, the main job, the SIGKILL loops, the 3D renders; --durations of a full run): collected
#: first, so that pytest-xdist starts them first and the two workers finish together.
HEAVY_FIRST = (
    "tests/core/test_segment.py",
    "tests/core/test_segment_keras.py",
    "tests/qt/test_main_job_screenshots.py",
    "tests/cli/test_kill.py",
    "tests/qt/test_view3d_defects.py",
    "tests/core/test_refine.py",
    "tests/qt/test_correct_widget.py",
    "tests/qt/test_view3d_widget.py",
    "tests/qt/test_one_error_once.py",
    "tests/cli/test_segment_cli.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: files keep their order


def pytest_configure(config):
    from napari_liverct.cli.xvfb import ensure_display
    from napari_liverct.segment.netcache import ENV

    # every forward pass of the real networks runs once per distinct input, in this process
    # and in the CLI and viewer subprocesses the tests start (they inherit the variable)
    os.environ[ENV] = _network_cache_folder()

    try:
        ensure_display()
    except RuntimeError as exc:  # no Xvfb: GUI tests will fail loudly, pure tests still run
        print(f"[conftest] {exc}")


@pytest.fixture
def write_nifti_file(tmp_path):
    """Factory: write ``data`` with ``affine`` to ``tmp_path/name`` and return the path."""

    def _write(name, data, affine=None, **header_fields):
        affine = np.eye(4) if affine is None else np.asarray(affine, float)
        img = nib.Nifti1Image(np.asarray(data), affine)
        for key, value in header_fields.items():
            img.header[key] = value
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(img, path)
        return path

    return _write


@pytest.fixture(scope="session")
def small_phantom():
    """A small phantom (fast) with the same anatomy as the sample data."""
    from napari_liverct.volumes.phantom import make_phantom

    return make_phantom(shape=(160, 160, 40), spacing=(2.2, 2.2, 5.0), seed=1)


@pytest.fixture(scope="session")
def tiny_phantom():
    """A tiny phantom (96 x 96 x 24 at 3 x 3 x 6 mm): a stand-in draft of it takes seconds."""
    from napari_liverct.volumes.phantom import make_phantom

    return make_phantom(shape=(96, 96, 24), spacing=(3.0, 3.0, 6.0), seed=1)


@pytest.fixture
def phantom_files(tmp_path, small_phantom):
    """``liver.nii.gz`` and ``liver_label.nii.gz`` of the small phantom."""
    ph = small_phantom
    img = tmp_path / "liver.nii.gz"
    lab = tmp_path / "liver_label.nii.gz"
    nib.save(nib.Nifti1Image(ph.image, ph.affine), img)
    nib.save(nib.Nifti1Image(ph.labels, ph.affine), lab)
    return img, lab


@pytest.fixture
def standin_calls(monkeypatch):
    """Stand-in networks for tests about what is done with a draft (tests/standin.py: the liver
    network gives a box, the lesion network "tumour" wherever a tile reaches); returns the list
    of the models called, in order."""
    from napari_liverct.segment import pipeline as pl
    from standin import lesion_constant, liver_box

    seen = []

    def network(model, patch, monitor=None):
        seen.append(model)
        return liver_box() if model == "liver" else lesion_constant(0.9)

    monkeypatch.setattr(pl, "run_network", network)
    return seen


@pytest.fixture
def own_napari_viewer(mock_app_model):
    """For tests whose code under test makes its own ``napari.Viewer`` (the CLI's ``snapshot``
    run in-process): a fresh napari app model for the test, the plugin system initialised
    into it.  Without it, a ``make_napari_viewer`` test in between (which clears napari's
    once-only plugin initialisation) makes the next own viewer register the plugin's
    actions a second time in the process's app model ("already registered")."""
    from napari._qt._qapp_model.qactions import init_qactions
    from napari.plugins import _initialize_plugins

    _initialize_plugins.cache_clear()
    init_qactions.cache_clear()
    yield mock_app_model
