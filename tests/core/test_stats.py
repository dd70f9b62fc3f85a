"""Statistics vs plain, obviously-correct numpy / scipy / nibabel computations."""

from __future__ import annotations

import csv
import io
import json

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import apply_affine
from scipy import ndimage as ndi
from scipy.spatial.distance import pdist

from napari_liverct import cli
from napari_liverct.stats import (
    image_stats,
    label_stats,
    lesion_label_map,
    lesion_stats,
    max_diameter_mm,
    stats_for_files,
    stats_on_grid,
    tumour_burden,
)
from napari_liverct.stats._engine import hist_percentiles

# LPS on disk, anisotropic: 0.7 x 0.9 x 2.5 mm
AFFINE = np.array([[-0.7, 0, 0, 30.0], [0, -0.9, 0, 20.0], [0, 0, 2.5, -40.0], [0, 0, 0, 1]])


def ball(shape, centre, radius_vox):
    """Boolean ball of the given per-axis radius (voxels) around centre (voxels)."""
    g = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum(((g[a] - centre[a]) / radius_vox[a]) ** 2 for a in range(3)) <= 1.0


@pytest.fixture(scope="module")
def synthetic():
    """int16 image + labels: liver (1), three tumours (2) of distinct sizes, noise."""
    shape = (60, 50, 24)
    rng = np.random.default_rng(3)
    img = rng.integers(-1000, 400, size=shape).astype(np.int16)
    lab = np.zeros(shape, np.uint8)
    lab[5:55, 5:45, 2:22] = 1
    lab[ball(shape, (20, 20, 10), (8, 7, 3))] = 2  # big
    lab[40:44, 30:35, 15:18] = 2  # 4*5*3 = 60 voxels
    lab[10, 40, 5] = 2  # single voxel
    img[lab == 2] += 50
    return img, lab


# ---------------------------------------------------------------- lesions


def test_lesions_match_scipy_label_and_numpy(synthetic):
    img, lab = synthetic
    ref_cc, n = ndi.label(lab == 2, structure=np.ones((3, 3, 3)))
    rows = lesion_stats(img, lab, AFFINE)
    assert len(rows) == n == 3
    ref_sizes = sorted((int((ref_cc == i).sum()) for i in range(1, n + 1)), reverse=True)
    assert [r.voxels for r in rows] == ref_sizes
    assert [r.id for r in rows] == [1, 2, 3]
    voxel_ml = 0.7 * 0.9 * 2.5 / 1000
    for r in rows:
        # find the reference component containing this lesion's first bbox corner voxels
        comp = None
        for i in range(1, n + 1):
            m = ref_cc == i
            if m.sum() == r.voxels:
                comp = m
        idx = np.argwhere(comp)
        assert r.volume_ml == pytest.approx(len(idx) * voxel_ml, rel=1e-12)
        assert list(r.bbox_min) == idx.min(0).tolist() and list(r.bbox_max) == idx.max(0).tolist()
        np.testing.assert_allclose(r.centroid_voxel, idx.mean(0), atol=1e-9)
        np.testing.assert_allclose(r.centroid_mm, apply_affine(AFFINE, idx.mean(0)), atol=1e-9)
        assert r.mean == pytest.approx(img[comp].astype(float).mean(), rel=1e-12)
        assert list(r.slice_range) == [int(idx[:, 2].min()), int(idx[:, 2].max())]  # k is S-I here
        mm = apply_affine(AFFINE, idx)
        assert r.max_diameter_mm == pytest.approx(pdist(mm).max() if len(mm) > 1 else 0.0, abs=1e-9)
        assert r.label == 2


def test_lesion_label_map_ids_match_lesion_stats(synthetic):
    img, lab = synthetic
    rows = lesion_stats(img, lab, AFFINE)
    lmap, n = lesion_label_map(lab)
    assert n == len(rows) and lmap.shape == lab.shape
    assert np.array_equal(lmap > 0, lab == 2)
    for r in rows:
        idx = np.argwhere(lmap == r.id)
        assert len(idx) == r.voxels and idx.min(0).tolist() == list(r.bbox_min)


def test_connectivity_6_vs_26():
    lab = np.zeros((10, 10, 10), np.uint8)
    lab[2:4, 2:4, 2:4] = 2
    lab[4, 4, 4] = 2  # touches the cube only at a corner
    assert len(lesion_stats(None, lab, np.eye(4), connectivity=26)) == 1
    rows6 = lesion_stats(None, lab, np.eye(4), connectivity=6)
    assert [r.voxels for r in rows6] == [8, 1]
    assert rows6[0].mean is None
    with pytest.raises(ValueError, match="connectivity"):
        lesion_stats(None, lab, np.eye(4), connectivity=18)


