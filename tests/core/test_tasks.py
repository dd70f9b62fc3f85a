"""The one task runner (napari_liverct.parallel.tasks): results by index, failures reported per task,
the workers check; against plain Python calls."""

from __future__ import annotations

import pytest

from napari_liverct.parallel.tasks import check_workers, drain, run_tasks


def _square_or_fail(x, *, fail_on=None):
    if x == fail_on:
        raise RuntimeError(f"task {x} broke")
    return x * x


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_check_refuses_what_is_not_a_count(workers):
    with pytest.raises(ValueError, match="workers must be at least 1"):
        check_workers(workers)


def test_workers_check_keeps_none_and_counts():
    assert check_workers(None) is None
    assert check_workers(3) == 3


def test_synchronous_and_dask_give_the_plain_results_and_report_a_failed_task():
    calls = [((x,), {"fail_on": 3}) for x in range(6)]
    expected = {x: x * x for x in range(6) if x != 3}

    def on_failure(i, exc):
        return f"failed: {exc}"

    # synchronous: in order, in this process; a failing task raises as a plain call would
    sync = run_tasks(_square_or_fail, calls[:3], what="test", on_failure=on_failure, scheduler="synchronous")
    assert list(sync) == [(x, x * x) for x in range(3)]
    with pytest.raises(RuntimeError, match="task 3 broke"):
        list(run_tasks(_square_or_fail, calls, what="test", on_failure=on_failure, scheduler="synchronous"))

    got = dict(run_tasks(_square_or_fail, calls, what="test", on_failure=on_failure, workers=2, processes=False))
    assert sorted(got) == list(range(6))
    assert {i: v for i, v in got.items() if i != 3} == expected
    assert got[3] == "failed: task 3 broke"


def test_no_calls_start_no_cluster_and_bad_workers_fail_before_any_work():
    assert list(run_tasks(_square_or_fail, [], what="test", on_failure=None, workers=0)) == []
    with pytest.raises(ValueError, match="workers must be at least 1"):
        list(run_tasks(_square_or_fail, [((1,), {})], what="test", on_failure=None, workers=0))


def test_drain_calls_keep_and_reports_progress():
    seen, progress = [], []
    drain(iter([(1, {"id": "b"}), (0, {"id": "a"})]), 2, "test", lambda *a: progress.append(a), seen.append)
    assert seen == [(1, {"id": "b"}), (0, {"id": "a"})]
    assert [(d, t) for d, t, _row in progress] == [(1, 2), (2, 2)]
