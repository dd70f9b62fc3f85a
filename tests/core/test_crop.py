"""Foreground crop: MONAI CropForegroundd parity, geometry, orientation helper, CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from nibabel import orientations as nio
from nibabel.affines import apply_affine

from napari_liverct.cli import main
from napari_liverct.crop import foreground as crop_mod
from napari_liverct.crop.foreground import (
    EmptyForegroundError,
    apply_box,
    box_is_empty,
    crop_foreground,
    foreground_box,
    parse_per_axis,
)
from napari_liverct.crop.plan import disk_box_to_display_box

monai_transforms = pytest.importorskip("monai.transforms")


def _monai(arrays: dict, source_key: str, **kw) -> dict:
    """Run MONAI's own CropForegroundd on channel-first copies of ``arrays``."""
    keys = list(arrays)
    t = monai_transforms.CropForegroundd(keys=keys, source_key=source_key, **kw)
    out = t({k: v[None] for k, v in arrays.items()})
    res = {k: np.asarray(out[k])[0] for k in keys}
    return {"start": np.asarray(out["foreground_start_coord"]), "end": np.asarray(out["foreground_end_coord"]), **res}


def _random_volume(rng, shape, fill=0.3, touch_border=False, dtype=np.int16, low=-1000):
    vol = np.full(shape, low, dtype)
    lo = [int(rng.integers(0, s)) for s in shape]
    hi = [int(rng.integers(a, s)) + 1 for a, s in zip(lo, shape)]
    if touch_border:
        ax = int(rng.integers(0, 3))
        if rng.random() < 0.5:
            lo[ax] = 0
        else:
            hi[ax] = shape[ax]
    sub = vol[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    sub[...] = np.where(rng.random(sub.shape) < fill, rng.integers(1, 300, sub.shape), low)
    return vol


def _random_params(rng):
    r = rng.random
    margin = (
        int(rng.integers(0, 5))
        if r() < 0.4
        else float(rng.choice([0.5, 2.5, 3.7]))
        if r() < 0.5
        else tuple(int(v) for v in rng.integers(0, 5, 3))
    )
    k = int(rng.integers(0, 9)) if r() < 0.5 else tuple(int(v) for v in rng.integers(1, 9, 3))
    return {"margin": margin, "k_divisible": k, "allow_smaller": bool(r() < 0.5)}


@pytest.mark.parametrize("seed", range(12))
def test_box_and_crop_match_monai_threshold_rule(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(3, 24, 3))
    image = _random_volume(rng, shape, touch_border=seed % 3 == 0)
    if seed % 2:
        image = np.asfortranarray(image)  # NIfTI arrays are Fortran-ordered
    labels = (image > 100).astype(np.uint8)
    t = float(rng.choice([-500.0, 0.0, 99.5]))
    for params in (_random_params(rng) for _ in range(4)):
        ref = _monai({"image": image, "labels": labels}, "image", select_fn=lambda x: x > t, **params)
        start, end = foreground_box(image, threshold=t, **params)
        np.testing.assert_array_equal(start, ref["start"])
        np.testing.assert_array_equal(end, ref["end"])
        if box_is_empty(start, end):
            continue
        ours = crop_foreground({"image": image, "labels": labels}, np.eye(4), "image", threshold=t, **params)
        np.testing.assert_array_equal(ours.arrays["image"], ref["image"])
        np.testing.assert_array_equal(ours.arrays["labels"], ref["labels"])


@pytest.mark.parametrize("seed", range(8))
def test_box_matches_monai_default_and_labels_rule(seed):
    rng = np.random.default_rng(100 + seed)
    shape = tuple(int(v) for v in rng.integers(2, 20, 3))
    image = _random_volume(rng, shape, touch_border=True, low=0)
    labels = np.zeros(shape, np.uint8)
    labels[image > 150] = 2
    for params in (_random_params(rng) for _ in range(4)):
        for key in ("image", "labels"):
            ref = _monai({"image": image, "labels": labels}, key, **params)
            if box_is_empty(ref["start"], ref["end"]):
                with pytest.raises(EmptyForegroundError):
                    crop_foreground({"image": image, "labels": labels}, np.eye(4), key, **params)
                continue
            ours = crop_foreground({"image": image, "labels": labels}, np.eye(4), key, **params)
            np.testing.assert_array_equal(ours.start, ref["start"])
            np.testing.assert_array_equal(ours.end, ref["end"])
            np.testing.assert_array_equal(ours.arrays["image"], ref["image"])
            np.testing.assert_array_equal(ours.arrays["labels"], ref["labels"])


def test_allow_smaller_default_matches_monai():
    import inspect

    ref = inspect.signature(monai_transforms.CropForegroundd).parameters["allow_smaller"].default
    assert inspect.signature(foreground_box).parameters["allow_smaller"].default is ref


def test_empty_foreground_is_the_monai_zero_box_and_crop_says_so():
    vol = np.full((6, 7, 8), -1000, np.int16)
    ref = _monai({"image": vol}, "image", margin=2, k_divisible=4)
    start, end = foreground_box(vol, margin=2, k_divisible=4)
    np.testing.assert_array_equal(start, ref["start"])
    np.testing.assert_array_equal(end, ref["end"])
    assert ref["image"].size == 0 and box_is_empty(start, end)
    with pytest.raises(EmptyForegroundError, match=r"ct\.nii\.gz: empty foreground.*value > 0"):
        crop_foreground({"image": vol}, np.eye(4), "image", source_name="ct.nii.gz")


def test_slab_scan_equals_plain_numpy(monkeypatch):
    """Many small slabs, both memory orders, and a channel axis: same box as np.argwhere."""
    rng = np.random.default_rng(7)
    monkeypatch.setattr(crop_mod, "SLAB_VOXELS", 50)
    for order in ("C", "F"):
        vol = np.full((17, 23, 11), -1000, np.int16, order=order)
        for _ in range(4):  # a few scattered foreground voxels
            vol[tuple(int(rng.integers(0, s)) for s in vol.shape)] = 40
        idx = np.argwhere(vol > -500)
        start, end = foreground_box(vol, threshold=-500)
        np.testing.assert_array_equal(start, idx.min(0))
        np.testing.assert_array_equal(end, idx.max(0) + 1)
        s2, e2 = foreground_box(vol, select_fn=lambda x: x > -500)
        np.testing.assert_array_equal(s2, start)
        np.testing.assert_array_equal(e2, end)
    two = np.stack([np.zeros((9, 9, 9)), np.zeros((9, 9, 9))], axis=-1)
    two[1, 2, 3, 0] = 1
    two[7, 6, 5, 1] = 1
    s, e = foreground_box(two)
    assert s.tolist() == [1, 2, 3] and e.tolist() == [8, 7, 6]


def test_nan_is_never_foreground():
    vol = np.zeros((5, 5, 5), np.float32)
    vol[1, 1, 1] = 5.0
    vol[3, 3, 3] = np.nan
    vol[3, 0, 0] = 2.0
    start, end = foreground_box(vol)
    ref = _monai({"image": vol}, "image")
    np.testing.assert_array_equal(start, ref["start"])
    np.testing.assert_array_equal(end, ref["end"])


def test_apply_box_keeps_world_positions_and_is_a_view():
    rng = np.random.default_rng(3)
    aff = np.eye(4)
    aff[:3, :3] = rng.normal(size=(3, 3))
    aff[:3, 3] = rng.normal(size=3) * 100
    data = np.asfortranarray(rng.integers(0, 100, (20, 30, 10)).astype(np.int16))
    start, end = np.array([3, 5, 2]), np.array([15, 29, 9])
    view, new_aff = apply_box(data, aff, start, end)
    assert np.shares_memory(view, data)
    idx = np.argwhere(np.ones(view.shape, bool))
    np.testing.assert_allclose(apply_affine(new_aff, idx), apply_affine(aff, idx + start), atol=1e-6)
    np.testing.assert_array_equal(view[tuple(idx.T)], data[tuple((idx + start).T)])


def test_apply_box_outside_pads_like_monai():
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) + 1
    start, end = np.array([-2, 1, -1]), np.array([3, 7, 6])
    ours, new_aff = apply_box(data, np.eye(4), start, end)
    ref = monai_transforms.SpatialCrop(roi_start=[0, 1, 0], roi_end=[3, 5, 6])(data[None])
    padded = np.pad(np.asarray(ref)[0], [(2, 0), (0, 2), (1, 0)])
    np.testing.assert_array_equal(ours, padded)
    np.testing.assert_allclose(new_aff[:3, 3], start)
    assert not np.shares_memory(ours, data)
    with pytest.raises(EmptyForegroundError):
        apply_box(data, np.eye(4), [0, 0, 0], [0, 0, 0])