def test_slice_range_uses_superior_axis():
    # stored axes permuted: axis 0 is S-I (its affine column has the z component)
    aff = np.array([[0, 0, 0.8, 0], [0, 0.8, 0, 0], [3.0, 0, 0, 0], [0, 0, 0, 1]])
    lab = np.zeros((12, 8, 8), np.uint8)
    lab[4:9, 2:4, 2:5] = 2
    (r,) = lesion_stats(None, lab, aff)
    assert list(r.slice_range) == [4, 8]


def test_sphere_diameter_is_2r_within_a_voxel():
    # 12 mm radius at 0.5 mm isotropic: >1500 boundary voxels, the convex-hull path
    r_mm, sp = 12.0, 0.5
    n = int(2 * r_mm / sp) + 5
    c = (n - 1) / 2
    m = ball((n, n, n), (c, c, c), (r_mm / sp,) * 3)
    d = max_diameter_mm(m, np.diag([sp, sp, sp, 1.0]))
    assert abs(d - 2 * r_mm) <= sp * np.sqrt(3)
    assert d <= 2 * r_mm + 1e-9


def test_diameter_exact_on_flat_and_line_sets():
    aff = np.diag([0.7, 1.3, 2.0, 1.0])
    disk = np.zeros((80, 80, 3), bool)
    disk[..., 1] = ball((80, 80, 1), (39.5, 39.5, 0), (30, 30, 1))[..., 0]  # coplanar, > 1500 points
    brute = pdist(apply_affine(aff, np.argwhere(disk))).max()
    assert max_diameter_mm(disk, aff) == pytest.approx(brute, rel=1e-12)
    line = np.zeros((2000, 3, 3), bool)
    line[:, 1, 1] = True  # collinear
    assert max_diameter_mm(line, aff) == pytest.approx(1999 * 0.7, rel=1e-12)
    irregular = np.random.default_rng(0).random((40, 40, 30)) > 0.5  # scattered, many points
    pts = apply_affine(aff, np.argwhere(irregular))
    hull_pts = pts[np.unique(np.r_[np.argmax(pts, 0), np.argmin(pts, 0)])]
    assert max_diameter_mm(irregular, aff) >= pdist(hull_pts).max() - 1e-9
    from scipy.spatial import ConvexHull

    assert max_diameter_mm(irregular, aff) == pytest.approx(pdist(pts[ConvexHull(pts).vertices]).max())


def test_no_lesions():
    assert lesion_stats(None, np.zeros((4, 4, 4), np.uint8), np.eye(4)) == []


# ---------------------------------------------------------------- labels and image


@pytest.mark.parametrize("layout", ["C", "F", "mixed", "flipped", "float"])
def test_label_stats_match_numpy(synthetic, layout):
    img, lab = synthetic
    lab = lab.copy()
    lab[50:55, 40:45, 20:22] = 7  # a gap in label values
    if layout == "F":
        img, lab = np.asfortranarray(img), np.asfortranarray(lab)
    elif layout == "mixed":
        img = np.asfortranarray(img)
    elif layout == "flipped":
        img, lab = img[::-1, :, ::-1], lab[::-1, :, ::-1]
    elif layout == "float":
        img = img.astype(np.float32) / 3
    names = {0: "background", 1: "liver", 2: "tumour"}
    rows = label_stats(img, lab, AFFINE, names, include_background=True)
    assert [r.label for r in rows] == [0, 1, 2, 7]
    assert [r.name for r in rows] == ["background", "liver", "tumour", "label 7"]
    n_fg = int((lab > 0).sum())
    for r in rows:
        m = lab == r.label
        v = img[m].astype(np.float64)
        idx = np.argwhere(m)
        assert r.voxels == m.sum()
        assert r.volume_ml == pytest.approx(m.sum() * 0.7 * 0.9 * 2.5 / 1000, rel=1e-12)
        assert r.share == (None if r.label == 0 else pytest.approx(m.sum() / n_fg))
        for key, ref in [
            ("mean", v.mean()),
            ("std", v.std()),
            ("min", v.min()),
            ("max", v.max()),
            ("median", np.median(v)),
            ("p05", np.percentile(v, 5)),
            ("p95", np.percentile(v, 95)),
        ]:
            assert getattr(r, key) == pytest.approx(ref, rel=1e-9, abs=1e-9), key
        assert list(r.bbox_min) == idx.min(0).tolist() and list(r.bbox_max) == idx.max(0).tolist()
        np.testing.assert_allclose(r.centroid_voxel, idx.mean(0), atol=1e-9)
        np.testing.assert_allclose(r.centroid_mm, apply_affine(AFFINE, idx.mean(0)), atol=1e-9)


