"""Offline draft segmentation (issue 17): pre-processing against the package's own definitions,
orientation from the affine, the robust crop, and liver accuracy on a real CT.

Oracles: pymirc's zoom3d and pyliverlesionseg's DeepVoxNet tiling transcribed loop for loop
(tests/_pymirc_zoom_oracle.py, tests/_deepvoxnet_oracle.py); the package's pre-processing
expressions written out here; TotalSegmentator's liver (label 5) on its own example CT.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from _deepvoxnet_oracle import predict as dvn_predict
from _pymirc_zoom_oracle import zoom3d as pymirc_zoom3d
from napari_liverct.segment import pipeline as pl
from napari_liverct.segment.preprocess import crop_box, ct_window, extract_centered, to_canonical
from napari_liverct.segment.zoom import zoom3d, zoomed_affine, zoomed_shape
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

_RUN_NETWORK = pl.run_network  # the real one, before any fixture wraps it


def dice(a, b) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return 2.0 * (a & b).sum() / max(1, a.sum() + b.sum())


# -- zoom ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "zoom",
    [(2.0, 1.0, 1.0), (0.5, 1.0, 1.0), (1.37, 0.71, 3.0), (0.3333, 2.5, 0.62), ([0.8, 0.8, 2.5])],
)
@pytest.mark.parametrize("cval", [0.0, -0.7])
def test_zoom3d_matches_pymirc(zoom, cval):
    rng = np.random.default_rng(3)
    vol = rng.normal(size=(7, 5, 4))
    ref = pymirc_zoom3d(vol, list(zoom), cval=cval)
    got = zoom3d(vol, list(zoom), cval=cval, dtype=np.float64)
    assert got.shape == ref.shape == zoomed_shape(vol.shape, zoom)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_zoom3d_box_is_part_of_the_whole():
    rng = np.random.default_rng(4)
    vol = rng.normal(size=(9, 8, 6))
    full = zoom3d(vol, [1.6, 0.7, 2.0], dtype=np.float64)
    box = (slice(3, 11), slice(1, 4), slice(5, 9))
    part = zoom3d(vol, [1.6, 0.7, 2.0], box=box, dtype=np.float64, transform=lambda a: a)
    np.testing.assert_allclose(part, full[box], atol=1e-12)


def test_zoomed_affine_places_voxels_where_pymirc_puts_them():
    # a linear ramp in world x: linear interpolation is exact inside, so the zoomed value at
    # each voxel must equal the world x that zoomed_affine gives that voxel
    aff = np.diag([0.8, 1.3, 2.5, 1.0])
    aff[:3, 3] = [-40, 7, 100]
    shape = (12, 9, 8)
    ijk = np.indices(shape).reshape(3, -1)
    world = (aff @ np.vstack([ijk, np.ones(ijk.shape[1])]))[:3]
    ramp = (world[0] + 0.3 * world[1] - 0.2 * world[2]).reshape(shape)
    zoom = (0.8 / 0.5, 1.3 / 1.0, 2.5 / 1.25)
    out = pymirc_zoom3d(ramp, list(zoom))
    new_aff = zoomed_affine(aff, shape, zoom)
    oi = np.indices(out.shape).reshape(3, -1)
    ow = (new_aff @ np.vstack([oi, np.ones(oi.shape[1])]))[:3]
    expect = (ow[0] + 0.3 * ow[1] - 0.2 * ow[2]).reshape(out.shape)
    inner = (slice(2, -2),) * 3
    np.testing.assert_allclose(out[inner], expect[inner], atol=1e-9)


def test_ct_window_is_the_package_normalisation():
    hu = np.array([-3024, -1000, -201, -200, -50, 0, 37, 200, 201, 3071], dtype=np.int32)
    # cnn_liver_lesion_seg_CT_MR_main: img_vol_med = np.clip(img_vol_med/1000, -0.2, 0.2)*2.5
    np.testing.assert_allclose(ct_window(hu), np.clip(hu / 1000, -0.2, 0.2) * 2.5, atol=1e-7)


# -- patches and tiles ------------------------------------------------------------------------
def _fake_net(inp_shape, out_shape):
    """A stand-in network: the valid centre of the patch, position-coded, so any misplaced
    voxel or tile shows."""
    crop = tuple(slice((i - o) // 2, (i - o) // 2 + o) for i, o in zip(inp_shape, out_shape))
    ramp = np.arange(np.prod(out_shape), dtype=np.float64).reshape(out_shape) * 1e-6

    def net(patch):
        assert patch.shape == tuple(inp_shape)
        return patch[crop] + ramp

    return net


@pytest.mark.parametrize("shape", [(200, 170, 60), (95, 84, 30), (92, 300, 43)])
def test_lesion_tiles_match_deepvoxnet(shape):
    rng = np.random.default_rng(5)
    img = rng.normal(size=shape).astype(np.float32)
    net = _fake_net(pl.LESION_IN, pl.LESION_OUT)
    ref = dvn_predict(img, net, pl.LESION_IN, pl.LESION_OUT, center_sampling=False)
    for package in (True, False):
        got = np.zeros(shape, np.float64)
        for start in pl.lesion_tiles(shape, package=package):
            pl.place_tile(got, start, net(pl.tile_input(img, start)))
        np.testing.assert_allclose(got, ref, atol=1e-6)
    # dropping the overwritten tiles saves work and changes nothing
    assert len(pl.lesion_tiles(shape)) <= len(pl.lesion_tiles(shape, package=True))


@pytest.mark.parametrize("shape", [(120, 100, 110), (170, 140, 136), (200, 180, 150)])
def test_liver_patch_matches_deepvoxnet_centre_sampling(shape):
    rng = np.random.default_rng(6)
    img = rng.normal(size=shape).astype(np.float32)
    net = _fake_net(pl.LIVER_IN, pl.LIVER_OUT)
    ref = dvn_predict(img, net, pl.LIVER_IN, pl.LIVER_OUT, center_sampling=True)
    got = np.zeros(shape)
    pl.place_tile(got, [n // 2 - o // 2 for n, o in zip(shape, pl.LIVER_OUT)], net(extract_centered(img, pl.LIVER_IN)))
    covered = tuple(slice(max(0, n // 2 - o // 2), min(n, n // 2 - o // 2 + o)) for n, o in zip(shape, pl.LIVER_OUT))
    # inside the output patch: identical; outside it the package copies the nearest
    # prediction and we write 0 (documented departure)
    np.testing.assert_allclose(got[covered], ref[covered], atol=1e-6)


def test_lesion_grid_matches_the_package_preprocessing():
    rng = np.random.default_rng(7)
    shape = (90, 80, 26)
    aff = np.diag([0.78, 0.78, 2.5, 1.0])
    hu = rng.normal(60, 120, size=shape).astype(np.float32)
    liver = np.zeros(shape, bool)
    liver[30:60, 20:55, 8:18] = True
    can = to_canonical(hu, aff)
    img, dil, box, zoom = pl.lesion_grid(can, liver)
    # the package, on the whole volume (cnn_liver_lesion_seg_CT_MR_main, lesion part)
    target = np.array([1.0, 1.0, 3.0])
    img_vol_norm = np.clip(hu / 1000, -0.2, 0.2) * 2.5
    img_vol_resize = pymirc_zoom3d(img_vol_norm.astype(np.float64), list(np.array([0.78, 0.78, 2.5]) / target))
    liv_vol_resize = pymirc_zoom3d(liver.astype(np.float64), list(np.array([0.78, 0.78, 2.5]) / target))
    ss = ndimage.iterate_structure(ndimage.generate_binary_structure(3, 2), 2).astype(int)
    liv_vol_dil = ndimage.binary_dilation((liv_vol_resize > 0.5).astype("int16"), structure=ss).astype("int16")
    img_mask_liv = img_vol_resize * liv_vol_dil
    img_mask_liv[np.where(liv_vol_dil == 0)] = -0.5
    img_mask_liv_clip = np.clip(img_mask_liv, -0.5, 0.5)
    wx, wy, wz = np.where(liv_vol_dil > 0)
    bbox = (slice(wx.min(), wx.max() + 1), slice(wy.min(), wy.max() + 1), slice(wz.min(), wz.max() + 1))
    assert box == bbox
    np.testing.assert_array_equal(dil, liv_vol_dil[bbox] > 0)
    np.testing.assert_allclose(img, img_mask_liv_clip[bbox], atol=2e-6)


# -- crop -----------------------------------------------------------------------------------
def _long_scan(with_lungs: bool):
    nz = 200  # 200 x 3 mm = 600 mm, longer than the 408 mm field
    vol = np.full((60, 50, nz), -1000, np.int16)
    vol[10:50, 8:42, :] = 40  # body
    if with_lungs:
        vol[14:28, 14:36, 120:190] = -850  # right lung, bases at slice 120
        vol[32:46, 14:36, 124:190] = -850
    return vol


def test_crop_keeps_the_field_below_the_lung_bases():
    box = crop_box(_long_scan(True), (6.0, 6.0, 3.0))
    # lung bases at slices 120 (right) and 124 (left); 70 mm = 23 slices above them; the
    # 408 mm field (136 slices) below that
    assert 120 + 23 <= box[2].stop <= 124 + 23
    assert box[2].stop - box[2].start == 136
    # in plane: the package's body box, the body [10:50, 8:42] eroded once (cross) and then
    # by a 5x5x5 cube inside the first box, 3 voxels in all
    assert (box[0].start, box[0].stop, box[1].start, box[1].stop) == (13, 47, 11, 39)


def test_crop_without_lungs_keeps_the_top_and_skips_a_scan_that_fits():
    box = crop_box(_long_scan(False), (6.0, 6.0, 3.0))
    assert (box[2].start, box[2].stop) == (200 - 136, 200)
    short = _long_scan(True)[:, :, 60:190]  # 390 mm: fits, no cut along z whatever is in view
    assert crop_box(short, (6.0, 6.0, 3.0))[2] == slice(0, 130)


# -- the real model on the real CT ---------------------------------------------------------
@pytest.fixture(scope="module")
def net_calls(request):
    """Run the real networks, but reuse an output when the very same patch comes again
    (an orientation-correct pipeline gives the network identical input)."""
    real_run = pl.run_network
    seen: list = []
    calls = {"real": 0, "reused": 0}

    def run(model, patch, monitor=None):
        for m, p, out in seen:
            if m == model and p.shape == patch.shape and np.allclose(p, patch, atol=1e-5):
                calls["reused"] += 1
                return out
        calls["real"] += 1
        out = real_run(model, patch, monitor=monitor)
        seen.append((model, patch.copy(), out))
        return out

    mp = pytest.MonkeyPatch()
    mp.setattr(pl, "run_network", run)
    yield calls
    mp.undo()


@pytest.fixture(scope="module")
def ras_result(net_calls):
    """(data, affine, result, steps): the liver draft of the example CT (:func:`_liver_draft`)."""
    return _liver_draft()


def _liver_draft():
    """(data, affine, result, steps) of the example CT's liver stage; ``steps`` are the
    ``(seconds since start, Progress)`` the pipeline yielded on the way."""
    img = nib.load(real(EXAMPLE_CT))
    data = np.asanyarray(img.dataobj)
    gen, steps, t0 = pl.iter_segment(data, img.affine, lesions=False, threads=2), [], time.perf_counter()
    while True:
        try:
            steps.append((time.perf_counter() - t0, next(gen)))
        except StopIteration as stop:
            return data, img.affine, stop.value, steps


@pytest.mark.slow  # the real network on a real CT: out of the fast lane
def test_liver_dice_against_totalsegmentator(ras_result):
    data, affine, res, _ = ras_result
    ref = np.asanyarray(nib.load(real(EXAMPLE_SEG_FAST)).dataobj) == 5
    assert res.labels.shape == data.shape and res.labels.dtype == np.uint8
    assert set(np.unique(res.labels)) <= {0, 1}
    d = dice(res.labels == 1, ref)
    print(f"liver Dice vs TotalSegmentator: {d:.4f}")
    assert d >= 0.85


@pytest.mark.slow  # the real network on a real CT: out of the fast lane
def test_the_liver_stage_moves_the_progress_while_its_network_runs(monkeypatch):
    """Issue 22.6: the bar sat at 0 % through the liver step (one step before, one after).
    Now the steps rise from 0 to the total and no pause between two of them is longer
    than a quarter of the stage (the network is about nine tenths of it).  The network
    really runs here (its three passes, the suite's network-output cache off)."""
    from napari_liverct.segment.netcache import ENV

    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(pl, "run_network", _RUN_NETWORK)  # not the module's reusing wrapper (net_calls)
    steps = [(t, s) for t, s in _liver_draft()[3] if s.stage == "liver"]
    done = [s.done for _, s in steps]
    total = steps[-1][1].total
    assert done[0] == 0 and done[-1] == total and steps[-1][1].labels is not None
    assert all(b > a for a, b in zip(done, done[1:])), done
    assert len(set(done) - {0, total}) >= 10, done
    times = [0.0] + [t for t, _ in steps]
    gaps = np.diff(times)
    print(f"liver stage {times[-1]:.1f} s in {len(steps)} steps, longest pause {gaps.max():.1f} s")
    assert gaps.max() < 0.25 * times[-1], list(zip(np.round(times[1:], 1), done))


def test_the_progress_counts_the_convolutions_torch_counts():
    """The monitor's share is the multiply-adds of the convolutions done: their sum is
    what torch's own FLOP counter (2 FLOPs per multiply-add) counts for a forward pass."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from napari_liverct.segment.net import LESION, LIVER, UNetLike

    for cfg in (LIVER, LESION):  # shapes only: on torch's meta device, no weights, no work
        net = UNetLike(cfg).to("meta")
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            net(torch.empty((1, 1, *cfg.input_size), device="meta"))
        convs = sum(v for k, v in counter.get_flop_counts()["Global"].items() if "convolution" in str(k))
        assert 2 * sum(net.conv_macs) == convs
        assert len(net.conv_macs) == len(net.convs)


def test_cancel_stops_the_liver_network_between_two_convolutions(small_phantom, monkeypatch):
    """Closing the generator (the widget's Cancel) during the liver pass stops it before its
    next convolution, not after the whole pass."""
    from napari_liverct.segment.net import PassStopped

    ran, stopped = [], threading.Event()

    def fake(model, patch, monitor=None):  # a pass of 50 "convolutions" of 0.1 s each
        monitor.total = 50
        try:
            for k in range(50):
                monitor.reached(k)
                ran.append(k)
                time.sleep(0.1)
        except PassStopped:
            stopped.set()
            raise
        return np.zeros(pl.LIVER_OUT, np.float32)

    monkeypatch.setattr(pl, "run_network", fake)
    gen = pl.iter_segment(small_phantom.image, small_phantom.affine, lesions=False)
    seen = []
    for step in gen:
        seen.append(step.done)
        if pl.LIVER_PREP_STEPS < step.done < step.total - 1:
            break
    gen.close()
    assert stopped.is_set() and len(ran) < 50, ran
    assert pl.LIVER_PREP_STEPS < seen[-1] < pl.LIVER_STEPS


def _flip_lps(data, affine):
    flipped = data[::-1, ::-1, :]
    n = np.array(data.shape)
    to_old = np.eye(4)
    to_old[0, 0] = to_old[1, 1] = -1
    to_old[:2, 3] = n[:2] - 1
    return np.ascontiguousarray(flipped), affine @ to_old


def _permute(data, affine, order=(2, 0, 1)):
    perm = np.eye(4)[:, list(order) + [3]]
    return np.ascontiguousarray(np.transpose(data, order)), affine @ perm


@pytest.mark.slow  # the real network on a real CT: out of the fast lane
def test_same_ct_stored_lps_or_permuted_gives_the_same_world_mask(ras_result, net_calls):
    data, affine, ras, _ = ras_result
    lps_data, lps_aff = _flip_lps(data, affine)
    assert nib.aff2axcodes(lps_aff) == ("L", "P", "S")
    lps = pl.segment(lps_data, lps_aff, lesions=False)
    np.testing.assert_array_equal(lps.labels[::-1, ::-1, :], ras.labels)
    per_data, per_aff = _permute(*_flip_lps(data, affine))
    assert nib.aff2axcodes(per_aff) == ("S", "L", "P")
    per = pl.segment(per_data, per_aff, lesions=False)
    np.testing.assert_array_equal(np.transpose(per.labels, (1, 2, 0))[::-1, ::-1, :], ras.labels)
    # and the network saw the very same patches each time (one real run per patch position,
    # the others reused)
    n = len(pl.LIVER_OFFSETS)
    assert net_calls["real"] == n and net_calls["reused"] >= 2 * n


# -- weights, laziness ------------------------------------------------------------------------
def test_missing_weights_name_the_command(tmp_path, monkeypatch):
    from napari_liverct.segment.weights import WeightsMissingError, load_weights

    monkeypatch.setenv("LIVERCT_DATA", str(tmp_path))
    with pytest.raises(WeightsMissingError, match=r"scripts/fetch_data\.py"):
        load_weights("liver")
    assert issubclass(WeightsMissingError, RuntimeError)


def test_converted_weights_equal_the_hdf5():
    h5py = pytest.importorskip("h5py")
    from napari_liverct.segment.weights import MODELS, load_weights

    for model, fname in MODELS.items():
        arrays, meta = load_weights(model)
        with h5py.File(real(f"pyliverlesionseg/pyliverlesionseg/trained_models/{fname}"), "r") as h5:
            assert list(meta["voxel_size"]) == list(np.asarray(h5["header/voxel_size"]))
            n = 0
            for name in h5.keys():
                if name.startswith("conv3d_"):
                    np.testing.assert_array_equal(arrays[f"{name}.kernel"], h5[name][name]["kernel:0"][()])
                    np.testing.assert_array_equal(arrays[f"{name}.bias"], h5[name][name]["bias:0"][()])
                    n += 1
        assert n == len([k for k in arrays if k.endswith(".kernel")])


def test_cli_and_segment_files_do_not_import_torch():
    code = (
        "import sys, napari_liverct.cli, napari_liverct.segment.files, napari_liverct.segment.pipeline; "
        "print([m for m in ('torch', 'monai') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), check=True)
    assert out.stdout.strip() == "[]"


def test_not_a_ct_is_refused_with_a_message():
    mr_like = np.random.default_rng(0).uniform(0, 800, size=(20, 20, 10)).astype(np.float32)
    with pytest.raises(ValueError, match="Hounsfield"):
        pl.segment(mr_like, np.eye(4))
    with pytest.raises(ValueError, match="3D"):
        pl.segment(np.zeros((5, 5)), np.eye(4))


def test_lesion_probabilities_land_where_the_tiles_are_in_world_space(small_phantom, monkeypatch):
    """Stand-in networks: a liver cube, and 'tumour' everywhere the lesion tiles reach. The
    tumour label must then fill the box the lesion network saw (the dilated liver's box on
    the 1 x 1 x 3 mm grid), in world millimetres, to within one voxel."""
    ph = small_phantom

    def fake(model, patch, monitor=None):
        if model == "liver":
            out = np.zeros(pl.LIVER_OUT, np.float32)
            c = [n // 2 for n in pl.LIVER_OUT]
            out[c[0] - 20 : c[0] + 10, c[1] - 15 : c[1] + 15, c[2] - 8 : c[2] + 8] = 0.9
            return out
        return np.full(pl.LESION_OUT, 0.9, np.float32)

    monkeypatch.setattr(pl, "run_network", fake)
    gen = pl.iter_segment(ph.image, ph.affine, lesions=True)
    liver_step = None
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            res = stop.value
            break
        if step.labels is not None:
            liver_step = step.labels
    assert liver_step is not None and (liver_step == 1).any() and (res.labels == 2).any()
    # the lesion network's box, from the liver the pipeline found, in world mm
    can = to_canonical(ph.image, ph.affine)
    liver = to_canonical(liver_step == 1, ph.affine).data
    _, _, box, zoom = pl.lesion_grid(can, liver)
    grid = can.affine @ zoomed_affine(np.eye(4), can.data.shape, zoom)
    lo = grid @ np.array([b.start for b in box] + [1.0])
    hi = grid @ np.array([b.stop - 1 for b in box] + [1.0])
    want_lo, want_hi = np.minimum(lo, hi)[:3], np.maximum(lo, hi)[:3]
    ijk = np.argwhere(res.labels == 2)
    world = (ph.affine @ np.c_[ijk, np.ones(len(ijk))].T)[:3]
    tol = np.abs(ph.affine[:3, :3]).sum(axis=1) + np.array([1.0, 1.0, 3.0])
    np.testing.assert_array_less(np.abs(world.min(axis=1) - want_lo), tol)
    np.testing.assert_array_less(np.abs(world.max(axis=1) - want_hi), tol)
