"""RECIST 1.1 diameters, targets and response against analytic shapes and brute force.

* Ellipses/ellipsoids of known axes, rotated in plane, anisotropic spacing, stored RAS,
  LPS, permuted and with S as the first array axis (nibabel's ``apply_orientation`` makes
  the storage variants): long and short axes within one in-plane voxel diagonal of 2a, 2b.
* Real labels other tools wrote (pyradiomics' lung/breast tumour NRRDs read with
  SimpleITK; TotalSegmentator's organ masks): the long axis equals the largest distance of
  every pair of boundary voxel centres on every slice (scikit-image's boundaries, numpy);
  the short axis equals a perpendicular sweep of lines through the lesion's convex hull
  (matplotlib's polygon containment, sampled every 0.02 mm).
* Two time points from a label map and copies with lesions grown/shrunk by scipy's binary
  dilation/erosion by a ball: the category follows the written thresholds.
"""

from __future__ import annotations

import numpy as np
import pytest
from nibabel.orientations import apply_orientation, inv_ornt_aff
from scipy import ndimage as ndi
from scipy.spatial.distance import pdist

from napari_liverct.stats import lesion_stats, stats_on_grid
from napari_liverct.stats.recist import PERPENDICULAR_TOLERANCE_DEG, TargetRule, choose_targets, slice_axis
from napari_liverct.stats.response import recist_response
from realdata import real

# storage orders given as nibabel orientations of the RAS array: (new axis, flip) per input axis
STORAGES = {
    "RAS": [[0, 1], [1, 1], [2, 1]],
    "LPS": [[0, -1], [1, -1], [2, 1]],
    "permuted PLS": [[1, -1], [0, -1], [2, 1]],
    "S first": [[1, 1], [2, -1], [0, 1]],
}


def restore(data: np.ndarray, affine: np.ndarray, ornt) -> tuple[np.ndarray, np.ndarray]:
    """The same voxels stored another way (nibabel: array and affine)."""
    ornt = np.asarray(ornt, float)
    return apply_orientation(data, ornt), affine @ inv_ornt_aff(ornt, data.shape)