def test_label_stats_without_image_and_empty():
    lab = np.zeros((5, 5, 5), np.uint8)
    assert label_stats(None, lab, np.eye(4)) == []
    lab[1:3, 1:3, 1:3] = 1
    (r,) = label_stats(None, lab, np.diag([2, 2, 2, 1.0]))
    assert r.voxels == 8 and r.volume_ml == pytest.approx(8 * 8 / 1000) and r.mean is None
    with pytest.raises(ValueError, match="shape"):
        label_stats(np.zeros((4, 4, 4)), lab, np.eye(4))


def test_hist_percentiles_equal_numpy():
    rng = np.random.default_rng(1)
    for size in (1, 2, 7, 1000):
        data = rng.integers(-5, 6, size=size)  # many ties
        values, counts = np.unique(data, return_counts=True)
        qs = [0, 0.5, 5, 25, 50, 62.5, 95, 99.5, 100]
        np.testing.assert_allclose(hist_percentiles(counts, values, qs), np.percentile(data, qs), rtol=0, atol=1e-12)


def test_image_stats_match_numpy(synthetic):
    img, _ = synthetic
    s = image_stats(img, AFFINE)
    f = img.astype(np.float64)
    assert s.shape == img.shape and s.dtype == "int16"
    np.testing.assert_allclose(s.spacing_mm, [0.7, 0.9, 2.5])
    assert s.min == f.min() and s.max == f.max()
    assert s.mean == pytest.approx(f.mean(), rel=1e-12) and s.std == pytest.approx(f.std(), rel=1e-12)
    np.testing.assert_allclose([s.p00_5, s.p50, s.p99_5], np.percentile(f, [0.5, 50, 99.5]))
    fs = image_stats(img.astype(np.float32) + 0.25, AFFINE)
    assert fs.p50 == pytest.approx(np.median(f + 0.25)) and fs.std == pytest.approx(f.std(), rel=1e-6)


def test_tumour_burden_and_stats_on_grid(synthetic):
    img, lab = synthetic
    n1, n2 = int((lab == 1).sum()), int((lab == 2).sum())
    assert tumour_burden(lab) == pytest.approx(n2 / (n1 + n2))
    assert tumour_burden(np.where(lab == 2, 0, lab)) is None
    liver_names = {0: "background", 1: "liver", 2: "tumour"}
    res = stats_on_grid(img, lab, AFFINE, liver_names)
    assert res.image is not None and res.tumour_burden is not None
    assert res.tumour_burden == pytest.approx(n2 / (n1 + n2))
    assert res.organ_labels == (1,) and res.lesion_labels == (2,)
    assert [r.label for r in res.labels] == [1, 2]
    assert len(res.lesions) == 3
    assert stats_on_grid(img, (lab == 1).astype(np.uint8), AFFINE, liver_names).tumour_burden is None
    # no names: nothing is a tumour, no burden, no lesion table (never "label 2 is the tumour")
    bare = stats_on_grid(img, lab, AFFINE)
    assert bare.lesions == () and bare.tumour_burden is None and bare.lesion_labels == ()
    # a heart and a kidney are not tumours
    other = stats_on_grid(img, lab, AFFINE, {0: "background", 1: "heart", 2: "kidney_right"})
    assert other.lesions == () and other.tumour_burden is None
    # the user's choice drives burden and lesions whatever the names say
    chosen = stats_on_grid(img, lab, AFFINE, {1: "spleen", 2: "kidney_right"}, organ_labels=[1], lesion_labels=[2])
    assert chosen.tumour_burden == pytest.approx(n2 / (n1 + n2)) and len(chosen.lesions) == 3
    # several lesion classes are labelled together
    both = stats_on_grid(img, lab, AFFINE, lesion_labels=[1, 2])
    from scipy import ndimage as ndi

    assert len(both.lesions) == ndi.label(lab > 0, structure=np.ones((3, 3, 3)))[1]
    only_img = stats_on_grid(img, None, AFFINE)
    assert only_img.labels == () and only_img.image.voxels == img.size


# ---------------------------------------------------------------- files and CLI


@pytest.fixture
def files(synthetic, write_nifti_file):
    img, lab = synthetic
    return write_nifti_file("liver_7.nii.gz", img, AFFINE), write_nifti_file("liver_7_label.nii.gz", lab, AFFINE)


