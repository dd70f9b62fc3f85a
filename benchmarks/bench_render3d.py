"""Frame time of the 3D tumour view under Xvfb (Mesa llvmpipe), full vs downsampled.

Usage::

    python benchmarks/bench_render3d.py [--shape 512 512 600] [--frames 10]

Renders the synthetic phantom (image + labels) and times ``--frames`` redraws
(``viewer.screenshot``, which forces a full render) while the camera rotates, for:

* ``napari default``: the layers as napari shows them in 3D without this plugin
  (image ``mip``, labels ``auto``/translucent), the baseline in the same process;
* ``liverct 3D full``: this plugin's 3D view (attenuated MIP + two iso_categorical
  label layers) at full resolution;
* ``liverct 3D 1/2`` and ``1/4``: the same with the downsampled view layers;
* ``labels only 1/4`` and ``full``: the 3D view with the CT left out;
* ``CT 1/4 + labels 1/2``: a coarser CT under the labels;
* ``surfaces``: liver and tumours as Surface layers (``mode="surfaces"``: meshes
  from block-downsampled labels, smoothed, decimated; building them is part of
  the setup time), CT left out; ``surfaces + CT 1/4`` / ``1/2``: with the CT as
  a downsampled attenuated MIP; ``surfaces + CT full`` and ``surfaces + CT auto`` (the
  widget's "3D resolution: auto" CT factor, ``view3d_model.ct_factor``: full on 128^3).

``--variants`` picks rows by name prefix (default: all).

Prints the median and max frame time, the time to set the view up (texture
upload), the ratio to the baseline and the peak RSS (psutil).  Timings are noisy on
a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _frames(viewer, n: int) -> list[float]:
    from napari_liverct._napari.scene3d import camera_of

    cam = camera_of(viewer)
    base = np.asarray(cam.angles, float)
    times = []
    viewer.screenshot(canvas_only=True)  # warm-up (shader compile)
    for i in range(n):
        cam.angles = tuple(base + np.array([0.0, 0.0, 360.0 * (i + 1) / (n + 1)]))
        t0 = time.perf_counter()
        viewer.screenshot(canvas_only=True)
        times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=3, default=(512, 512, 600))
    ap.add_argument("--spacing", type=float, nargs=3, default=(0.75, 0.75, 0.5))
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--variants", nargs="*", default=None, help="row name prefixes to run (default all)")
    args = ap.parse_args(argv)

    from napari_liverct.cli.xvfb import ensure_display

    load0 = os.getloadavg()

    ensure_display()
    import napari
    from napari.layers import Layer

    from napari_liverct._napari.scene3d import setup_3d_view, teardown_3d_view, view_surfaces
    from napari_liverct._napari.view3d_model import ct_factor
    from napari_liverct.io.sample_data import phantom_layer_data

    t0 = time.perf_counter()
    lds = phantom_layer_data(shape=tuple(args.shape), spacing=tuple(args.spacing))
    print(f"phantom {tuple(args.shape)} generated in {time.perf_counter() - t0:.1f} s; RSS {_rss_mb():.0f} MB")
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1200, 900)
    image, labels = [viewer.add_layer(Layer.create(d, k, t)) for d, k, t in lds]
    rows = []

    t0 = time.perf_counter()
    viewer.dims.ndisplay = 3
    viewer.screenshot(canvas_only=True)
    setup = time.perf_counter() - t0
    base = _frames(viewer, args.frames)
    rows.append(("napari default", setup, base))
    viewer.dims.ndisplay = 2

    variants = [(f"liverct 3D {'full' if f == 1 else f'1/{f}'}", dict(factor=f)) for f in (1, 2, 4)]
    variants += [
        ("labels only 1/4", dict(factor=4, show_image=False)),
        ("labels only full", dict(factor=1, show_image=False)),
        ("CT 1/4 + labels 1/2", dict(factor=2, image_factor=4)),
        ("surfaces", dict(mode="surfaces", show_image=False)),
        ("surfaces + CT 1/4", dict(mode="surfaces", image_factor=4)),
        ("surfaces + CT 1/2", dict(mode="surfaces", image_factor=2)),
        ("surfaces + CT full", dict(mode="surfaces", image_factor=1)),
        ("surfaces + CT auto", dict(mode="surfaces", image_factor=ct_factor(tuple(args.shape)))),
    ]
    for name, kwargs in variants:
        if args.variants and not any(name.startswith(v) for v in args.variants):
            continue
        t0 = time.perf_counter()
        if kwargs.get("mode") == "surfaces":
            kwargs["meshes"] = view_surfaces(labels)
            t_mesh = time.perf_counter() - t0
        view = setup_3d_view(viewer, image, labels, **kwargs)
        viewer.screenshot(canvas_only=True)
        setup = time.perf_counter() - t0
        if view.surfaces:
            faces = ", ".join(f"{lay.metadata['name']} {len(lay.data[1])}" for lay in view.surfaces)
            print(f"{name}: meshes built in {t_mesh:.2f} s (in the setup time), faces {faces}")
        rows.append((name, setup, _frames(viewer, args.frames)))
        teardown_3d_view(viewer, view)

    h, w = viewer.canvas.size
    ref = statistics.median(rows[0][2])
    print(f"canvas {w}x{h} px, {args.frames} frames each, rotating camera")
    print(f"load average before: {load0}, after: {os.getloadavg()}")
    print(f"{'view':<22}{'setup s':>9}{'median ms':>11}{'max ms':>9}{'fps':>7}{'vs default':>12}")
    for name, setup, times in rows:
        med = statistics.median(times)
        print(f"{name:<22}{setup:>9.2f}{med * 1000:>11.0f}{max(times) * 1000:>9.0f}{1 / med:>7.1f}{med / ref:>11.2f}x")
    print(f"peak RSS {_rss_mb():.0f} MB")
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
