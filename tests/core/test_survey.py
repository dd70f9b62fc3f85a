"""Dataset survey: per-case numbers against plain numpy/nibabel/scipy, anomalies, Dask, CLI."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import FrozenInstanceError, replace

import nibabel as nib
import numpy as np
import pytest
from nibabel import orientations as nio
from scipy import ndimage

from napari_liverct.datasets.folder import load_dataset
from napari_liverct.survey import iter_survey, survey, survey_case
from napari_liverct.survey.summary import summarise_survey
from napari_liverct.volumes.phantom import make_phantom

SHAPE = (48, 48, 12)
DECLARED = {0: "background", 1: "liver", 2: "cancer"}
#: no dashboard, scheduler HTTP on a free port (8787 may be taken by another cluster)
NO_HTTP = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0", "dashboard": False}}


def _save(path, data, affine):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), path)


@pytest.fixture(scope="module")
def msd(tmp_path_factory):
    """MSD-style folder of small phantoms; each case carries one known peculiarity."""
    root = tmp_path_factory.mktemp("survey") / "Task03_Liver"
    tr = []

    def case(i, spacing=(2.2, 2.2, 5.0), shape=SHAPE, edit=None):
        ph = make_phantom(shape=shape, spacing=spacing, seed=i)
        img = nib.Nifti1Image(ph.image, ph.affine)
        lab = nib.Nifti1Image(ph.labels, ph.affine)
        if edit:
            img, lab = edit(img, lab)
        ip, lp = root / "imagesTr" / f"liver_{i}.nii.gz", root / "labelsTr" / f"liver_{i}.nii.gz"
        ip.parent.mkdir(parents=True, exist_ok=True)
        lp.parent.mkdir(parents=True, exist_ok=True)
        nib.save(img, ip)
        if lab is not None:
            nib.save(lab, lp)
        tr.append({"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"})

    def to_ras(img, lab):
        ornt = nio.ornt_transform(nio.io_orientation(img.affine), nio.axcodes2ornt("RAS"))
        return img.as_reoriented(ornt), lab.as_reoriented(ornt)

    def label5(img, lab):
        data = np.asarray(lab.dataobj).copy()
        data[:3, :3, :3] = 5
        return img, nib.Nifti1Image(data, lab.affine)

    def shifted(img, lab):
        aff = lab.affine.copy()
        aff[:3, 3] += 3.0
        return img, nib.Nifti1Image(np.asarray(lab.dataobj), aff)

    def identity_empty(img, lab):
        return (
            nib.Nifti1Image(np.asarray(img.dataobj), np.eye(4)),
            nib.Nifti1Image(np.zeros(SHAPE, np.uint8), np.eye(4)),
        )

    case(0)
    case(1, spacing=(2.0, 2.0, 5.0), edit=to_ras)
    case(2, spacing=(2.4, 2.4, 5.0), edit=label5)
    case(3)
    raw = (root / "imagesTr" / "liver_3.nii.gz").read_bytes()
    (root / "imagesTr" / "liver_3.nii.gz").write_bytes(raw[: len(raw) // 2])  # truncated gzip
    case(4, edit=shifted)
    case(5, spacing=(2.2, 2.2, 12.0), shape=(48, 48, 6))
    case(6, edit=identity_empty)
    case(7, edit=lambda img, lab: (img, None))  # listed label file is missing
    ph = make_phantom(shape=SHAPE, spacing=(2.2, 2.2, 5.0), seed=8)
    _save(root / "imagesTs" / "liver_8.nii.gz", ph.image, ph.affine)
    (root / "imagesTr" / "._liver_0.nii.gz").write_bytes(b"\x00\x05\x16\x07")
    spec = {
        "name": "Liver",
        "labels": {str(k): v for k, v in DECLARED.items()},
        "training": tr,
        "test": ["./imagesTs/liver_8.nii.gz"],
    }
    (root / "dataset.json").write_text(json.dumps(spec))
    return root


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, **NO_HTTP) as cluster, Client(cluster) as cl:
        yield cl


@pytest.fixture(scope="module")
def report(msd, client):
    ds = load_dataset(msd)
    return survey(ds.cases, client=client, progress=False, label_names=ds.label_names)


def _expected(image_path, label_path):
    """Reference numbers from nibabel + numpy + scipy only."""
    img, lab = nib.load(image_path), nib.load(label_path)
    data, seg = np.asanyarray(img.dataobj), np.asanyarray(lab.dataobj).astype(int)
    fg = data[seg > 0]
    vox_ml = abs(np.linalg.det(lab.affine[:3, :3])) / 1000.0
    values = np.unique(seg)
    return {
        "shape": list(data.shape),
        "spacing": [float(z) for z in img.header.get_zooms()],
        "orientation": "".join(nib.aff2axcodes(img.affine)),
        "percentiles": np.percentile(fg, [0.5, 50, 99.5]) if fg.size else None,
        "volume_ml": {str(v): float((seg == v).sum() * vox_ml) for v in values if v != 0},
        "label_values": [int(v) for v in values],
        "lesions": ndimage.label(seg == 2, structure=np.ones((3, 3, 3)))[1],
        "fg_mean": float(fg.mean()) if fg.size else None,
    }


def test_survey_case_matches_numpy(msd):
    for i in (0, 1, 2):
        ip, lp = msd / "imagesTr" / f"liver_{i}.nii.gz", msd / "labelsTr" / f"liver_{i}.nii.gz"
        row, samples = survey_case(ip, lp, f"liver_{i}")
        exp = _expected(ip, lp)
        assert row.error is None and row.label_error is None
        assert row.shape == exp["shape"]
        np.testing.assert_allclose(row.spacing, exp["spacing"], rtol=1e-6)
        assert row.orientation == exp["orientation"]
        np.testing.assert_allclose([row.fg_p00_5, row.fg_p50, row.fg_p99_5], exp["percentiles"])
        assert row.fg_mean == pytest.approx(exp["fg_mean"])
        assert row.volume_ml.keys() == exp["volume_ml"].keys()
        for k, v in exp["volume_ml"].items():
            assert row.volume_ml[k] == pytest.approx(v, abs=1e-6)  # rounded to 1 nL
        assert row.label_values == exp["label_values"]
        assert row.lesion_count == exp["lesions"] and exp["lesions"] >= 1
        assert row.grids_equal is True
        # the sample holds only foreground values
        fg_values = set(np.unique(np.asanyarray(nib.load(ip).dataobj)[np.asanyarray(nib.load(lp).dataobj) > 0]))
        assert samples.shape == (10_000,) and set(np.unique(samples).astype(int)) <= fg_values
    assert row.orientation == "LPS"
    assert _expected(msd / "imagesTr/liver_1.nii.gz", msd / "labelsTr/liver_1.nii.gz")["orientation"] == "RAS"


def test_survey_case_never_raises_for_bad_files(msd, tmp_path):
    row, samples = survey_case(msd / "imagesTr" / "liver_3.nii.gz", msd / "labelsTr" / "liver_3.nii.gz")
    assert "liver_3.nii.gz" in row.error and "truncated" in row.error and samples.size == 0
    row, _ = survey_case(msd / "imagesTr" / "liver_0.nii.gz", tmp_path / "nope.nii.gz", "x")
    assert row.error is None and "nope.nii.gz" in row.label_error and row.shape == list(SHAPE)


def test_survey_case_is_made_once(msd, tmp_path):
    """The typed case: frozen, JSON keys of its kind only, and the summary gives new cases."""
    row, _ = survey_case(msd / "imagesTr" / "liver_3.nii.gz", msd / "labelsTr" / "liver_3.nii.gz")
    assert list(row.to_json()) == ["id", "split", "image", "label", "error", "label_error", "seconds"]
    with pytest.raises(FrozenInstanceError):
        row.error = None
    row, _ = survey_case(msd / "imagesTr" / "liver_0.nii.gz", tmp_path / "nope.nii.gz", "x")
    keys = list(row.to_json())
    assert keys[-3:] == ["affine_identity", "label_error_kind", "seconds"] and "fg_p50" not in keys
    assert row.to_json()["label_error_kind"] == "missing" and row.labels_read is False
    row, _ = survey_case(msd / "imagesTr" / "liver_0.nii.gz", msd / "labelsTr" / "liver_0.nii.gz", "liver_0")
    done = summarise_survey([row], [np.zeros(0, np.float32)])["cases"][0]
    assert row.anomalies is None and done.anomalies == () and done.to_json()["anomalies"] == []
    assert json.loads(json.dumps(done.to_json())) == {**row.to_json(), "anomalies": []}
    # the CSV row: one column per stored axis, volumes of the values asked for, text of the values
    seg = np.asanyarray(nib.load(msd / "labelsTr" / "liver_0.nii.gz").dataobj)
    flat = done.to_row([1, 2, 9])
    assert [flat[f"shape_{i}"] for i in range(3)] == list(seg.shape) and flat["label_values"] == "0 1 2"
    assert flat["volume_ml_9"] == 0.0 and flat["volume_ml_1"] == row.volume_ml["1"] and flat["anomalies"] == ""


def test_report_rows_in_case_order_and_errors(msd, report):
    ids = [r.id for r in report["cases"]]
    assert ids == [f"liver_{i}" for i in range(9)]
    failed = [r for r in report["cases"] if r.error]
    assert [r.id for r in failed] == ["liver_3"]
    assert report["summary"]["n_failed"] == 1 and report["summary"]["n_ok"] == 8
    assert report["cases"][8].split == "test" and report["cases"][8].label is None


def test_anomalies(report):
    kinds = {}
    for a in report["anomalies"]:
        kinds.setdefault(a.case, set()).add(a.kind)
    assert kinds == {
        "liver_1": {"orientation"},  # RAS among LPS
        "liver_2": {"unknown_label_values"},  # label 5 not in dataset.json
        "liver_3": {"read_error"},
        "liver_4": {"grid_mismatch"},
        "liver_5": {"spacing_outlier"},  # z 12 mm vs median 5 mm
        # identity affine: RAS and 1 mm voxels, so it is also a spacing outlier
        "liver_6": {"orientation", "affine_identity", "empty_labels", "spacing_outlier"},
        "liver_7": {"missing_labels"},
    }
    msg = {a.kind: a.message for a in report["anomalies"] if a.case in ("liver_2", "liver_5")}
    assert "[5]" in msg["unknown_label_values"] and "z = 12" in msg["spacing_outlier"]
    assert all(set(r.anomalies) == kinds.get(r.id, set()) for r in report["cases"])


def test_summary_against_numpy(msd, report):
    s = report["summary"]
    ok = [r for r in report["cases"] if not r.error]
    imgs = [nib.load(r.image) for r in ok]
    # spacing in RAS axis order straight from the affines (all cases are axis-aligned)
    sp = np.array([np.abs(np.diag(im.affine)[:3]) for im in imgs])
    np.testing.assert_allclose(s["spacing"]["median"], np.median(sp, axis=0), rtol=1e-6)
    np.testing.assert_allclose(s["spacing"]["min"], sp.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(s["spacing"]["max"], sp.max(axis=0), rtol=1e-6)
    assert s["orientations"] == {"LPS": 6, "RAS": 2}  # 0 2 4 5 7 8 vs 1 6
    # class frequencies over the labelled cases that were read
    segs = [np.asanyarray(nib.load(r.label).dataobj) for r in ok if r.label and not r.label_error]
    assert s["n_labelled"] == len(segs) == 6
    total = sum(x.size for x in segs)
    for v in (0, 1, 2, 5):
        c = s["classes"][str(v)]
        assert c["cases_share"] == pytest.approx(sum((x == v).any() for x in segs) / len(segs))
        assert c["voxel_share"] == pytest.approx(sum((x == v).sum() for x in segs) / total)
    assert s["classes"]["1"]["name"] == "liver" and s["classes"]["5"]["name"] is None
    # pooled intensity percentiles: 10000 samples per case approximate the equal-weight mixture
    fgs = [
        np.asanyarray(nib.load(r.image).dataobj)[np.asanyarray(nib.load(r.label).dataobj) > 0]
        for r in ok
        if r.label and not r.label_error and r.label_shape == r.shape and r.fg_voxels
    ]
    weights = np.concatenate([np.full(f.size, 1.0 / f.size) for f in fgs])
    values = np.concatenate(fgs).astype(float)
    order = np.argsort(values)
    cdf = np.cumsum(weights[order]) / weights.sum()
    ref = [values[order][np.searchsorted(cdf, q)] for q in (0.005, 0.5, 0.995)]
    got = [s["intensity"]["p00_5"], s["intensity"]["p50"], s["intensity"]["p99_5"]]
    np.testing.assert_allclose(got, ref, atol=6.0)  # HU; sampling error of 40000 draws
    assert s["intensity"]["n_samples"] == 10_000 * len(fgs)


def test_synchronous_equals_dask(msd, report):
    ds = load_dataset(msd)
    sync = survey(ds.cases, scheduler="synchronous", progress=False, label_names=ds.label_names)
    strip = lambda rows: [replace(r, seconds=None) for r in rows]  # noqa: E731
    assert strip(sync["cases"]) == strip(report["cases"])
    assert sync["summary"] == report["summary"] and sync["anomalies"] == report["anomalies"]


def test_progress_callback_and_iter(msd, client):
    cases = load_dataset(msd).cases[:3]
    seen = []
    survey(cases, client=client, progress=lambda done, total, row: seen.append((done, total, row.id)))
    assert [d for d, _, _ in seen] == [1, 2, 3] and {i for _, _, i in seen} == {c.id for c in cases}
    assert sorted(i for i, _, _ in iter_survey(cases, client=client)) == [0, 1, 2]


def test_cli_with_scheduler_address_csv(msd, tmp_path, capsys):
    from distributed import LocalCluster

    from napari_liverct.cli import main

    out = tmp_path / "survey.csv"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", **NO_HTTP) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")  # a real network address
        code = main(
            ["survey", str(msd), "--format", "csv", "--scheduler", cluster.scheduler_address, "--out", str(out)]
        )
    assert code == 3  # liver_3 is truncated: listed on stderr, the others written
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["id"] for r in rows] == [f"liver_{i}" for i in range(9)]
    r0 = rows[0]
    exp = _expected(msd / "imagesTr/liver_0.nii.gz", msd / "labelsTr/liver_0.nii.gz")
    assert [int(r0[f"shape_{i}"]) for i in range(3)] == exp["shape"]
    assert float(r0["volume_ml_2"]) == pytest.approx(exp["volume_ml"]["2"])
    assert float(r0["fg_p50"]) == pytest.approx(exp["percentiles"][1])
    assert r0["label_values"] == "0 1 2" and r0["orientation"] == "LPS" and r0["anomalies"] == ""
    assert "truncated" in rows[3]["error"] and rows[3]["anomalies"] == "read_error"
    assert rows[8]["volume_ml_1"] == ""  # no labels: empty cell, not 0


def test_cli_json_to_stdout_local_processes(msd, capsys):
    """The default path: a LocalCluster of worker processes."""
    from napari_liverct.cli import main

    assert main(["survey", str(msd / "dataset.json"), "--workers", "2"]) == 3
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert set(data) == {"cases", "summary", "anomalies", "failed"}
    # liver_3 is truncated, liver_7 lacks the label file dataset.json lists
    assert [f["case"] for f in data["failed"]] == ["liver_3", "liver_7"] and "failed case liver_3: " in captured.err
    assert len(data["cases"]) == 9 and data["summary"]["dataset"]["layout"] == "msd"
    assert "9/9" in captured.err  # the progress bar went to stderr


def test_cli_user_errors(tmp_path, capsys):
    from napari_liverct.cli import main

    assert main(["survey", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["survey", str(tmp_path)]) == 2
    assert "no NIfTI cases" in capsys.readouterr().err


@pytest.mark.parametrize(
    "dtype,values",
    [
        (np.uint8, [0, 1, 2]),
        (np.uint8, [0, 3, 200]),
        (np.int16, [-1, 0, 7]),
        (np.uint16, [0, 1000, 65535]),
        (np.int32, [0, 70000]),
    ],
)
def test_label_counts_match_unique(dtype, values):
    from napari_liverct.survey.fingerprint import _label_counts

    rng = np.random.default_rng(3)
    lab = np.asfortranarray(rng.choice(np.array(values, dtype=dtype), size=(20, 18, 7)))
    vals, counts = np.unique(lab, return_counts=True)
    assert _label_counts(lab) == {int(v): int(c) for v, c in zip(vals, counts)}
