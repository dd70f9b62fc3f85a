"""Click-to-picture time of the Dataset browser's Next button, without and with read-ahead.

Usage::

    python benchmarks/bench_browse.py [--cases 6] [--shape 512 512 150] [--radius 1]

Writes ``--cases`` CT-like cases (int16 HU, scanner-like noise, LPS on disk, gzip as nibabel writes it,
:func:`_common.ct_like_volume` with one seed per case) and their liver masks as an MSD
folder (``imagesTr``/``labelsTr``/``dataset.json``) once, opens napari on Xvfb in a
1600 x 1000 window with the Dataset browser docked, opens the first case and clicks the
real ``Next`` button through the dataset, timing each click until the new case is on the
canvas (the widget shows it, then ``viewer.screenshot`` renders the frame):

* ``before``: each Next reads its files in a worker thread, removes the shown layers
  and adds new ones (what every Next did before issue 19);
* ``swap in place``: the files are read at the click, their data swapped into the
  shown layers (napari's layer removal runs a full ``gc.collect()``);
* ``swap + read-ahead r=N``: the cases within N of the open one are read in the
  background while the user looks at a case (the benchmark waits until the next case
  is read, as a person looking at a case for a few seconds would; not timed).

Agreement: every case shown is checked voxel for voxel against nibabel's array of its
file (image and labels, in the display orientation).  Printed: median / max click to
picture per mode, the ratio, the cache's bytes and the process' peak RSS growth.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import BENCH_DIR, MB, PeakMemory, ct_like_volume  # noqa: E402

BEFORE = "before (remove+add, no read-ahead)"


def write_dataset(n: int, shape: tuple[int, int, int]) -> Path:
    """An MSD-style folder of ``n`` CT-like cases with liver labels (cached)."""
    import nibabel as nib

    root = BENCH_DIR / f"browse_{'x'.join(map(str, shape))}_{n}"
    if (root / "dataset.json").exists():
        return root
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(exist_ok=True)
    sp = (0.78, 0.78, 2.0)
    affine = np.diag([-sp[0], -sp[1], sp[2], 1.0])
    training = []
    for i in range(n):
        data = ct_like_volume(shape, seed=i)
        labels = ((data > 45) & (data < 300)).astype(np.uint8)  # the liver-like blob, noisy
        for name, arr, folder in ((f"liver_{i}", data, "imagesTr"), (f"liver_{i}", labels, "labelsTr")):
            nib.save(nib.Nifti1Image(arr, affine), root / folder / f"{name}.nii.gz")
        training.append({"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"})
    (root / "dataset.json").write_text(
        json.dumps(
            {
                "name": "bench",
                "modality": {"0": "CT"},
                "labels": {"0": "background", "1": "liver"},
                "training": training,
                "test": [],
            }
        )
    )
    return root


def _agrees(viewer, case) -> bool:
    import nibabel as nib

    from napari_liverct.geometry.grids import display_geometry, reorient_to_display

    for path, name in ((case.image, case.id), (case.label, f"{case.id}_label")):
        img = nib.load(path)
        ref = np.asanyarray(img.dataobj)
        ref = reorient_to_display(ref, display_geometry(img.affine, ref.shape).ornt)
        if not np.array_equal(np.asarray(viewer.layers[name].data), ref):
            return False
    return True


def _until(cond, widget, qapp, sleep=0.002, timeout=120.0):
    t_end = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > t_end:
            raise RuntimeError(f"stalled: {widget.status.text()}")
        qapp.processEvents()
        time.sleep(sleep)


def run_mode(viewer, widget, radius: int, in_place: bool, qapp) -> dict:
    """Open case 0, then click Next through the dataset; time each click to picture."""
    widget.radius_spin.setValue(radius)
    widget.swap_in_place = in_place
    widget.cache.clear()
    for layer in list(viewer.layers):
        viewer.layers.remove(layer)
    cases = widget.visible_cases()
    times, agree = [], True
    with PeakMemory() as mem:
        widget.case_list.setCurrentRow(0)
        widget.open_btn.click()
        _until(lambda: widget.current is cases[0], widget, qapp)
        viewer.screenshot(canvas_only=True)
        for case in cases[1:]:
            if radius:  # the user looks at the case while the next one is read ahead
                _until(lambda c=case: widget.cache.get(c) is not None, widget, qapp, 0.01)
            qapp.processEvents()
            t0 = time.perf_counter()
            widget.next_btn.click()
            _until(lambda c=case: widget.current is c, widget, qapp, 0.001)
            viewer.screenshot(canvas_only=True)  # the frame with the new case
            times.append(time.perf_counter() - t0)
            agree &= _agrees(viewer, case)
        cache_mb = widget.cache.nbytes() / MB
    return {"times": times, "agree": agree, "peak_mb": mem.delta / MB, "cache_mb": cache_mb}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=6)
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 512, 150))
    ap.add_argument("--radius", type=int, default=1)
    args = ap.parse_args(argv)

    from napari_liverct.cli.xvfb import ensure_display

    ensure_display()
    os.environ.pop("QT_QPA_PLATFORM", None) if os.environ.get("QT_QPA_PLATFORM") == "offscreen" else None
    t0 = time.perf_counter()
    root = write_dataset(args.cases, tuple(args.shape))
    print(
        f"dataset: {root} ({args.cases} cases {'x'.join(map(str, args.shape))} int16 + labels, "
        f"{time.perf_counter() - t0:.1f} s to prepare)"
    )

    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1600, 1000)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-liverct", "Dataset browser")
    widget.load(root)
    qapp = QApplication.instance()
    results = {}
    modes = (
        (BEFORE, 0, False),
        ("swap in place", 0, True),
        (f"swap + read-ahead r={args.radius}", args.radius, True),
    )
    for label, radius, in_place in modes:
        results[label] = run_mode(viewer, widget, radius, in_place, qapp)
    base = statistics.median(results[BEFORE]["times"])
    print(f"\n{'mode':<36}{'median s':>10}{'max s':>9}{'ratio':>8}{'cache MB':>10}{'peak RSS +MB':>14}  agree")
    for label, r in results.items():
        med = statistics.median(r["times"])
        print(
            f"{label:<36}{med:>10.3f}{max(r['times']):>9.3f}{base / med:>7.1f}x{r['cache_mb']:>10.0f}"
            f"{r['peak_mb']:>14.0f}  {r['agree']}"
        )
    viewer.close()
    return 0 if all(r["agree"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
