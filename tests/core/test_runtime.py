"""The networks' runtime (segment/runtime.py): OpenVINO float32 against torch on a real lesion
tile, the choice by $NAPARI_LIVERCT_RUNTIME, the fall-back to torch, and the IR cache."""

from __future__ import annotations

import hashlib
import logging
import os
import sys

import numpy as np
import pytest

from napari_liverct.segment import runtime
from realdata import EXAMPLE_CT, EXAMPLE_SEG_FAST, real

torch = pytest.importorskip("torch")
ov = pytest.importorskip("openvino")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    """Each test chooses afresh (the compiled models and said messages are per process)."""
    monkeypatch.setattr(runtime, "_compiled", {})
    monkeypatch.setattr(runtime, "_said", set())
    monkeypatch.delenv(runtime.ENV, raising=False)


def _dice(a, b):
    a, b = a > 0.5, b > 0.5
    return 2 * (a & b).sum() / max(1, a.sum() + b.sum())


@pytest.fixture(scope="module")
def real_tile():
    """The lesion network's input for a click in TotalSegmentator's liver of its example CT,
    on a low-density sphere planted there (-50 HU, radius 10 mm; the CT has no tumour), made
    by the click's own pre-processing; and torch's output on it (2 threads)."""
    from scipy import ndimage

    from napari_liverct.segment import pipeline
    from napari_liverct.segment.tile import lesion_probability_at
    from napari_liverct.volumes.nifti import read_nifti

    ct = read_nifti(real(EXAMPLE_CT))
    data = np.asarray(ct.data, dtype=np.float32).copy()
    liver = np.asarray(read_nifti(real(EXAMPLE_SEG_FAST)).data) == 5  # TotalSegmentator's liver
    spacing = np.sqrt((ct.affine[:3, :3] ** 2).sum(0))
    depth = ndimage.distance_transform_edt(liver, sampling=spacing)
    centre = np.array(np.unravel_index(np.argmax(depth), liver.shape))
    grid = np.ogrid[tuple(slice(0, n) for n in liver.shape)]
    data[sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, spacing)) <= 10.0**2] -= 50.0
    point = (ct.affine @ np.r_[centre, 1.0])[:3]
    seen = {}

    def keep(model, patch, monitor=None):
        seen["tile"] = np.array(patch)
        return np.zeros(pipeline.LESION_OUT, np.float32)

    real_run = pipeline.run_network
    pipeline.run_network = keep
    try:
        lesion_probability_at(data, ct.affine, point, liver)
    finally:
        pipeline.run_network = real_run
    tile = seen["tile"]
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            want = runtime.torch_network("lesion")(torch.from_numpy(tile)[None, None])[0, 0].numpy().copy()
    finally:
        torch.set_num_threads(old)
    return tile, want


def _prepared(model, shape):
    folder = runtime.ir_folder(model, shape)
    if not (folder / "check.json").exists():
        msg = f"{folder} missing: run 'python scripts/fetch_data.py' (converts the networks once)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return folder


@pytest.mark.slow  # both runtimes on a real CT tile: out of the fast lane
def test_openvino_agrees_with_torch_on_a_real_tile_and_forcing_torch_gives_torch(real_tile, monkeypatch):
    from napari_liverct.segment import pipeline

    tile, want = real_tile
    _prepared("lesion", tile.shape)
    net = runtime.network("lesion", tile.shape, 2)
    assert isinstance(net, runtime.OpenVINONetwork)
    got = net(tile)
    diff = float(np.abs(got - want).max())
    assert diff <= runtime.TOLERANCE, diff
    assert _dice(got, want) >= 0.999
    assert (want > 0.5).sum() > 100  # the tile holds lesion-like voxels: the Dice means something
    # the env var forces torch: run_network then calls the torch network (a stand-in here,
    # whose constant output could not come from OpenVINO); the suite's network-output memo is
    # off here (it would read a stored pass back, or keep the stand-in's output)
    from napari_liverct.segment import netcache

    monkeypatch.delenv(netcache.ENV, raising=False)
    monkeypatch.setenv(runtime.ENV, "torch")
    monkeypatch.setattr(runtime, "_compiled", {})
    assert runtime.network("lesion", tile.shape, 2) is None
    monkeypatch.setenv(runtime.ENV, "auto")  # auto: the liver network stays in torch (memory)
    assert runtime.network("liver", pipeline.LIVER_IN, 2) is None
    monkeypatch.setenv(runtime.ENV, "torch")
    calls = []

    def torch_standin(x, monitor=None):
        calls.append(tuple(x.shape))
        return torch.full((1, 1, *pipeline.LESION_OUT), 0.25)

    monkeypatch.setattr(runtime, "torch_network", lambda model: torch_standin)
    out = pipeline.run_network("lesion", tile)
    assert calls == [(1, 1, *tile.shape)] and np.all(out == np.float32(0.25))
    monkeypatch.delenv(runtime.ENV)  # auto: the same call goes to OpenVINO, not the stand-in
    monkeypatch.setattr(runtime, "_compiled", {})
    np.testing.assert_allclose(pipeline.run_network("lesion", tile), got, atol=1e-4)
    assert len(calls) == 1


