"""The package as a user installs it: sdist -> wheel -> a fresh virtual environment, no ``-e``.

The wheel is built from a copy of the project (``python -m build`` makes the sdist and then the
wheel from the sdist, so both must carry everything), installed with pip into a new venv whose
only napari-liverct is the wheel's, and the console script, ``npe2 validate`` and one ``report``
run there from a folder outside the repository. The dependencies are not downloaded again: the
venv sees the project environment's installed packages (minus napari-liverct's editable install)
through a ``site.addsitedir`` path file, and pip resolves the wheel's declared requirements against
them with ``--no-index``, so a missing or wrong requirement still fails the install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nibabel as nib
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ["pyproject.toml", "README.md", "LICENSE", "THIRD_PARTY_NOTICES.md"]


def _run(cmd, cwd, timeout=120):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PIP_")}
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel path, venv folder, a working folder outside the repository)."""
    pytest.importorskip("build", reason="the 'build' package (testing extra) makes the sdist and the wheel")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "project"
    src.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "LICENSES", src / "LICENSES")  # third-party licence texts (license-files)
    dist = tmp / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, src], cwd=src, timeout=300)
    (wheel,) = dist.glob("napari_liverct-*.whl")

    # the project environment's packages, without napari-liverct itself (its editable install)
    deps = tmp / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if name.startswith(("__editable__", "napari_liverct", "napari-liverct", "__pycache__", "pip")):
            continue
        (deps / entry.name).symlink_to(entry)
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    (site_packages / "_liverct_deps.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-index", wheel], cwd=tmp)
    work = tmp / "work"
    work.mkdir()
    return wheel, venv, work


def test_wheel_carries_the_licence_the_notices_and_the_package_data(installed):
    wheel, _venv, _work = installed
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        assert zf.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert zf.read(f"{info}/licenses/THIRD_PARTY_NOTICES.md") == (ROOT / "THIRD_PARTY_NOTICES.md").read_bytes()
        meta = zf.read(f"{info}/METADATA").decode()
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        for data in ("napari.yaml", "report/assets/report.css", "report/assets/report.js"):
            shipped = ROOT / "src" / "napari_liverct" / data
            assert zf.read(f"napari_liverct/{data}") == shipped.read_bytes(), data
    assert "License-Expression: BSD-3-Clause" in meta
    assert "License-File: LICENSE" in meta and "License-File: THIRD_PARTY_NOTICES.md" in meta
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()
    assert "napari-liverct = napari_liverct.cli:main" in entry_points
    assert "napari-liverct = napari_liverct:napari.yaml" in entry_points


def test_installed_package_is_the_wheels_not_the_source_tree(installed):
    _wheel, venv, work = installed
    py = venv / "bin" / "python"
    out = _run(
        [
            py,
            "-c",
            "import napari_liverct, importlib.metadata as m; print(napari_liverct.__file__); "
            "print(m.distribution('napari-liverct').read_text('direct_url.json') or '')",
        ],
        cwd=work,
    )
    path, direct_url = out.stdout.splitlines()[0], "\n".join(out.stdout.splitlines()[1:])
    assert Path(path).resolve().is_relative_to(venv.resolve()), path
    assert '"editable": true' not in direct_url


def test_console_script_npe2_validate_and_a_report_in_the_fresh_venv(installed, tmp_path):
    from napari_liverct.cli import build_parser
    from napari_liverct.volumes.phantom import make_phantom

    _wheel, venv, work = installed
    bin_ = venv / "bin"
    # every subcommand of the source tree's parser is in the installed script's help
    help_text = _run([bin_ / "napari-liverct", "--help"], cwd=work).stdout
    subparsers = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for command in subparsers.choices:
        assert command in help_text, command
    valid = _run([bin_ / "python", "-m", "npe2", "validate", "napari-liverct"], cwd=work)
    assert "valid" in valid.stdout

    # one report: its stylesheet and script are the installed package's data files, copied into the page
    root = tmp_path / "Task03_Liver"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    ph = make_phantom(shape=(64, 64, 24), spacing=(3.0, 3.0, 6.0), seed=0)
    nib.save(nib.Nifti1Image(ph.image, ph.affine), root / "imagesTr" / "liver_0.nii.gz")
    nib.save(nib.Nifti1Image(ph.labels, ph.affine), root / "labelsTr" / "liver_0.nii.gz")
    (root / "dataset.json").write_text(
        json.dumps(
            {
                "labels": {"0": "background", "1": "liver", "2": "cancer"},
                "modality": {"0": "CT"},
                "training": [{"image": "./imagesTr/liver_0.nii.gz", "label": "./labelsTr/liver_0.nii.gz"}],
            }
        )
    )
    out_dir = tmp_path / "report"
    _run([bin_ / "napari-liverct", "report", root, "--out", out_dir, "--workers", "1"], cwd=work, timeout=300)
    page = (out_dir / "index.html").read_text(encoding="utf-8")
    assets = next((venv / "lib").glob("python3*/site-packages")) / "napari_liverct" / "report" / "assets"
    for name in ("report.css", "report.js"):
        text = (assets / name).read_text(encoding="utf-8")
        assert len(text) > 500 and text.strip() in page, name
    assert "liver_0" in page