def test_margin_and_k_divisible_validation():
    vol = np.zeros((4, 4, 4))
    vol[1, 1, 1] = 1
    with pytest.raises(ValueError, match="negative"):
        foreground_box(vol, margin=-1)
    with pytest.raises(ValueError, match="k_divisible"):
        foreground_box(vol, k_divisible=(2, 2))
    with pytest.raises(ValueError, match="either"):
        foreground_box(vol, threshold=1, select_fn=lambda x: x > 0)


@pytest.mark.parametrize("codes", ["RAS", "LPS", "LAS", "PIR", "SLA", "IRP"])
def test_disk_box_to_display_box(codes):
    rng = np.random.default_rng(len(codes))
    disk = rng.integers(0, 1000, (7, 9, 11))
    ornt = nio.ornt_transform(nio.axcodes2ornt(tuple(codes)), nio.axcodes2ornt(("S", "P", "L")))
    display = nio.apply_orientation(disk, ornt)
    start, end = np.array([1, 2, 3]), np.array([6, 5, 10])
    dstart, dend = disk_box_to_display_box(start, end, ornt, disk.shape)
    expected = nio.apply_orientation(disk[1:6, 2:5, 3:10], ornt)
    got = display[tuple(slice(a, b) for a, b in zip(dstart, dend))]
    np.testing.assert_array_equal(got, expected)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_crop_writes_aligned_files(tmp_path, phantom_files, capsys):
    img_path, lab_path = phantom_files
    before = (_sha(img_path), _sha(lab_path))
    out = tmp_path / "out"
    rc = main(
        [
            "crop",
            str(img_path),
            "--labels",
            str(lab_path),
            "--out-dir",
            str(out),
            "--threshold",
            "-500",
            "--margin",
            "2",
            "3",
            "1",
            "--k-divisible",
            "8",
        ]
    )
    assert rc == 0
    box = json.loads(capsys.readouterr().out)
    src_img, src_lab = nib.load(img_path), nib.load(lab_path)
    data = np.asanyarray(src_img.dataobj)
    ref = _monai({"image": data}, "image", select_fn=lambda x: x > -500, margin=(2, 3, 1), k_divisible=8)
    assert box["start"] == ref["start"].tolist() and box["end"] == ref["end"].tolist()
    assert box["shape"] == list(ref["image"].shape)
    start = np.array(box["start"])
    for name, src in (("liver_crop.nii.gz", src_img), ("liver_label_crop.nii.gz", src_lab)):
        cropped = nib.load(out / name)
        arr = np.asanyarray(cropped.dataobj)
        assert arr.dtype == src.get_data_dtype()
        idx = np.argwhere(np.ones(arr.shape, bool))[::97]
        np.testing.assert_allclose(apply_affine(cropped.affine, idx), apply_affine(src.affine, idx + start), atol=1e-4)
        inside = np.all((idx + start >= 0) & (idx + start < np.array(src.shape)), axis=1)
        src_arr = np.asanyarray(src.dataobj)
        np.testing.assert_array_equal(arr[tuple(idx[inside].T)], src_arr[tuple((idx[inside] + start).T)])
    assert (_sha(img_path), _sha(lab_path)) == before


