"""The PyTorch networks against pyliverlesionseg's own Keras networks (issue 17).

The oracle runs in a separate virtual environment with TensorFlow 2.15 (Keras 2 behaviour;
pyliverlesionseg itself only installs on Python 3.6 / TensorFlow 1.12): the package's own
``create_unet_like_model`` builds each network and ``load_weights`` reads the wheel's HDF5
file, as ``unet_liver_predict`` / ``unet_lesion_predict`` do (tests/_keras_oracle.py).
The first run on a machine builds ``~/.cache/napari-liverct/venvs/tf215-<hash>`` (tests/oracle_venv.py) (``tensorflow-cpu==2.15.1``,
``numpy<2``, ``h5py``; about 600 MB, a few minutes); when that is impossible the test is
skipped with the reason.

Tolerances: thresholded at 0.5 the outputs agree with Dice >= 0.99, probabilities within
0.05 at every voxel and 1e-3 on average (measured: liver 0.033 / 2.6e-4, Dice 0.997;
synthetic lesion tile 0.009 / 5e-5, Dice 0.9996).  The residual is float32 rounding
(TensorFlow and PyTorch sum in different orders).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.segment import pipeline as pl
from napari_liverct.segment.preprocess import crop_box, to_canonical
from oracle_venv import oracle_python
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, data_dir, real

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # the first run builds the TensorFlow venv

ORACLE = Path(__file__).resolve().parents[1] / "_keras_oracle.py"
MAX_ABS, MEAN_ABS, MIN_DICE = 0.05, 1e-3, 0.99


@pytest.fixture(scope="module")
def tf_python():
    return oracle_python("tf215", [["tensorflow-cpu==2.15.1", "numpy<2", "h5py"]], "import tensorflow, h5py")


def dice(a, b) -> float:
    return 2.0 * (a & b).sum() / max(1, a.sum() + b.sum())


def _inputs():
    """Fixed inputs: the real CT's liver patch, the real CT's lesion tile holding the most
    liver (TotalSegmentator's liver as the mask), and a fixed synthetic lesion tile (whose
    output has many voxels above 0.5, so the Dice is meaningful)."""
    img = nib.load(real(EXAMPLE_CT))
    can = to_canonical(np.asanyarray(img.dataobj), img.affine)
    liver_patch, _, _ = pl.liver_patch(can.data, can.spacing, crop_box(can.data, can.spacing))
    seg = to_canonical(np.asanyarray(nib.load(real(EXAMPLE_SEG_FAST)).dataobj), img.affine).data == 5
    les_img, dil, _, _ = pl.lesion_grid(can, seg)
    tiles = pl.lesion_tiles(les_img.shape, dil)
    best = max(tiles, key=lambda t: dil[tuple(slice(max(s, 0), s + o) for s, o in zip(t, pl.LESION_OUT))].sum())
    rng = np.random.default_rng(0)
    synthetic = np.clip(rng.normal(0, 0.3, pl.LESION_IN), -0.5, 0.5).astype(np.float32)
    return [
        ("liver", "real liver patch", liver_patch),
        ("lesion", "real lesion tile", pl.tile_input(les_img, best)),
        ("lesion", "synthetic lesion tile", synthetic),
    ]


def test_torch_networks_equal_the_keras_originals(tf_python, tmp_path):
    # our side may come from the suite's network-output cache: an entry is keyed by the
    # weights, the networks' code (net.py, runtime.py), the runtime and the input bytes,
    # so it is this code's output on this input (tests/core/test_netcache.py)
    real("pyliverlesionseg/pyliverlesionseg/trained_models")  # the unpacked wheel
    cases = _inputs()
    args = []
    for k, (model, _, x) in enumerate(cases):
        np.save(tmp_path / f"in{k}.npy", x)
        args += [model, str(tmp_path / f"in{k}.npy"), str(tmp_path / f"out{k}.npy")]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS="2")
    proc = subprocess.run(
        [str(tf_python), str(ORACLE), str(data_dir() / "pyliverlesionseg"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for k, (model, what, x) in enumerate(cases):
        ref = np.load(tmp_path / f"out{k}.npy")
        got = pl.run_network(model, x)
        assert got.shape == ref.shape
        diff = np.abs(got - ref)
        d = dice(got > 0.5, ref > 0.5)
        print(f"{what}: max |diff| {diff.max():.2e}, mean {diff.mean():.2e}, Dice {d:.4f}, {(ref > 0.5).sum()} voxels")
        assert diff.max() <= MAX_ABS and diff.mean() <= MEAN_ABS, what
        if (ref > 0.5).sum() > 100:
            assert d >= MIN_DICE, what
    assert (np.load(tmp_path / "out0.npy") > 0.5).sum() > 10_000  # the liver patch has a liver
