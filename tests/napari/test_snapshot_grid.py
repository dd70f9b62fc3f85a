"""``snapshot`` applies the grid rule of ``stats`` and ``crop`` (issue 16): labels on another grid
are refused naming both files; labels stored flipped/permuted are the same grid (real rendering
under Xvfb)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.cli import main
from realdata import EXAMPLE_CT, real

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("own_napari_viewer")]


def _error_text(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    prefix = f"napari-liverct {command}: error: "
    assert err.startswith(prefix) and "Traceback" not in err, err
    return err[len(prefix) :]


@pytest.mark.parametrize(
    "mask",
    [
        "totalsegmentator/aorta_report/test_result/models/aorta.nii.gz",
        "totalsegmentator/pulmonary_report/models/heart.nii.gz",
    ],
)
def test_snapshot_refuses_labels_on_another_grid(mask, tmp_path, capsys):
    """A chest-CT mask over the abdominal CT: refused naming both files, no picture written."""
    from napari_liverct.geometry.grids import grid_mismatch

    ct, m = real(EXAMPLE_CT), real(mask)
    a, b = nib.load(ct), nib.load(m)
    assert grid_mismatch(a.shape, a.affine, b.shape, b.affine) is not None  # the oracle: really other grids
    out = tmp_path / "shots"
    capsys.readouterr()
    assert main(["snapshot", str(ct), "--labels", str(m), "--out", str(out)]) == 2
    msg = _error_text(capsys, "snapshot")
    assert str(ct) in msg and str(m) in msg and "not on the same grid" in msg
    assert not out.exists() or not any(out.iterdir())


def test_snapshot_views_flipped_labels_on_the_image_grid(tmp_path, capsys):
    """The real segmentation stored with axes flipped and permuted (same voxel centres) is the
    same grid: the snapshot is drawn, CT and labels (not a mask on black)."""
    from PIL import Image

    ct, seg = real("totalsegmentator/example_ct_sm.nii.gz"), real("totalsegmentator/example_seg.nii.gz")
    img = nib.load(seg)
    ornt = np.array([[1, -1], [0, 1], [2, -1]])  # swap i/j, flip two axes
    moved = img.as_reoriented(ornt)
    assert moved.shape != img.shape
    flipped = tmp_path / "flipped_seg.nii.gz"
    nib.save(moved, flipped)
    out = tmp_path / "shots"
    capsys.readouterr()
    assert main(["snapshot", str(ct), "--labels", str(flipped), "--out", str(out)]) == 0
    files = capsys.readouterr().out.split()
    assert len(files) == 4
    ax = np.asarray(Image.open(out / "axial.png"))[..., :3].astype(int)
    assert ax.std() > 20  # the CT is drawn, not black