def test_console_crop_freezes_the_collector_and_writes_the_same_bytes(tmp_path, phantom_files, capsys):
    """``napari-liverct`` as a process (argv from the command line) freezes the garbage
    collector before it exits (the final collections cost about 0.1 s); a caller passing a
    list keeps a normal collector.  Both write the same bytes."""
    import gc

    from clirun import CLI_ENV

    img_path, lab_path = phantom_files
    args = ["crop", str(img_path), "--labels", str(lab_path), "--threshold", "-500", "--out-dir"]
    assert main([*args, str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert gc.get_freeze_count() == 0
    code = (
        "import gc, sys; from napari_liverct.cli import main; rc = main(); print(gc.get_freeze_count()); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *args, str(tmp_path / "b")], env=CLI_ENV, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.splitlines()[-1]) > 1000
    for name in ("liver_crop.nii.gz", "liver_label_crop.nii.gz"):
        assert _sha(tmp_path / "a" / name) == _sha(tmp_path / "b" / name)


def test_cli_crop_labels_source_and_refusals(tmp_path, phantom_files, capsys):
    img_path, lab_path = phantom_files
    rc = main(
        [
            "crop",
            str(img_path),
            "--labels",
            str(lab_path),
            "--out-dir",
            str(tmp_path / "o"),
            "--source",
            "labels",
            "--allow-smaller",
            "--margin",
            "4",
        ]
    )
    assert rc == 0
    box = json.loads(capsys.readouterr().out)
    lab = np.asanyarray(nib.load(lab_path).dataobj)
    idx = np.argwhere(lab > 0)
    assert box["start"] == np.maximum(idx.min(0) - 4, 0).tolist()
    assert box["end"] == np.minimum(idx.max(0) + 5, lab.shape).tolist()
    # labels named like the image's output, in the same folder: refused, nothing written
    clash = img_path.parent / "liver_crop.nii.gz"
    clash.write_bytes(lab_path.read_bytes())
    before = _sha(clash)
    rc = main(["crop", str(img_path), "--labels", str(clash), "--out-dir", str(img_path.parent)])
    assert rc == 2 and "refusing" in capsys.readouterr().err
    assert _sha(clash) == before


def test_cli_crop_empty_foreground(tmp_path, write_nifti_file, capsys):
    path = write_nifti_file("air.nii.gz", np.full((5, 6, 7), -1000, np.int16))
    rc = main(["crop", str(path), "--out-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "empty foreground" in err and "air.nii.gz" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_importing_crop_and_widget_does_not_import_torch():
    code = (
        "import sys, napari_liverct.crop.foreground, napari_liverct._qt.crop_widget, "
        "napari_liverct._qt.monai_widget, napari_liverct.crop.monai_pipeline; "
        "bad = [m for m in ('torch', 'monai') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_parse_per_axis():
    assert parse_per_axis("2") == 2.0
    assert parse_per_axis("2, 3 1", int) == (2, 3, 1)
    with pytest.raises(ValueError, match="margin"):
        parse_per_axis("1 2")
    with pytest.raises(ValueError, match="k_divisible"):
        parse_per_axis("x", int, "k_divisible")
    assert parse_per_axis([1.0, 2.0, 3.0]) == (1.0, 2.0, 3.0)  # the CLI's list form
    for bad in ("nan", "inf", "1e12"):
        with pytest.raises(ValueError, match="margin"):
            parse_per_axis(bad)
