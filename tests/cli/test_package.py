"""Packaging: one manifest, valid for npe2, and the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import napari_liverct

ROOT = Path(__file__).resolve().parents[2]


def test_top_level_manifest_is_the_shipped_one():
    shipped = Path(napari_liverct.__file__).with_name("napari.yaml")
    assert (ROOT / "napari.yaml").read_text() == shipped.read_text()


def test_npe2_validate_passes():
    npe2 = Path(sys.executable).with_name("npe2")
    out = subprocess.run([str(npe2), "validate", "napari-liverct"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout


def test_every_manifest_command_imports():
    import npe2

    pm = npe2.PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-liverct")
    for cmd in manifest.contributions.commands:
        module, attr = cmd.python_name.split(":")
        mod = __import__(module, fromlist=[attr])
        assert callable(getattr(mod, attr)), cmd.python_name


def test_console_script_help_lists_subcommands():
    exe = Path(sys.executable).with_name("napari-liverct")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    for sub in ("view", "stats", "crop", "snapshot", "survey"):
        assert sub in out.stdout


def test_cli_uses_the_paired_label_file(phantom_files):
    """`stats IMAGE` without --labels finds IMAGE_label.nii.gz, as the reader does."""
    import json

    import nibabel as nib
    import numpy as np

    img, lab = phantom_files
    exe = Path(sys.executable).with_name("napari-liverct")
    out = subprocess.run([str(exe), "stats", str(img), "--format", "json"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    labels = np.asanyarray(nib.load(lab).dataobj)
    assert [row["voxels"] for row in result["labels"]] == [int((labels == v).sum()) for v in (1, 2)]
    assert "using labels" in out.stderr and lab.name in out.stderr
