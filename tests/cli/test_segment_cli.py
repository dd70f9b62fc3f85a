"""``napari-liverct segment``: one real CT through the real liver network in a subprocess,
dataset runs (on a stand-in network) that ``evaluate`` takes as they are, and the exit codes.

Oracles: nibabel for the output grid and affine; our npe2 reader and nibabel for the label
names written into the file; the dataset's own ground truth for evaluate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import standin
from clirun import CLI_ENV
from napari_liverct.cli import main
from napari_liverct.segment import pipeline as pl
from realdata import real

EXAMPLE_CT_SM = "totalsegmentator/example_ct_sm.nii.gz"


def _env():
    return dict(CLI_ENV)


def test_segment_one_real_ct_liver_only(tmp_path):
    import npe2

    ct = real(EXAMPLE_CT_SM)
    out = tmp_path / "draft" / "ct_sm_liver.nii.gz"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from napari_liverct.cli import main; sys.exit(main())",
            "segment",
            str(ct),
            "--out",
            str(out),
            "--no-lesions",
            "--threads",
            "2",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    src, got = nib.load(ct), nib.load(out)
    assert got.shape == src.shape
    np.testing.assert_allclose(got.affine, src.affine, atol=1e-5)
    data = np.asanyarray(got.dataobj)
    assert data.dtype == np.uint8 and set(np.unique(data)) == {0, 1}
    # a liver of plausible size (1-3 l) in this 9 cm slab of upper abdomen
    liver_ml = (data == 1).sum() * np.prod(got.header.get_zooms()) / 1000
    assert 300 < liver_ml < 3000
    # names: in the sidecar, and in the file's own label table (read back with the sidecar gone)
    side = json.loads(out.with_name("ct_sm_liver.json").read_text())
    assert side["labels"] == {"0": "background", "1": "liver", "2": "liver tumour"}
    out.with_name("ct_sm_liver.json").unlink()
    npe2.PluginManager.instance().discover()
    layers = npe2.read([str(out)], stack=False, plugin_name="napari-liverct")
    (_, kwargs, kind) = layers[0]
    assert kind == "labels"
    md = kwargs["metadata"]
    assert md["label_names"][1] == "liver" and md["label_names"][2] == "liver tumour"
    assert md["label_names_source"] == "the file's own label table"


@pytest.fixture
def fake_network(monkeypatch):
    """A stand-in for both networks: soft tissue of the phantom's liver window (fast)."""
    monkeypatch.setattr(pl, "run_network", standin.soft_tissue)


def _dataset(root: Path, small_phantom, n: int = 2) -> Path:
    ph = small_phantom
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    training = []
    for i in range(n):
        nib.save(nib.Nifti1Image(ph.image, ph.affine), root / "imagesTr" / f"liver_{i}.nii.gz")
        nib.save(nib.Nifti1Image(ph.labels, ph.affine), root / "labelsTr" / f"liver_{i}.nii.gz")
        training.append({"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"})
    spec = {"name": "mini", "labels": {"0": "background", "1": "liver", "2": "cancer"}, "training": training}
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


def test_segment_dataset_then_evaluate(tmp_path, small_phantom, fake_network, capsys):
    ds = _dataset(tmp_path / "Task03_mini", small_phantom)
    out = tmp_path / "pred"
    rc = main(["segment", str(ds), "--out", str(out), "--scheduler", "synchronous"])
    assert rc == 0, capsys.readouterr().err
    for i in range(2):
        got = nib.load(out / f"liver_{i}.nii.gz")
        assert got.shape == small_phantom.image.shape
        np.testing.assert_allclose(got.affine, small_phantom.affine, atol=1e-5)
        assert (out / f"liver_{i}.json").is_file()
    summary = json.loads((out / "segment_summary.json").read_text())
    assert summary["n_cases"] == 2 and summary["n_failed"] == 0
    # evaluate takes the folder as it is
    rep = tmp_path / "eval.json"
    rc = main(["evaluate", str(ds), str(out), "--map", "1:1", "--out", str(rep)])
    assert rc == 0
    ev = json.loads(rep.read_text())
    assert [c["id"] for c in ev["cases"]] == ["liver_0", "liver_1"]


def test_segment_dataset_with_a_broken_case_exits_3(tmp_path, small_phantom, fake_network, capsys, monkeypatch):
    ds = _dataset(tmp_path / "Task03_mini", small_phantom)
    (ds / "imagesTr" / "liver_9.nii.gz").write_bytes(b"not a nifti at all")
    spec = json.loads((ds / "dataset.json").read_text())
    spec["training"].append({"image": "./imagesTr/liver_9.nii.gz", "label": "./labelsTr/liver_0.nii.gz"})
    (ds / "dataset.json").write_text(json.dumps(spec))
    out = tmp_path / "pred"
    rc = main(["segment", str(ds), "--out", str(out), "--scheduler", "synchronous"])
    err = capsys.readouterr().err
    assert rc == 3
    assert "liver_9" in err and "Traceback" not in err
    assert (out / "liver_0.nii.gz").is_file() and (out / "liver_1.nii.gz").is_file()
    assert not (out / "liver_9.nii.gz").exists()

    # issue 23: when the summary cannot be written at the end (the disk filled up, the folder
    # became read-only), the failed cases are still listed before the error
    import napari_liverct.outputs.units as outputs

    real = outputs.atomic_write_text

    def full_disk(path, *a, **k):
        if str(path).endswith("segment_summary.json"):
            raise OSError(28, f"cannot write {path}: No space left on device")
        return real(path, *a, **k)

    monkeypatch.setattr(outputs, "atomic_write_text", full_disk)
    rc = main(["segment", str(ds), "--out", str(tmp_path / "pred2"), "--scheduler", "synchronous"])
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert any(line.startswith("napari-liverct segment: failed case liver_9: ") for line in lines), err
    assert lines[-1].startswith("napari-liverct segment: error: ") and "No space left on device" in lines[-1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["segment", "/nonexistent/ct.nii.gz", "--out", "x.nii.gz"], "no such file"),
        (["segment", "{ct}", "--out", "{tmp}/x.nii.gz", "--threads", "0"], "--threads"),
        (["segment", "{ct}", "--out", "{tmp}/x.txt"], ".nii or .nii.gz"),
        (["segment", "{ct}", "--out", "{ct}"], "refusing to write"),
    ],
)
def test_segment_usage_errors_exit_2(tmp_path, argv, message, capsys, fake_network, small_phantom):
    ct = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(small_phantom.image, small_phantom.affine), ct)
    before = ct.read_bytes()
    try:
        rc = main([a.format(ct=ct, tmp=tmp_path) for a in argv])
    except SystemExit as exc:  # option values are refused by the parser (argparse exits 2)
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert ct.read_bytes() == before


def test_segment_without_converted_weights_names_the_command(tmp_path, monkeypatch, capsys, small_phantom):
    ct = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(small_phantom.image, small_phantom.affine), ct)
    monkeypatch.setenv("LIVERCT_DATA", str(tmp_path / "empty"))
    rc = main(["segment", str(ct), "--out", str(tmp_path / "o.nii.gz")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "scripts/fetch_data.py" in err and "Traceback" not in err
    assert not (tmp_path / "o.nii.gz").exists()