def test_cli_json_equals_python(files, capsys):
    img_p, lab_p = files
    assert cli.main(["stats", str(img_p), "--labels", str(lab_p), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(stats_for_files(img_p, lab_p).to_json()))
    lesion = printed["lesions"][0]
    assert set(lesion) >= {"label", "id", "voxels", "volume_ml", "max_diameter_mm", "centroid_mm", "mean"}
    assert set(printed["labels"][0]) >= {
        "label",
        "name",
        "voxels",
        "volume_ml",
        "mean",
        "std",
        "min",
        "max",
        "median",
        "p05",
        "p95",
        "bbox_min",
        "bbox_max",
        "centroid_mm",
    }
    assert cli.main(["stats", str(img_p), "--labels", str(lab_p), "--connectivity", "6", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["connectivity"] == 6


def test_cli_csv_and_table(files, capsys):
    img_p, lab_p = files
    assert cli.main(["stats", str(img_p), "--labels", str(lab_p), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    kinds = ["image", "label", "label", "lesion", "lesion", "lesion", "tumour_burden", "sum_of_diameters_mm"]
    assert [r["kind"] for r in rows] == kinds
    assert int(rows[3]["voxels"]) == max(int(r["voxels"]) for r in rows[3:6])
    targets = [r for r in rows[3:6] if r["target"] == "True"]
    assert float(rows[-1]["value"]) == pytest.approx(sum(float(r["long_axis_mm"]) for r in targets))
    assert cli.main(["stats", str(img_p), "--labels", str(lab_p)]) == 0
    out = capsys.readouterr().out
    assert "liver" in out and "tumour" in out and "Tumour burden" in out
    assert "long axis" in out and "Sum of diameters" in out
    # without --labels the paired ct_label.nii.gz is used, as the reader does
    assert cli.main(["stats", str(img_p), "--format", "json"]) == 0
    paired = json.loads(capsys.readouterr().out)
    assert cli.main(["stats", str(img_p), "--labels", str(lab_p), "--format", "json"]) == 0
    explicit = json.loads(capsys.readouterr().out)
    assert paired["labels"] == explicit["labels"] and len(paired["labels"]) == 2
    # an image with no sibling gets image statistics only
    lone = img_p.with_name("lone.nii.gz")
    lone.write_bytes(img_p.read_bytes())
    assert cli.main(["stats", str(lone), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["labels"] == []


def test_scaled_intensities(synthetic, tmp_path):
    img, lab = synthetic
    nimg = nib.Nifti1Image(img, AFFINE)
    nimg.header.set_slope_inter(2.0, -10.0)
    path = tmp_path / "scaled.nii.gz"
    nib.save(nimg, path)
    nib.save(nib.Nifti1Image(lab, AFFINE), tmp_path / "scaled_label.nii.gz")
    res = stats_for_files(path, tmp_path / "scaled_label.nii.gz")
    ref = np.asarray(nib.load(path).dataobj)  # nibabel applies the scaling
    assert res.image.mean == pytest.approx(ref.mean(), rel=1e-9)
    assert res.labels[1].median == pytest.approx(np.median(ref[lab == 2]))


def test_grid_mismatch_and_resampling(synthetic, files, write_nifti_file, capsys):
    img, lab = synthetic
    img_p, _ = files
    shifted = AFFINE.copy()
    shifted[:3, 3] += [2.31, -0.4, 1.1]  # a few mm: not the same grid
    lab_p = write_nifti_file("moved_label.nii.gz", lab, shifted)
    with pytest.raises(ValueError, match="same grid") as err:
        stats_for_files(img_p, lab_p)
    assert str(img_p) in str(err.value) and str(lab_p) in str(err.value)
    assert cli.main(["stats", str(img_p), "--labels", str(lab_p)]) == 2
    assert "moved_label" in capsys.readouterr().err
    small_p = write_nifti_file("small_label.nii.gz", lab[:-1], AFFINE)
    with pytest.raises(ValueError, match="shapes differ"):
        stats_for_files(img_p, small_p)
    tiny = AFFINE.copy()
    tiny[0, 3] += 1e-5  # within tolerance: accepted as the same grid
    assert stats_for_files(img_p, write_nifti_file("tiny_label.nii.gz", lab, tiny)).labels

    from nibabel.processing import resample_from_to

    res = stats_for_files(img_p, lab_p, resample_labels=True)
    ref = np.asarray(resample_from_to(nib.Nifti1Image(lab, shifted), (img.shape, AFFINE), order=0).dataobj)
    ref_counts = {v: int((ref == v).sum()) for v in (1, 2)}
    assert {r.label: r.voxels for r in res.labels} == ref_counts
    assert res.labels[1].mean == pytest.approx(img[ref == 2].astype(float).mean())
