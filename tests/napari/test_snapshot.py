"""The snapshot command: axial/coronal/sagittal/3D pictures through a lesion (real rendering under Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("own_napari_viewer")]


def _green(img):
    """Tumour colour (green dominant) mask of an RGB(A) screenshot."""
    rgb = np.asarray(img)[..., :3].astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (g > r + 25) & (g > b + 25)


def test_snapshot_cli_writes_slices_through_the_lesion(phantom_files, tmp_path, capsys, monkeypatch):
    from PIL import Image

    from napari_liverct._napari import scene3d
    from napari_liverct.cli import main

    img, _lab = phantom_files
    made = []
    real_setup = scene3d.setup_3d_view

    def spy(*args, **kwargs):
        view = real_setup(*args, **kwargs)
        made.append(sorted(type(ly).__name__ for ly in view.layers))
        return view

    monkeypatch.setattr(scene3d, "setup_3d_view", spy)
    rc = main(["snapshot", str(img), "--out", str(tmp_path / "shots"), "--lesion", "2"])
    assert rc == 0
    printed = capsys.readouterr().out.split()
    names = ["axial.png", "coronal.png", "sagittal.png", "3d.png"]
    assert [p.split("/")[-1] for p in printed] == names
    for name in names:
        arr = np.asarray(Image.open(tmp_path / "shots" / name))
        assert arr[..., :3].std() > 10, f"{name} is blank"
        green = _green(arr)
        # lesion 2 is small, so a yellow ring marks it (views are framed on the liver,
        # not centred on the lesion): tumour colour at the ring's centre
        rgb = arr[..., :3].astype(int)
        yellow = (rgb[..., 0] > 180) & (rgb[..., 1] > 150) & (rgb[..., 2] < 90)
        yellow[: _caption_rows(rgb)] = False  # the caption band's text is yellow too
        r, c = np.argwhere(yellow).mean(0).astype(int)
        box = green[r - 6 : r + 7, c - 6 : c + 7]
        assert box.sum() > 20, f"{name}: the slice does not pass through lesion 2"
    # issue 22.7: the 3D picture draws the labels as smooth surfaces (marching cubes,
    # Taubin smoothing), not as ray-cast label voxels (blocky steps)
    assert made == [["Image", "Surface", "Surface"]], made
    assert main(["snapshot", str(img), "--out", str(tmp_path / "x"), "--lesion", "7"]) == 2
    assert "lesion 7 does not exist" in capsys.readouterr().err


def _caption_rows(rgb):
    """Height of the caption band: top rows whose left margin is the band colour (20, 20, 24)."""
    band = np.abs(rgb[:, :4] - [20, 20, 24]).max(axis=(1, 2)) <= 2
    return int(np.argmin(band)) if not band.all() else len(band)


def _big_lesion_pair(folder):
    """The phantom with one ~112 mm lesion (a 56 mm ball inside the liver)."""
    import nibabel as nib

    from napari_liverct.volumes.phantom import make_phantom

    ph = make_phantom(shape=(256, 256, 80), spacing=(1.2, 1.2, 2.5), seed=3)
    lab, img = ph.labels.copy(), ph.image.copy()
    ijk = np.indices(lab.shape).reshape(3, -1).T
    ras = ijk @ ph.affine[:3, :3].T + ph.affine[:3, 3]
    liver = lab > 0
    ball = (np.linalg.norm(ras - ras[liver.ravel()].mean(0), axis=1) <= 56).reshape(lab.shape) & liver
    lab[lab == 2] = 1
    lab[ball], img[ball] = 2, 20
    folder.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(img, ph.affine), folder / "liver_big.nii.gz")
    nib.save(nib.Nifti1Image(lab, ph.affine), folder / "liver_big_label.nii.gz")
    return folder / "liver_big.nii.gz"


def test_snapshot_frames_a_large_lesion_and_keeps_the_caption_inside(tmp_path, capsys):
    """Issue 10: a ~112 mm lesion filled ~110 px of a 663 x 829 PNG; the caption was cut on the left."""
    from PIL import Image

    from napari_liverct.cli import main

    img = _big_lesion_pair(tmp_path / "big")
    assert main(["snapshot", str(img), "--out", str(tmp_path / "shots")]) == 0
    capsys.readouterr()
    for name in ("axial", "coronal", "sagittal", "3d"):
        arr = np.asarray(Image.open(tmp_path / "shots" / f"{name}.png"))[..., :3].astype(int)
        h, w = arr.shape[:2]
        # caption band: yellow text on a dark band at the top, clear of the left and right edges
        yellow = (arr[..., 0] > 180) & (arr[..., 1] > 150) & (arr[..., 2] < 90)
        band_rows = np.flatnonzero(yellow.any(axis=1))
        assert len(band_rows) and band_rows[0] < 40, f"{name}: no caption at the top"
        cols = np.flatnonzero(yellow[: band_rows[-1] + 1].any(axis=0))
        assert cols[0] >= 3 and cols[-1] <= w - 4, f"{name}: caption touches the image edge (cut)"
        if name == "3d":
            continue
        green = _green(arr)
        rows, cols = np.flatnonzero(green.any(axis=1)), np.flatnonzero(green.any(axis=0))
        extent = max(rows[-1] - rows[0], cols[-1] - cols[0])
        # the 112 mm lesion spans at least 40 % of the picture's smaller side (was ~110 px of 663)
        assert extent >= 0.4 * min(h, w), f"{name}: lesion only {extent} px in a {w} x {h} picture"
        assert rows[0] > band_rows[-1] and rows[-1] < h - 1 and cols[0] > 0 and cols[-1] < w - 1, (
            f"{name}: the lesion is cut by the frame"
        )