@pytest.mark.slow  # both runtimes on a real CT tile: out of the fast lane
def test_openvino_progress_and_cancel_through_the_monitor(real_tile):
    from napari_liverct.segment.net import ConvMonitor, PassStopped

    tile, want = real_tile
    _prepared("lesion", tile.shape)
    net = runtime.network("lesion", tile.shape, 2)
    monitor = ConvMonitor()
    got = net(tile, monitor=monitor)
    assert monitor.fraction == 1.0 and net.rate > 0
    np.testing.assert_allclose(got, want, atol=runtime.TOLERANCE)
    stopped = ConvMonitor()
    stopped.stop()
    with pytest.raises(PassStopped):
        net(tile, monitor=stopped)


def test_bad_runtime_value_is_a_value_error(monkeypatch):
    monkeypatch.setenv(runtime.ENV, "tensorflow")
    with pytest.raises(ValueError, match="NAPARI_LIVERCT_RUNTIME"):
        runtime.network("lesion", (4, 4, 4), 1)


def test_missing_openvino_falls_back_to_torch_with_one_message(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "openvino", None)  # "import openvino" raises ImportError
    with caplog.at_level(logging.WARNING, logger=runtime.__name__):
        assert runtime.network("lesion", (180, 172, 86), 2) is None
        assert runtime.network("lesion", (180, 172, 86), 2) is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "OpenVINO cannot be imported" in lines[0] and "torch" in lines[0]
    monkeypatch.setenv(runtime.ENV, "openvino")
    monkeypatch.setattr(runtime, "_compiled", {})
    with pytest.raises(RuntimeError, match="NAPARI_LIVERCT_RUNTIME=openvino"):
        runtime.network("lesion", (180, 172, 86), 2)


class _Tiny(torch.nn.Module):
    """A small 3D conv net with the interface of UNetLike that prepare() uses; its traced
    form (``exportable``) adds ``export_shift`` (a conversion that changes the function)."""

    def __init__(self, export_shift=0.0, shift=0.0):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv3d(1, 2, 3)
        self.head = torch.nn.Conv3d(2, 1, 1)
        self.export_shift, self.shift = export_shift, shift

    def forward(self, x):
        return torch.sigmoid(self.head(torch.relu(self.conv(x)))) + self.shift

    def exportable(self):
        return _Tiny(shift=self.export_shift)


@pytest.fixture
def tiny_cache(tmp_path, monkeypatch):
    """$LIVERCT_DATA in tmp with a stand-in 'lesion' weights file (the IR key hashes it)."""
    monkeypatch.setenv("LIVERCT_DATA", str(tmp_path))
    weights = tmp_path / "weights" / "pyliverlesionseg-0.3-lesion.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in weights")
    return tmp_path, hashlib.sha256(b"stand-in weights").hexdigest()


def test_ir_cache_is_keyed_checked_and_written_as_a_unit(tiny_cache, monkeypatch):
    root, sha = tiny_cache
    shape = (20, 18, 10)
    folder = runtime.ir_folder("lesion", shape)
    assert folder.parent == root / "weights" / "openvino"
    assert sha[:16] in folder.name and "20x18x10" in folder.name
    assert ov.get_version().split("-")[0] in folder.name
    assert runtime.ir_folder("lesion", (20, 18, 12)) != folder
    assert runtime.ir_folder("lesion", shape, ov_version="2099.1.0-1-x") != folder
    # a conversion failing half-way leaves neither the folder nor a temporary one
    real_save = ov.save_model

    def half_save(model, path, **kw):
        real_save(model, path, **kw)
        raise OSError("disk full")

    monkeypatch.setattr(ov, "save_model", half_save)
    with pytest.raises(OSError, match="disk full"):
        runtime.prepare("lesion", shape, net=_Tiny(), threads=1)
    assert list(folder.parent.iterdir()) == []
    monkeypatch.setattr(ov, "save_model", real_save)
    info = runtime.prepare("lesion", shape, net=_Tiny(), threads=1)
    assert sorted(p.name for p in folder.iterdir()) == ["check.json", "model.bin", "model.xml"]
    assert info["agrees"] and info["max_difference"] <= 1e-5 and info["weights_sha256"] == sha
    # the IR runs the tiny net: checked against torch on another input
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    with torch.no_grad():
        want = _Tiny()(torch.from_numpy(x)[None, None])[0, 0].numpy()
    net = runtime.network("lesion", shape, 1)
    np.testing.assert_allclose(net(x), want, atol=1e-5)
    # done once: a second prepare reads the folder (converting again would fail here)
    monkeypatch.setattr(ov, "convert_model", lambda *a, **k: pytest.fail("converted twice"))
    assert runtime.prepare("lesion", shape, net=_Tiny(), threads=1) == info


def test_a_disagreeing_conversion_is_refused_with_one_message(tiny_cache, caplog, monkeypatch):
    shape = (20, 18, 10)
    info = runtime.prepare("lesion", shape, net=_Tiny(export_shift=0.05), threads=1)
    assert not info["agrees"] and abs(info["max_difference"] - 0.05) < 1e-5
    with caplog.at_level(logging.WARNING, logger=runtime.__name__):
        assert runtime.network("lesion", shape, 1) is None
    (line,) = [r.getMessage() for r in caplog.records]
    assert "differs from torch by 0.05" in line and "runs in torch" in line
    monkeypatch.setenv(runtime.ENV, "openvino")  # forced: used despite the check
    monkeypatch.setattr(runtime, "_compiled", {})
    assert isinstance(runtime.network("lesion", shape, 1), runtime.OpenVINONetwork)
