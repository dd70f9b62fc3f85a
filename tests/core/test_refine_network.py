"""Click to add a lesion with the real lesion network (issue 24), on TotalSegmentator's
example CT with its liver (label 5 of the 'fast' output) as the draft's liver.

That CT has no tumour, so: (1) a click deep in the healthy liver must add nothing or almost
nothing; (2) a low-density sphere PLANTED here in the real liver (-50 HU from the CT's own
values, radius 10 mm; not a real lesion) is clicked, and what the network returns is
compared with the sphere (Dice printed) and with ``scipy.ndimage.label`` of the returned
probabilities (the component under the click).  Two network runs for the module.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_liverct.refine import add_lesion
from napari_liverct.segment.tile import lesion_probability_at
from napari_liverct.segment.weights import weights_path
from planted import example_liver


@pytest.fixture(scope="module")
def example():
    if not weights_path("lesion").exists():
        pytest.skip("lesion weights missing: run python scripts/fetch_data.py")
    data, aff, liver, deep, sp = example_liver()
    data = data.astype(np.float32)
    return data, aff, liver.astype(np.uint8), np.array(deep), sp


def test_a_click_in_healthy_liver_adds_nothing(example):
    data, aff, labels, deep, _ = example
    point = (aff @ np.r_[deep, 1.0])[:3]
    r = add_lesion(data, aff, labels, point, threshold=0.5, threads=2)
    print(f"\nhealthy liver click: {r.summary}; network {r.details['network_seconds']} s")
    assert r.changed <= 10
    assert (r.labels == 2).sum() <= 10


def test_a_click_on_a_planted_dark_sphere(example):
    data, aff, labels, deep, sp = example
    centre = deep + np.array([0, 0, -4])  # 12 mm below the deepest point, still in the liver
    assert labels[tuple(centre)] == 1
    grid = np.ogrid[tuple(slice(0, n) for n in data.shape)]
    sphere = np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, sp))) <= 10.0
    planted = data.copy()
    planted[sphere] -= 50.0
    point = (aff @ np.r_[centre, 1.0])[:3]
    prob = lesion_probability_at(planted, aff, point, labels > 0, threads=2)
    r = add_lesion(planted, aff, labels, point, probability=prob)
    added = r.labels == 2
    # the component under the click of the thresholded probabilities, by scipy
    full = np.zeros(data.shape, np.float32)
    full[prob.box] = prob.probability
    lab, _ = ndimage.label(full > 0.5, structure=np.ones((3, 3, 3)))
    np.testing.assert_array_equal(added, lab == lab[tuple(centre)])
    d = 2 * (added & sphere).sum() / (added.sum() + sphere.sum())
    print(
        f"\nPLANTED sphere (-50 HU, r 10 mm, {int(sphere.sum())} voxels) in the real liver: {r.summary}; "
        f"Dice against the sphere {d:.3f}; network {prob.seconds:.1f} s"
    )
    assert d > 0.6
    # a lower threshold takes at least as much, from the same run
    low = add_lesion(planted, aff, labels, point, probability=prob, threshold=0.2)
    assert (low.labels == 2).sum() >= added.sum()
