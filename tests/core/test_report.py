"""``napari-liverct report``: numbers equal to survey/evaluate JSON, failed cases, orientation of the
pictures, and the page in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel import orientations as nio

from jsontools import no_seconds
from napari_liverct.cli import main
from napari_liverct.volumes.phantom import make_phantom

SHAPE, SPACING = (80, 80, 24), (4.5, 4.5, 10.0)
N_CASES = 4  # the last one is broken


def make_dataset(
    root: Path, preds: Path | None = None, n: int = N_CASES, broken: bool = True, shape=SHAPE, spacing=SPACING
) -> Path:
    """An MSD Task03_Liver-style folder of small phantoms (the last case's image corrupt) and predictions.

    Case 1 has no tumour (the organ centroid is the focus); prediction 0 misses the upper lesions and
    invents one; prediction 2 is missing (no file).
    """
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(exist_ok=True)
    if preds is not None:
        preds.mkdir(parents=True, exist_ok=True)
    training = []
    for i in range(n):
        cid = f"liver_{i}"
        training.append({"image": f"./imagesTr/{cid}.nii.gz", "label": f"./labelsTr/{cid}.nii.gz"})
        if broken and i == n - 1:
            (root / "imagesTr" / f"{cid}.nii.gz").write_bytes(b"\x1f\x8b this is not a NIfTI file")
            nib.save(nib.Nifti1Image(np.zeros(shape, np.uint8), np.eye(4)), root / "labelsTr" / f"{cid}.nii.gz")
            continue
        ph = make_phantom(shape=shape, spacing=spacing, seed=i, noise=8.0)
        lab = ph.labels.copy()
        if i == 1:
            lab[lab == 2] = 1
        nib.save(nib.Nifti1Image(ph.image, ph.affine), root / "imagesTr" / f"{cid}.nii.gz")
        nib.save(nib.Nifti1Image(lab, ph.affine), root / "labelsTr" / f"{cid}.nii.gz")
        if preds is not None and i != 2:
            p = np.roll(lab, 1, axis=0)
            if i == 0:
                z = p.shape[2] // 2
                upper = p[..., z:]
                upper[upper == 2] = 1
                p[20:23, 40:43, 4:6] = 2
            nib.save(nib.Nifti1Image(p, ph.affine), preds / f"{cid}.nii.gz")
    (root / "dataset.json").write_text(
        json.dumps(
            {
                "name": "Task03_Liver",
                "modality": {"0": "CT"},
                "labels": {"0": "background", "1": "liver", "2": "cancer"},
                "numTraining": n,
                "training": training,
                "test": [],
            }
        )
    )
    return root


def page_data(index: Path) -> dict:
    text = index.read_text()
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One dataset, its report (CLI, 2 local Dask workers), and the survey / evaluate CLI JSON."""
    tmp = tmp_path_factory.mktemp("report")
    root = make_dataset(tmp / "Task03_Liver", tmp / "preds")
    out = tmp / "site"
    # exit 3: the last case is unreadable and prediction 2 is missing; the others were written
    assert main(["report", str(root), "--predictions", str(tmp / "preds"), "--out", str(out), "--workers", "2"]) == 3
    assert main(["survey", str(root), "--workers", "1", "--out", str(tmp / "survey.json")]) == 3
    assert main(["evaluate", str(root), str(tmp / "preds"), "--workers", "1", "--out", str(tmp / "evaluate.json")]) == 3
    return {
        "root": root,
        "preds": tmp / "preds",
        "out": out,
        "survey": json.loads((tmp / "survey.json").read_text()),
        "evaluate": json.loads((tmp / "evaluate.json").read_text()),
    }


def test_numbers_equal_survey_and_evaluate_json(built):
    out = built["out"]
    assert no_seconds(json.loads((out / "survey.json").read_text())) == no_seconds(built["survey"])
    assert no_seconds(json.loads((out / "evaluation.json").read_text())) == no_seconds(built["evaluate"])
    data = page_data(out / "index.html")
    survey, ev = built["survey"], built["evaluate"]
    assert data["summary"] == survey["summary"] and data["anomalies"] == survey["anomalies"]
    assert len(data["cases"]) == len(survey["cases"]) == N_CASES
    ev_cases = {c["id"]: c for c in ev["cases"]}
    checked = 0
    for case, row in zip(data["cases"], survey["cases"]):
        cells = case["cells"]
        # the survey's anomalies, then a failed evaluation (liver_2's missing prediction) as a badge
        ev_kinds = [f"evaluation_{e['kind']}" for e in ev["errors"] if e["id"] == row["id"]]
        assert cells["id"] == row["id"] and case["anomalies"] == row["anomalies"] + ev_kinds
        assert bool(case["failed"]) == bool(row["error"] or row["label_error"] or ev_kinds)
        if row["error"]:
            continue
        for v in ("1", "2"):
            assert cells[f"volume_ml_{v}"] == row["volume_ml"].get(v, 0.0)
        assert cells["lesion_count"] == row["lesion_count"] and cells["fg_p50"] == row["fg_p50"]
        assert [cells[f"spacing_{a}"] for a in "xyz"] == row["spacing_ras"]
        e = ev_cases[row["id"]]
        for cl in e.get("classes") or []:
            assert cells[f"dice_{cl['label']}"] == cl["dice"]
            assert cells[f"hd95_{cl['label']}"] == (cl["hd95"] if cl["hd95"] is not None or cl["both_empty"] else "inf")
            checked += 1
        if e.get("lesions"):
            assert (cells["missed"], cells["false"]) == (e["lesions"]["fn"], e["lesions"]["fp"])
    assert checked >= 4
    es = ev["summary"]["classes"]
    for lab, c in data["evaluation"]["classes"].items():
        assert c["global_dice"] == es[lab]["global_dice"] and c["dice"] == es[lab]["dice"]


def test_stats_table_equals_stats_cli(built, capsys):
    data = page_data(built["out"] / "index.html")
    sec = data["cases"][0]["section"]
    capsys.readouterr()
    assert main(["stats", sec["image"], "--labels", sec["label"], "--format", "json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert [r["volume_ml"] for r in sec["labels"]] == [r["volume_ml"] for r in st["labels"]]
    assert [r["mean"] for r in sec["labels"]] == [r["mean"] for r in st["labels"]]
    assert [r["volume_ml"] for r in sec["lesions"]] == [r["volume_ml"] for r in st["lesions"]]
    for key in ("long_axis_mm", "short_axis_mm", "recist_slice", "target"):  # RECIST columns
        assert [r[key] for r in sec["lesions"]] == [r[key] for r in st["lesions"]]
    assert sec["sum_of_diameters_mm"] == st["sum_of_diameters_mm"] and sec["targets"] == st["targets"]


def test_failed_case_and_pictures(built):
    out = built["out"]
    data = page_data(out / "index.html")
    bad = data["cases"][-1]
    assert bad["error"] and "liver_3" in bad["error"] and "read_error" in bad["anomalies"]
    assert bad["section"]["pictures"] == []
    for case in data["cases"][:-1]:
        pics = case["section"]["pictures"]
        assert [p["view"] for p in pics if p["kind"] == "labels"] == ["axial", "coronal", "sagittal"]
        for p in pics:
            f = out / case["section"]["dir"] / p["file"]
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "largest lesion" in data["cases"][0]["section"]["focus"]
    assert "organ centroid" in data["cases"][1]["section"]["focus"]
    # with predictions: comparison pictures, missed and false lesions each get one
    kinds = [p["kind"] for p in data["cases"][0]["section"]["pictures"]]
    assert kinds.count("compare") == 3 and "FN" in kinds and "FP" in kinds
    assert data["cases"][2]["section"]["eval"]["error_kind"] == "missing"
    for p in data["plots"]:
        assert (out / p["file"]).stat().st_size > 5000


def test_page_is_self_contained_and_lazy(built):
    text = (built["out"] / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "nothing may load from the network"
    assert "<img" not in text.split('<script type="application/json"')[0], "no image is laid out before a case opens"
    assert 'loading: "lazy"' in text


def _marker_volume(order: str):
    """CT-like volume with a label-2 marker at a known RAS point, stored in ``order`` (e.g. LPS, ASR)."""
    shape = (30, 36, 20)
    aff = np.diag([1.5, 1.2, 2.5, 1.0])
    aff[:3, 3] = -(np.array(shape) - 1) / 2 * np.diag(aff)[:3]  # centre at RAS 0
    img = np.full(shape, -1000, np.int16)
    img[3:-3, 3:-3, :] = 40
    lab = np.zeros(shape, np.uint8)
    lab[5:-5, 5:-5, 3:-3] = 1
    ijk = np.array([22, 27, 15])  # right (+x), anterior (+y), superior (+z) of the centre
    lab[ijk[0] - 1 : ijk[0] + 2, ijk[1] - 1 : ijk[1] + 2, ijk[2] - 1 : ijk[2] + 2] = 2
    ras = (aff @ np.append(ijk, 1.0))[:3]
    assert ras[0] > 5 and ras[1] > 5 and ras[2] > 5
    ornt = nio.ornt_transform(nio.axcodes2ornt("RAS"), nio.axcodes2ornt(tuple(order)))
    new_aff = aff @ nio.inv_ornt_aff(ornt, shape)
    return nio.apply_orientation(img, ornt), nio.apply_orientation(lab, ornt), new_aff, ras


@pytest.mark.parametrize("order", ["RAS", "LPS", "ASR", "PIL"])
def test_pictures_in_viewer_orientation_window_and_colours(order):
    from napari_liverct.display.layers import choose_window
    from napari_liverct.labels.tables import label_colors
    from napari_liverct.report.thumbnails import VIEWS, display_volume, render_plane, world_index

    img, lab, aff, ras = _marker_volume(order)
    names = {0: "background", 1: "liver", 2: "tumour"}
    ct = display_volume(img, aff, kind="image")
    labels = display_volume(lab, aff, kind="labels", label_names=names)
    assert ct.contrast_limits == choose_window(img)[1] == (-160.0, 240.0)
    idx = np.round(world_index(ct, ras)).astype(int)
    rgb = tuple(int(round(255 * c)) for c in label_colors(names)[2][:3])
    assert labels.colors[2] == label_colors(names)[2]
    for view, (axis, _flip, (top, _bottom, left, _right)) in VIEWS.items():
        im = np.asarray(render_plane(ct, view, int(idx[axis]), labels=labels))
        ys, xs = np.nonzero(np.all(im == rgb, axis=2))
        assert len(ys), f"{order} {view}: marker not drawn"
        h, w = im.shape[:2]
        # marker is right, anterior and superior of the centre
        assert ys.mean() < h / 2, f"{order} {view}: marker should be at the top ({top})"
        if view in ("axial", "coronal"):
            assert left == "R" and xs.mean() < w / 2, f"{order} {view}: patient's right must be on the left"
        else:
            assert left == "A" and xs.mean() < w / 2, f"{order} {view}: anterior must be on the left"
        # square pixels in mm: the picture's aspect is the slice's physical aspect
        ext = [s * sp for s, sp in zip(ct.data.shape, ct.scale)]
        rest = [e for a, e in enumerate(ext) if a != axis]
        assert abs(h / w - rest[0] / rest[1]) < 0.02


def test_pictures_use_what_napari_reads(built):
    """The arrays, transform, window and colours behind the pictures are those of the layers napari
    gets from this plugin's reader (through the npe2 manifest)."""
    import npe2

    from napari_liverct.report.thumbnails import display_volume
    from napari_liverct.volumes.nifti import read_nifti

    npe2.PluginManager.instance().discover()
    img_path = built["root"] / "imagesTr" / "liver_0.nii.gz"
    lab_path = built["root"] / "labelsTr" / "liver_0.nii.gz"
    layers = {t: (d, k) for d, k, t in npe2.read([str(img_path)], plugin_name="napari-liverct", stack=False)}
    (idata, ikw), (ldata, lkw) = layers["image"], layers["labels"]
    img, lab = read_nifti(img_path), read_nifti(lab_path)
    ct = display_volume(img.data, img.affine, kind="image", header=img.header, source_path=img.path)
    labels = display_volume(lab.data, lab.affine, kind="labels", header=lab.header, source_path=lab.path)
    assert np.array_equal(ct.data, np.asarray(idata)) and np.array_equal(labels.data, np.asarray(ldata))
    assert tuple(ct.scale) == tuple(ikw["scale"]) and tuple(ct.translate) == tuple(ikw["translate"])
    assert ct.contrast_limits == tuple(ikw["contrast_limits"])
    assert {k: v for k, v in lkw["colormap"].items() if k is not None} == labels.colors
    # the summary's class colours (plots, tables) are the layer's too
    data = page_data(built["out"] / "index.html")
    for v, c in data["classes"].items():
        assert tuple(c["color"]) == tuple(lkw["colormap"][int(v)])


def test_flipped_labels_4d_and_unlabelled_cases(tmp_path):
    """Labels stored with flipped axes draw exactly as same-grid labels; a 4D image shows its first
    volume; an image without labels still gets its pictures (volume centre); labels on another grid
    are not drawn, and the page says why."""
    from napari_liverct.report import build_report

    ph = make_phantom(shape=(48, 48, 12), spacing=(7.5, 7.5, 20.0), seed=3)
    ds = tmp_path / "plain"
    ds.mkdir()
    ornt = nio.ornt_transform(nio.io_orientation(ph.affine), nio.axcodes2ornt(("R", "A", "S")))
    flipped = nio.apply_orientation(ph.labels, ornt), ph.affine @ nio.inv_ornt_aff(ornt, ph.labels.shape)
    for name, img, lab in (
        ("liver_same", ph.image, (ph.labels, ph.affine)),
        ("liver_flip", ph.image, flipped),
        ("liver_4d", np.stack([ph.image, ph.image], -1), (ph.labels, ph.affine)),
        ("liver_nolab", ph.image, None),
        ("liver_off", ph.image, (ph.labels[:, :, :6], ph.affine)),
    ):
        nib.save(nib.Nifti1Image(img, ph.affine), ds / f"{name}.nii.gz")
        if lab is not None:
            nib.save(nib.Nifti1Image(lab[0], lab[1]), ds / f"{name}_label.nii.gz")
    res = build_report(ds, tmp_path / "site", scheduler="synchronous", progress=False)
    cases = {c["id"]: c for c in res["page"]["cases"]}
    site = tmp_path / "site"

    def png(cid, view):
        return (site / cases[cid]["section"]["dir"] / f"{view}.png").read_bytes()

    for view in ("axial", "coronal", "sagittal"):
        assert png("liver_flip", view) == png("liver_same", view) == png("liver_4d", view)
    assert "flipped" in " ".join(cases["liver_flip"]["section"]["notes"])
    assert "first volume" in " ".join(cases["liver_4d"]["section"]["notes"])
    assert (
        cases["liver_nolab"]["section"]["focus"].startswith("volume centre")
        and "missing_labels" in cases["liver_nolab"]["anomalies"]
    )
    assert "not on the same grid" in " ".join(cases["liver_off"]["section"]["notes"])
    assert len(cases["liver_off"]["section"]["pictures"]) == 3


def test_views_are_the_viewer_cameras():
    """Each picture is the plane ``napari-liverct snapshot`` shows with napari's camera: the fixed axis is
    dims.order[0], and rows are flipped exactly where the camera's vertical orientation is "up"."""
    from napari_liverct._napari.snapshot import VIEWS as CAMERA
    from napari_liverct.report.thumbnails import VIEWS

    for name, (order, (vertical, horizontal)) in CAMERA.items():
        axis, flip, _ = VIEWS[name]
        assert axis == order[0] and flip == (vertical == "up") and horizontal == "right"


# ---------------------------------------------------------------- the page in a real browser


def _chrome_paths():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, None, "selenium is not installed (pip install -e '.[testing]')"
    if not chromium or not driver:
        return (
            None,
            None,
            "chromium / chromedriver not found (bash scripts/setup.sh installs Debian's chromium and chromium-driver)",
        )
    return chromium, driver, None


@pytest.fixture(scope="module")
def browser():
    chromium, driver, why = _chrome_paths()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="liverct-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1700",
    ):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(fn, timeout=10.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out")


def _all_images_loaded(d):
    """Scroll every image into view (they are lazy) and return the broken ones."""
    imgs = d.find_elements("css selector", "img")
    for im in imgs:
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", im)
        _wait(lambda im=im: d.execute_script("return arguments[0].complete", im))
    return [
        im.get_attribute("src")
        for im in imgs
        if not d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", im)
    ]


@pytest.mark.slow
def test_page_in_chromium(built, browser, tmp_path):
    d = browser
    out = built["out"]
    d.get((out / "index.html").as_uri())
    _wait(lambda: d.execute_script("return document.body.getAttribute('data-ready')"))
    rows = d.find_elements("css selector", "#cases > tbody > tr.case")
    assert len(rows) == N_CASES
    assert len(d.find_elements("css selector", "#plots img")) >= 5
    assert _all_images_loaded(d) == []

    def order():
        return [r.get_attribute("data-id") for r in d.find_elements("css selector", "#cases > tbody > tr.case")]

    survey = {r["id"]: r for r in built["survey"]["cases"]}
    d.find_element("css selector", "#cases th[data-key='volume_ml_1'] button").click()
    asc = order()
    vols = [survey[i].get("volume_ml", {}).get("1") for i in asc if not survey[i]["error"]]
    assert vols == sorted(vols) and survey[asc[-1]]["error"], "ascending, the failed case (no value) last"
    d.find_element("css selector", "#cases th[data-key='volume_ml_1'] button").click()
    desc = order()
    vols = [survey[i].get("volume_ml", {}).get("1") for i in desc if not survey[i]["error"]]
    assert desc != asc and vols == sorted(vols, reverse=True) and survey[desc[-1]]["error"]
    d.find_element("css selector", "#cases th[data-key='id'] button").click()
    assert order() == sorted(survey)
    # the page shows the survey's numbers (full value in each cell's tooltip)
    col = d.execute_script(
        "return [...document.querySelectorAll('#cases > thead > tr > th')]"
        ".findIndex(th => th.dataset.key === 'volume_ml_1') + 1"
    )
    cell = d.find_element("css selector", f"#cases > tbody > tr[data-id='liver_0'] > td:nth-child({col})")
    assert float(cell.get_attribute("title")) == survey["liver_0"]["volume_ml"]["1"]

    # clicking a row shows that case, with its pictures loaded
    d.find_element("css selector", "#cases > tbody > tr[data-id='liver_0']").click()
    sec = _wait(lambda: d.find_elements("css selector", "tr.detail section.case-section"))[0]
    assert sec.get_attribute("data-id") == "liver_0"
    assert len(sec.find_elements("css selector", "img")) >= 8
    assert all(im.get_attribute("loading") == "lazy" for im in sec.find_elements("css selector", "img"))
    assert _all_images_loaded(d) == []
    assert "liver" in sec.text and "missed" in sec.text
    assert "long axis mm" in sec.text and "sum of diameters" in sec.text  # RECIST in the lesion table
    # the prediction table's columns are the metric list's (compare.metrics), its cells the evaluation JSON's
    from napari_liverct.compare.metrics import class_metrics

    shown = class_metrics("table")
    pred_table = sec.find_elements("css selector", ".cols2 > div:nth-child(2) table")[0]
    heads = [th.text for th in pred_table.find_elements("css selector", "thead th")]
    assert heads == ["class", *(m.label for m in shown)]
    ev_case = next(c for c in built["evaluate"]["cases"] if c["id"] == "liver_0")
    liver = next(c for c in ev_case["classes"] if c["label"] == 1)
    cells = [
        td.text for td in pred_table.find_elements("css selector", "tbody tr")[0].find_elements("css selector", "td")
    ]
    for m, text in zip(shown, cells[1:]):
        assert text == f"{liver[m.key]:,.{m.digits}f}", (m.key, text, liver[m.key])
    tables = [
        [th.text for th in t.find_elements("css selector", "thead th")]
        for t in d.find_elements("css selector", "#summary table")
    ]
    summary_heads = next(h for h in tables if "global Dice" in h)
    assert [h[len("mean ") :] for h in summary_heads if h.startswith("mean ")] == [
        m.label for m in class_metrics("summary")
    ]
    d.execute_script("document.querySelector('#filter').scrollIntoView({block: 'start'})")  # table and case
    time.sleep(0.3)
    shot = tmp_path / "report_case.png"
    d.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000
    if os.environ.get(
        "LIVERCT_REPORT_SCREENSHOT"
    ):  # for the README: LIVERCT_REPORT_SCREENSHOT=docs/screenshots/report.png
        shutil.copy(shot, os.environ["LIVERCT_REPORT_SCREENSHOT"])

    # the failed case has its row with the reason; filtering works
    bad = d.find_element("css selector", "#cases > tbody > tr[data-id='liver_3']")
    assert "failed to read" in bad.text and "liver_3.nii.gz" in bad.text
    box = d.find_element("css selector", "#filter")
    box.send_keys("read_error")
    visible = [r for r in d.find_elements("css selector", "#cases > tbody > tr.case") if r.is_displayed()]
    assert [r.get_attribute("data-id") for r in visible] == ["liver_3"]
    box.clear()
    box.send_keys(" ")
    d.find_element("css selector", "#only-anomalies").click()
    visible = [
        r.get_attribute("data-id")
        for r in d.find_elements("css selector", "#cases > tbody > tr.case")
        if r.is_displayed()
    ]
    assert visible == ["liver_2", "liver_3"]  # liver_2's prediction is missing, liver_3 unreadable
    # opening a case from the anomaly list
    d.find_element("css selector", "#anomalies a.caselink").click()
    sec = _wait(lambda: d.find_elements("css selector", "tr.detail section.case-section"))[0]
    assert sec.get_attribute("data-id") == "liver_3" and "Failed to read" in sec.text
    # a link to a case opens it
    d.get((out / "index.html").as_uri() + "#case=liver_2")
    sec = _wait(lambda: d.find_elements("css selector", "tr.detail section.case-section"))[0]
    assert sec.get_attribute("data-id") == "liver_2" and "organ centroid" not in sec.text

    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