def ellipsoid(shape, spacing, a, b, c, angle_deg, rotate_grid_deg=0.0):
    """Boolean ellipsoid (semi-axes a, b in plane at ``angle_deg``, c along S) centred on a
    voxel centre, on a RAS grid of ``spacing`` optionally rotated about S."""
    g = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    r = np.deg2rad(rotate_grid_deg)
    rot = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    lin = rot @ np.diag(spacing)
    x, y, z = (sum(lin[i, j] * g[j] for j in range(3)) for i in range(3))
    t = np.deg2rad(angle_deg)
    xr, yr = x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)
    mask = (xr / a) ** 2 + (yr / b) ** 2 + (z / c) ** 2 <= 1
    affine = np.eye(4)
    affine[:3, :3] = lin
    affine[:3, 3] = -lin @ (np.array(shape) // 2) + np.array([12.0, -30.0, 50.0])
    return mask.astype(np.uint8), affine


def angle_deg(r) -> float:
    u = np.subtract(r.long_axis_end_mm, r.long_axis_start_mm)
    v = np.subtract(r.short_axis_end_mm, r.short_axis_start_mm)
    return float(np.degrees(np.arccos(np.clip(abs(u @ v) / np.linalg.norm(u) / np.linalg.norm(v), 0, 1))))


CASES = [
    # spacing, a, b, c (mm), in-plane angle, grid rotated about S
    ((0.7, 0.9, 3.0), 20.0, 8.0, 12.0, 30.0, 0.0),
    ((0.8, 0.8, 2.5), 15.0, 11.0, 9.0, 73.0, 0.0),
    ((1.2, 0.6, 1.5), 25.0, 6.0, 10.0, 115.0, 20.0),
    ((0.5, 0.5, 5.0), 7.0, 5.5, 15.0, 45.0, 0.0),
]


@pytest.mark.parametrize("spacing,a,b,c,angle,grid_rot", CASES)
@pytest.mark.parametrize("storage", list(STORAGES))
def test_ellipsoid_axes_within_one_voxel_diagonal(storage, spacing, a, b, c, angle, grid_rot):
    shape = tuple(int(2 * max(a, b, c) / s) + 9 for s in spacing)
    shape = (max(shape[0], shape[1]),) * 2 + (shape[2],)
    mask, affine = ellipsoid(shape, spacing, a, b, c, angle, grid_rot)
    data, aff = restore(mask, affine, STORAGES[storage])
    (les,) = lesion_stats(None, data, aff, label=1)
    d = float(np.hypot(spacing[0], spacing[1]))  # in-plane voxel diagonal
    assert 2 * a - d <= les.long_axis_mm <= 2 * a + 1e-9
    assert abs(les.short_axis_mm - 2 * b) <= d
    assert angle_deg(les) == pytest.approx(90.0, abs=PERPENDICULAR_TOLERANCE_DEG)
    # the axial plane is the one nearest S, whatever the array order: the RECIST slice is
    # the ellipsoid's equator, where every end point lies (z of the centre = 50 mm)
    assert slice_axis(aff) == int(np.argmax(np.abs(aff[2, :3])))
    for p in (les.long_axis_start_mm, les.long_axis_end_mm, les.short_axis_start_mm, les.short_axis_end_mm):
        assert p[2] == pytest.approx(50.0, abs=1e-6)
    assert np.linalg.norm(np.subtract(les.long_axis_end_mm, les.long_axis_start_mm)) == pytest.approx(les.long_axis_mm)
    # the same voxels stored as RAS give the same diameters
    (ref,) = lesion_stats(None, mask, affine, label=1)
    assert les.long_axis_mm == pytest.approx(ref.long_axis_mm, abs=1e-9)
    assert les.short_axis_mm == pytest.approx(ref.short_axis_mm, abs=1e-9)


def test_axial_plane_is_from_the_affine_not_the_last_axis():
    """S as the first array axis: the slice axis is 0 and the diameters are the RAS copy's."""
    mask, affine = ellipsoid((60, 60, 20), (0.8, 0.8, 2.5), 18.0, 9.0, 20.0, 20.0)
    data, aff = restore(mask, affine, STORAGES["S first"])
    assert slice_axis(aff) == 0 and data.shape[0] == 20
    (les,), (ref,) = lesion_stats(None, data, aff, label=1), lesion_stats(None, mask, affine, label=1)
    assert (les.long_axis_mm, les.short_axis_mm) == pytest.approx((ref.long_axis_mm, ref.short_axis_mm), abs=1e-9)
    # a lesion long along S is not measured along S: its in-plane axes stay 2a, 2b
    assert les.long_axis_mm < 2 * 18.0 + 1e-9 and les.max_diameter_mm >= 2 * 20.0 - 2 * 2.5


# ---------------------------------------------------------------- real labels, brute force
def _brute_force(mask: np.ndarray, affine: np.ndarray, step: float = 0.02) -> tuple[float, float]:
    """Long axis: every pair of boundary voxel centres on every slice; short axis: lines
    perpendicular to each longest pair swept every ``step`` mm across the convex hull of the
    slice's voxel centres (matplotlib's containment of points sampled every ``step``); of
    equally long pairs, the longest sweep."""
    from matplotlib.path import Path
    from scipy.spatial import ConvexHull
    from skimage.segmentation import find_boundaries

    lin = affine[:3, :3]
    ax = int(np.argmax(np.abs(lin[2]) / np.linalg.norm(lin, axis=0)))
    slices = []
    for k in range(mask.shape[ax]):
        sl = np.take(mask, k, axis=ax)
        b = find_boundaries(np.pad(sl, 1), mode="inner")[1:-1, 1:-1]
        pts = np.insert(np.argwhere(b).astype(float), ax, k, axis=1) @ lin.T
        if len(pts) >= 2:
            slices.append((float(pdist(pts).max()), pts))
    long_mm = max(m for m, _ in slices)
    normal = np.cross(*(lin[:, a] for a in range(3) if a != ax))
    normal /= np.linalg.norm(normal)
    short = 0.0
    for m, pts in slices:
        if m < long_mm - 1e-9:
            continue
        d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
        for i, j in zip(*np.nonzero(np.triu(d >= long_mm - 1e-9, 1))):
            u = (pts[j] - pts[i]) / long_mm
            v = np.cross(normal, u)
            t, s = pts @ u, pts @ v
            hull = Path(np.c_[t, s][ConvexHull(np.c_[t, s]).vertices])
            ss = np.arange(s.min() - step, s.max() + step, step)
            for tt in np.arange(t.min(), t.max() + step, step):
                inside = ss[hull.contains_points(np.c_[np.full_like(ss, tt), ss], radius=1e-9)]
                if inside.size:
                    short = max(short, float(inside[-1] - inside[0]))
    return long_mm, short


def _nrrd(path):
    """(array i,j,k, RAS affine) of an NRRD read with SimpleITK (LPS -> RAS written out here)."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(img).transpose(2, 1, 0)
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(img.GetDirection(), float).reshape(3, 3) @ np.diag(img.GetSpacing())
    lps[:3, 3] = img.GetOrigin()
    return arr, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


@pytest.mark.parametrize("name", ["lung1_label", "lung2_label", "breast1_label"])
def test_pyradiomics_tumours_against_brute_force(name):
    arr, affine = _nrrd(real(f"pyradiomics/{name}.nrrd"))
    lesions = lesion_stats(None, (arr > 0).astype(np.uint8), affine, label=1)
    assert lesions
    for les in lesions[:3]:
        lo, hi = les.bbox_min, les.bbox_max
        # the component from the lesion's own box: voxels of the lesion connected (26) inside it
        sub = arr[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1] > 0
        lab, _ = ndi.label(sub, structure=np.ones((3, 3, 3)))
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        comp = lab == int(np.argmax(sizes))
        assert int(comp.sum()) == les.voxels
        long_mm, short_mm = _brute_force(comp, affine)
        assert les.long_axis_mm == pytest.approx(long_mm, abs=1e-6)
        # the sweep samples lines and points every 0.02 mm: it falls short of the chord by a few steps
        assert abs(les.short_axis_mm - short_mm) <= 0.1, (les.short_axis_mm, short_mm)
        assert angle_deg(les) == pytest.approx(90.0, abs=PERPENDICULAR_TOLERANCE_DEG)


def test_totalsegmentator_organs_against_brute_force():
    """Real irregular shapes (TotalSegmentator's organ masks stand in for lesions: its
    example has no tumour class), measured as lesions of each class."""
    from napari_liverct.volumes.nifti import read_nifti

    vol = read_nifti(real("totalsegmentator/example_seg.nii.gz"))
    data = np.asarray(vol.data)
    values, counts = np.unique(data[data > 0], return_counts=True)
    picked = [int(v) for v, n in zip(values, counts) if 50 <= n <= 3000][:4]
    assert len(picked) == 4
    for v in picked:
        les = lesion_stats(None, data, vol.affine, label=v)[0]
        lab, _ = ndi.label(data == v, structure=np.ones((3, 3, 3)))
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        comp = lab == int(np.argmax(sizes))
        long_mm, short_mm = _brute_force(comp, vol.affine, step=0.05)  # 3 mm voxels
        assert les.long_axis_mm == pytest.approx(long_mm, abs=1e-6), v
        assert abs(les.short_axis_mm - short_mm) <= 0.25, (v, les.short_axis_mm, short_mm)


# ---------------------------------------------------------------- targets
def test_targets_two_per_organ_five_in_all_largest_first():
    from dataclasses import replace

    from napari_liverct.stats.results import LesionStats

    def les(i, label, long_mm):
        return LesionStats(
            label, i, 10, 1.0, long_mm, (0.0, 0.0, 0.0), (0.0,) * 3, None, (0,) * 3, (0,) * 3, (0, 0), long_mm
        )

    rows = [les(1, 2, 30), les(2, 2, 40), les(3, 2, 25), les(4, 3, 12), les(5, 3, 9.9), les(6, 4, 50), les(7, 5, 11)]
    rows += [les(8, 4, 20), les(9, 4, 19), les(10, 6, 10.0)]
    # by long axis: 6(50, organ 4) 2(40, 2) 1(30, 2) 3(25, organ 2 full) 8(20, 4) 9(19, organ 4 full) 4(12) ...
    assert choose_targets(rows) == (6, 2, 1, 8, 4)
    assert choose_targets(rows, TargetRule(per_organ=1, total=5)) == (6, 2, 4, 7, 10)
    assert choose_targets(rows, TargetRule(min_long_mm=26)) == (6, 2, 1)
    assert choose_targets([replace(r, long_axis_mm=5.0) for r in rows]) == ()


def test_stats_result_targets_and_sum_user_changeable():
    mask1, affine = ellipsoid((80, 80, 20), (1.0, 1.0, 2.0), 15.0, 10.0, 10.0, 0.0)
    labels = mask1.copy()
    labels[5:15, 5:9, 8:12] = 1  # a second, small lesion (10 x 4 voxels in plane)
    res = stats_on_grid(None, labels * 2, affine, names={2: "liver tumour"})
    assert [r.target for r in res.lesions] == [True, False]  # the small one: long < 10 mm? it is 9.85
    assert res.lesions[1].long_axis_mm < 10
    assert res.sum_of_diameters_mm == pytest.approx(res.lesions[0].long_axis_mm)
    both = res.with_targets([1, 2])
    assert both.sum_of_diameters_mm == pytest.approx(sum(r.long_axis_mm for r in res.lesions))
    assert both.to_json()["targets"] == [1, 2]
    with pytest.raises(ValueError, match="do not exist"):
        res.with_targets([3])
    rows = res.to_rows()
    lesion_row = next(r for r in rows if r["kind"] == "lesion")
    for col in ("long_axis_mm", "short_axis_mm", "target", "recist_slice", "long_axis_start_mm_x"):
        assert col in lesion_row
    assert rows[-1] == {"kind": "sum_of_diameters_mm", "value": res.sum_of_diameters_mm}


# ---------------------------------------------------------------- two time points
def _spheres(radii_mm, centres_vox, shape=(110, 110, 70)):
    g = np.ogrid[tuple(slice(0, s) for s in shape)]
    lab = np.zeros(shape, np.uint8)
    for r, c in zip(radii_mm, centres_vox):
        lab[sum((g[a] - c[a]) ** 2 for a in range(3)) <= r**2] = 2
    return lab


AFF1 = np.diag([1.0, 1.0, 1.0, 1.0])
AFF1[:3, 3] = (-50.0, 20.0, -300.0)


def _lesions(lab, affine=AFF1):
    return lesion_stats(None, lab, affine, label=2)


@pytest.fixture(scope="module")
def baseline():
    # two targets: diameters ~30 and ~20 mm (1 mm voxels), sum ~50 mm
    return _spheres([15, 10], [(35, 40, 35), (75, 70, 35)])


def _grow(lab, r):
    from skimage.morphology import ball

    return np.where(ndi.binary_dilation(lab == 2, structure=ball(r)), 2, 0).astype(np.uint8)


def _shrink(lab, r):
    from skimage.morphology import ball

    return np.where(ndi.binary_erosion(lab == 2, structure=ball(r)), 2, 0).astype(np.uint8)


def _expected(b_sum, f_sum, nadir, gone):
    """The written thresholds, applied here independently."""
    if gone:
        return "CR"
    if f_sum >= 1.2 * nadir and f_sum - nadir >= 5.0:
        return "PD"
    if f_sum <= 0.7 * b_sum:
        return "PR"
    return "SD"


@pytest.mark.parametrize(
    "change,category",
    [(("grow", 4), "PD"), (("grow", 2), "SD"), (("shrink", 5), "PR"), (("shrink", 1), "SD"), (("gone", 0), "CR")],
)
def test_response_categories(baseline, change, category):
    base = _lesions(baseline)
    assert [r.target for r in base] == [True, True]
    b_sum = sum(r.long_axis_mm for r in base)
    assert b_sum == pytest.approx(50.0, abs=2 * np.sqrt(2))
    kind, r = change
    follow = {"grow": _grow, "shrink": _shrink}.get(kind, lambda lab, r: np.zeros_like(lab))(baseline, r)
    # the follow-up is stored LPS with another origin: pairing is in world mm
    fdata, faff = restore(follow, AFF1, STORAGES["LPS"])
    fol = _lesions(fdata, faff)
    resp = recist_response(base, fol)
    # a ball of radius r widens every diameter by 2r (1 mm voxels), within a voxel diagonal
    if kind == "grow":
        assert resp.followup_sum_mm == pytest.approx(b_sum + 2 * 2 * r, abs=2 * np.sqrt(2))
    if kind == "shrink":
        assert resp.followup_sum_mm == pytest.approx(b_sum - 2 * 2 * r, abs=2 * np.sqrt(2))
    assert resp.category == category
    assert resp.category == _expected(b_sum, resp.followup_sum_mm, b_sum, kind not in ("grow", "shrink"))
    if kind != "gone":
        assert [p.followup_id for p in resp.targets] == [1, 2]
        assert all(p.distance_mm < 1.0 for p in resp.targets)
        assert resp.change_from_baseline_pct == pytest.approx(100 * (resp.followup_sum_mm - b_sum) / b_sum)
    assert resp.new_lesions == ()


def test_response_five_mm_rule_nadir_and_new_lesion(baseline):
    # one 12 mm target grown by 2 voxels: +33 % but only +4 mm -> not PD
    small = _spheres([6], [(50, 50, 30)], shape=(100, 100, 60))
    base = _lesions(small)
    resp = recist_response(base, _lesions(_grow(small, 2)))
    assert resp.change_from_nadir_pct >= 20 and resp.followup_sum_mm - resp.nadir_mm < 5
    assert resp.category == "SD"
    # a smaller earlier sum (nadir) turns an unchanged follow-up into PD
    base = _lesions(baseline)
    b_sum = sum(r.long_axis_mm for r in base)
    same = recist_response(base, _lesions(baseline), nadir_mm=b_sum / 1.25)
    assert same.category == "PD" and same.change_from_baseline_pct == pytest.approx(0.0)
    # a new lesion far from both is listed, not paired
    extra = baseline.copy()
    extra[_spheres([5], [(90, 15, 60)]) > 0] = 2
    resp = recist_response(base, _lesions(extra))
    assert resp.new_lesions == (3,) and resp.category == "SD"
    # user's targets: only lesion 2
    resp = recist_response(base, _lesions(_grow(baseline, 4)), targets=[2])
    assert [p.baseline_id for p in resp.targets] == [2]
    assert resp.baseline_sum_mm == pytest.approx(base[1].long_axis_mm)
    # nothing measurable at baseline
    assert recist_response([], []).category == "NE"


def _two_class_lesions() -> np.ndarray:
    """Five lesions 11..19 voxels long: three of class 2 (liver tumour), two of class 3 (kidney tumour)."""
    lab = np.zeros((120, 60, 10), np.uint8)
    for k, (x, cls) in enumerate([(10, 2), (35, 2), (60, 2), (85, 3), (105, 3)]):
        lab[x - 5 - k : x + 5 + k, 20:32, 3:7] = cls
    return lab


def test_targets_per_organ_with_several_lesion_classes():
    """Lesions of two classes (two organs): at most two targets of each."""
    res = stats_on_grid(None, _two_class_lesions(), np.eye(4), names={2: "liver tumour", 3: "kidney tumour"})
    by_id = {r.id: r for r in res.lesions}
    assert sorted(by_id[i].label for i in res.to_json()["targets"]) == [2, 2, 3, 3]
