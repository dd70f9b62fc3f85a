"""The network-output cache (napari_liverct.segment.netcache): a pass is read back only for the
same model, weights, runtime and input bytes; entries are units; two processes asking for the
same pass run it once.  Oracle: a counting stand-in computation and numpy equality."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_liverct.segment import netcache
from napari_liverct.segment.net import ConvMonitor


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(netcache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _counting(out):
    runs = []

    def compute():
        runs.append(1)
        return out

    return compute, runs


def test_a_pass_is_read_back_only_for_the_same_model_runtime_and_bytes(folder):
    rng = np.random.default_rng(0)
    patch = rng.normal(size=(6, 5, 4)).astype(np.float32)
    out = rng.random((6, 5, 4)).astype(np.float32)
    compute, runs = _counting(out)
    first = netcache.remember("lesion", patch, "torch-x", compute)
    monitor = ConvMonitor(total_macs=10)
    again = netcache.remember("lesion", patch.copy(), "torch-x", compute, monitor=monitor)
    assert len(runs) == 1 and np.array_equal(first, out) and np.array_equal(again, out)
    assert monitor.fraction == 1.0  # a pass read back is a pass done
    changed = patch.copy()
    changed[0, 0, 0] = np.nextafter(changed[0, 0, 0], np.float32(np.inf))  # one ulp
    netcache.remember("lesion", changed, "torch-x", compute)
    netcache.remember("lesion", patch, "openvino-y", compute)
    netcache.remember("liver", patch, "torch-x", compute)
    netcache.remember("lesion", patch.reshape(5, 6, 4), "torch-x", compute)  # same bytes, other shape
    assert len(runs) == 5
    assert len(list(folder.glob("*.npy"))) == 5 and not list(folder.glob("*tmp*"))


def test_unset_keeps_nothing_and_a_damaged_entry_runs_again(folder, monkeypatch):
    patch = np.zeros((3, 3, 3), np.float32)
    out = np.ones((3, 3, 3), np.float32)
    compute, runs = _counting(out)
    netcache.remember("liver", patch, "t", compute)
    (entry,) = folder.glob("*.npy")
    entry.write_bytes(entry.read_bytes()[:40])  # a torn file
    assert np.array_equal(netcache.remember("liver", patch, "t", compute), out) and len(runs) == 2
    monkeypatch.delenv(netcache.ENV)
    netcache.remember("liver", patch, "t", compute)
    netcache.remember("liver", patch, "t", compute)
    assert len(runs) == 4


def test_two_processes_asking_for_the_same_pass_run_it_once(folder, tmp_path):
    script = tmp_path / "ask.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys, time
            import numpy as np
            from napari_liverct.segment import netcache

            def compute():
                with open({str(tmp_path / "runs.txt")!r}, "a") as fh:
                    fh.write(f"{{os.getpid()}}\\n")
                time.sleep(1.5)
                return np.full((4, 4, 4), 0.25, np.float32)

            out = netcache.remember("liver", np.arange(64, dtype=np.float32).reshape(4, 4, 4), "t", compute)
            print(float(out.sum()))
            """
        )
    )
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs == ["16.0", "16.0"]
    assert len((tmp_path / "runs.txt").read_text().split()) == 1
