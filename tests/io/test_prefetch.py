"""Issue 19: the Dataset browser's read-ahead cache (pure: threads and futures, no Qt)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_liverct.io.prefetch import CaseCache, layer_data_nbytes


@dataclass(frozen=True)
class FakeCase:
    image: Path
    label: Path | None = None


@pytest.fixture
def cases(tmp_path):
    out = []
    for i in range(6):
        p = tmp_path / f"case_{i}.nii.gz"
        nib.save(nib.Nifti1Image(np.full((10, 10, 10), i, np.int16), np.eye(4)), p)
        out.append(FakeCase(p))
    return out


class CountingReader:
    def __init__(self, delay=0.0, fail=()):
        self.calls: list[str] = []
        self.threads: set[str] = set()
        self.delay, self.fail = delay, set(fail)

    def __call__(self, case):
        self.calls.append(case.image.name)
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if case.image.name in self.fail:
            raise ValueError(f"{case.image}: broken")
        arr = np.asanyarray(nib.load(case.image).dataobj)
        return [(arr, {"name": case.image.name}, "image")]


def test_neighbours_are_read_in_the_background_nearest_first(cases):
    read = CountingReader()
    cache = CaseCache(read, radius=2, budget_bytes=10**9)
    assert cache.load(cases[2])[0][0][0, 0, 0] == 2  # the opened case, read in the caller's thread
    scheduled = cache.prefetch(cases, 2)
    assert [c.image.name for c in scheduled] == ["case_3.nii.gz", "case_1.nii.gz", "case_4.nii.gz", "case_0.nii.gz"]
    cache.wait(10)
    assert read.calls == ["case_2.nii.gz", "case_3.nii.gz", "case_1.nii.gz", "case_4.nii.gz", "case_0.nii.gz"]
    assert any(t.startswith("liverct-prefetch") for t in read.threads)
    for i in (0, 1, 3, 4):
        data = cache.get(cases[i])
        assert data is not None and np.array_equal(data[0][0], np.asanyarray(nib.load(cases[i].image).dataobj))
    assert cache.get(cases[5]) is None  # outside the radius
    # moving on drops what left the window and reads only what is new
    cache.prefetch(cases, 4)
    cache.wait(10)
    assert read.calls[5:] == ["case_5.nii.gz"]
    assert cache.get(cases[0]) is None and cache.get(cases[1]) is None
    cache.close()


def test_memory_budget_bounds_the_cache(cases):
    one = 10 * 10 * 10 * 2  # bytes of one case
    cache = CaseCache(CountingReader(), radius=3, budget_bytes=3 * one)
    cache.load(cases[3])
    cache.prefetch(cases, 3)
    cache.wait(10)
    assert cache.nbytes() <= 3 * one
    held = cache.cached_keys()
    assert cache.key(cases[3]) in held  # the current case is never the one dropped
    assert len(held) == 3
    assert layer_data_nbytes(cache.get(cases[3])) == one
    cache.close()


def test_radius_zero_reads_every_time_and_keeps_nothing(cases):
    read = CountingReader()
    cache = CaseCache(read, radius=0)
    cache.load(cases[1])
    cache.load(cases[1])
    assert cache.prefetch(cases, 1) == [] and cache.cached_keys() == []
    assert read.calls == ["case_1.nii.gz"] * 2


def test_a_changed_file_is_read_again_and_a_failed_read_is_not_kept(cases):
    read = CountingReader(fail={"case_2.nii.gz"})
    cache = CaseCache(read, radius=1, budget_bytes=10**9)
    cache.load(cases[0])
    cache.prefetch(cases, 0)
    cache.wait(10)
    assert cache.get(cases[1]) is not None
    nib.save(nib.Nifti1Image(np.full((10, 10, 10), 7, np.int16), np.eye(4)), cases[1].image)
    st = cases[1].image.stat()
    os.utime(cases[1].image, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cache.get(cases[1]) is None  # stale
    assert cache.load(cases[1])[0][0][0, 0, 0] == 7
    with pytest.raises(ValueError, match="broken"):
        cache.load(cases[2])
    with pytest.raises(ValueError, match="broken"):
        cache.load(cases[2])
    assert read.calls.count("case_2.nii.gz") == 2
    cache.close()


def test_close_cancels_pending_reads(cases):
    read = CountingReader(delay=0.3)
    cache = CaseCache(read, radius=5, budget_bytes=10**9)
    cache.prefetch(cases, 0)
    cache.close()
    time.sleep(0.5)
    assert len(read.calls) <= 1  # at most the read already running


def test_opening_a_case_still_queued_reads_it_now_not_behind_the_others(cases):
    read = CountingReader(delay=0.4)
    cache = CaseCache(read, radius=3, budget_bytes=10**9)
    cache.prefetch(cases, 0)  # 1, 2, 3 queued behind one reading thread
    time.sleep(0.05)
    t0 = time.perf_counter()
    data = cache.load(cases[3])
    elapsed = time.perf_counter() - t0
    assert data[0][0][0, 0, 0] == 3
    assert elapsed < 0.75, f"waited {elapsed:.2f} s behind the queued reads"
    assert threading.current_thread().name in read.threads
    cache.wait(10)
    assert read.calls.count("case_3.nii.gz") == 1  # the queued read was taken over, not repeated
    cache.close()


def test_warnings_of_a_background_read_are_kept_for_the_main_thread(cases):
    import warnings

    def read(case):
        warnings.warn(f"{case.image.name}: oblique", UserWarning, stacklevel=1)
        return CountingReader()(case)

    cache = CaseCache(read, radius=1, budget_bytes=10**9)
    cache.load(cases[0])
    cache.prefetch(cases, 0)
    cache.wait(10)
    assert [str(w.message) for w in cache.warnings_of(cases[1])] == ["case_1.nii.gz: oblique"]
    assert [str(w.message) for w in cache.warnings_of(cases[0])] == ["case_0.nii.gz: oblique"]
    cache.close()
