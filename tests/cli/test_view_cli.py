"""``napari-liverct view --example --draft`` (the main job, issue 22.7): refusals before any
window opens, each a message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess

from clirun import CLI_ENV, cli_command


def _run(*args, env=None):
    return subprocess.run(cli_command(*args), capture_output=True, text=True, env=env or CLI_ENV, timeout=120)


def test_example_without_the_fetched_files_names_the_command(tmp_path):
    env = {**CLI_ENV, "LIVERCT_DATA": str(tmp_path / "empty")}
    proc = _run("view", "--example", "--screenshots", str(tmp_path / "shots"), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "example_ct.nii.gz" in proc.stderr and "fetch_data.py" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "shots").exists()


def test_draft_needs_the_widgets(tmp_path):
    proc = _run("view", "--draft", "--no-widgets", "--screenshots", str(tmp_path / "shots"))
    assert proc.returncode == 2 and "--no-widgets" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_draft_without_weights_names_the_command(tmp_path, phantom_files):
    env = {**CLI_ENV, "LIVERCT_DATA": str(tmp_path / "empty")}
    img, _lab = phantom_files
    proc = _run("view", str(img), "--draft", "--screenshots", str(tmp_path / "shots"), env=env)
    assert proc.returncode != 0 and "fetch_data.py" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
