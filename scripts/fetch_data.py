"""Fetch the real medical files and model weights the tests, the benchmarks and the
segmentation need, from PyPI through pip, once, with a sha256 check and a cache.

Nothing downloads at run time: the package and the tests only read the cache that
this script fills (``$LIVERCT_DATA``, default ``~/.cache/napari-liverct``).

- ``totalsegmentator-2.18.0.tar.gz`` (Apache-2.0): its ``tests/reference_files``
  hold a real abdominal CT (``example_ct.nii.gz``), its model segmentations, a small
  CT and MR, a DICOM series and chest crops.
- ``pyliverlesionseg-0.3`` wheel (Apache-2.0, KU Leuven): the liver and liver-lesion
  Keras weights (HDF5), converted here once with h5py into safetensors
  (``weights/pyliverlesionseg-0.3-{liver,lesion}.safetensors``), the only form
  ``napari_liverct.segment`` reads.
- when OpenVINO is installed, the lesion network (both with $NAPARI_LIVERCT_RUNTIME=openvino)
  converted to OpenVINO IR and checked against torch (``napari_liverct.segment.runtime.prepare``,
  1.5-2 minutes, once), so a user's first click or draft does not pay for it.

Run by ``scripts/setup.sh``; safe to run again (it checks the hashes and skips).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# the package defines the cache folder and the file hash; importable before it is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from napari_liverct.segment.weights import convert_all, data_dir, sha256_file  # noqa: E402

ARCHIVES = {
    "totalsegmentator-2.18.0.tar.gz": {
        "sha256": "5d4223ef93973bc36d710869d11e7742ead2c154c72f7f9edcaaadd5b6c4bd03",
        "pip": ["--no-binary=:all:", "totalsegmentator==2.18.0"],
    },
    "pyliverlesionseg-0.3-py3-none-any.whl": {
        "sha256": "ffe1576aefff5922ea8d1cfa2c50864cda97798798559542b9517689fd290cb8",
        "pip": ["--python-version", "3.6", "--only-binary=:all:", "pyliverlesionseg==0.3"],
    },
    # real chest/breast/brain CTs and MRs with tumour labels (NRRD), written by 3D Slicer;
    # by URL: the 3.1.0 sdist's metadata says 3.0.1a1, so a version pin is refused
    "pyradiomics-3.1.0.tar.gz": {
        "sha256": "24722c962a6bbd09bc39c1c67dbffe92435f9692a421fabaae8a6b4511eb48e4",
        "pip": [
            "--no-binary=pyradiomics",
            "pyradiomics @ https://files.pythonhosted.org/packages/03/c1/"
            "20fc2c50ab1e3304da36d866042a1905a2b05a1431ece35448ab6b4578f2/pyradiomics-3.1.0.tar.gz",
        ],
    },
}


def fetch(name: str, spec: dict, root: Path) -> Path:
    target = root / "archives" / name
    if target.exists() and sha256_file(target) == spec["sha256"]:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, *spec["pip"]]
        subprocess.run(cmd, check=True)
        got = Path(tmp) / name
        if not got.exists():
            raise SystemExit(f"[fetch_data] pip did not produce {name}: {sorted(os.listdir(tmp))}")
        digest = sha256_file(got)
        if digest != spec["sha256"]:
            raise SystemExit(f"[fetch_data] sha256 mismatch for {name}: {digest} != {spec['sha256']}")
        os.replace(got, target)
    return target


def extract(archive: Path, members_prefix: str, dest: Path) -> None:
    """Extract the members under ``members_prefix`` into ``dest`` (atomically, once)."""
    stamp = dest / ".complete"
    if stamp.exists() and stamp.read_text() == sha256_file(archive):
        return
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        if archive.name.endswith(".whl"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if info.filename.startswith(members_prefix) and not info.is_dir():
                        rel = info.filename[len(members_prefix) :]
                        out = tmp / rel
                        out.parent.mkdir(parents=True, exist_ok=True)
                        with zf.open(info) as src, open(out, "wb") as dst:
                            shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    if member.name.startswith(members_prefix) and member.isfile():
                        rel = member.name[len(members_prefix) :]
                        out = tmp / rel
                        out.parent.mkdir(parents=True, exist_ok=True)
                        with tf.extractfile(member) as src, open(out, "wb") as dst:
                            shutil.copyfileobj(src, dst)
        (tmp / ".complete").write_text(sha256_file(archive))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def convert_weights(wheel_dir: Path) -> None:
    """Convert the wheel's two Keras HDF5 files once into the safetensors cache the package reads."""
    for model, path in convert_all(wheel_dir).items():
        print(f"[fetch_data] {model} weights: {path}")


def prepare_runtimes() -> None:
    """Convert the networks OpenVINO will run to IR and run the agreement check (skipped,
    with a line saying so, when OpenVINO is not installed or $NAPARI_LIVERCT_RUNTIME=torch)."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        print("[fetch_data] OpenVINO is not installed: the networks will run in torch")
        return
    from napari_liverct.segment.pipeline import LESION_IN, LIVER_IN
    from napari_liverct.segment.runtime import AUTO_MODELS, prepare, requested

    mode = requested()
    if mode == "torch":
        print("[fetch_data] $NAPARI_LIVERCT_RUNTIME=torch: no OpenVINO conversion")
        return
    for model, shape in (("liver", LIVER_IN), ("lesion", LESION_IN)):
        if mode == "auto" and model not in AUTO_MODELS:
            continue
        info = prepare(model, shape)
        verdict = "agrees: OpenVINO will run it" if info["agrees"] else "differs: torch will run it"
        print(
            f"[fetch_data] {model} network in OpenVINO: largest difference from torch "
            f"{info['max_difference']:.2g} (tolerance {info['tolerance']}), {verdict}"
        )


def main() -> int:
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    ts = fetch("totalsegmentator-2.18.0.tar.gz", ARCHIVES["totalsegmentator-2.18.0.tar.gz"], root)
    extract(ts, "totalsegmentator-2.18.0/tests/reference_files/", root / "totalsegmentator")
    whl = fetch("pyliverlesionseg-0.3-py3-none-any.whl", ARCHIVES["pyliverlesionseg-0.3-py3-none-any.whl"], root)
    extract(whl, "", root / "pyliverlesionseg")
    convert_weights(root / "pyliverlesionseg")
    prepare_runtimes()
    rad = fetch("pyradiomics-3.1.0.tar.gz", ARCHIVES["pyradiomics-3.1.0.tar.gz"], root)
    extract(rad, "pyradiomics-3.1.0/data/", root / "pyradiomics")
    print(f"[fetch_data] real files and weights ready in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
