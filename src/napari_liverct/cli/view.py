"""``napari-liverct view``: the command-line face of :mod:`napari_liverct._napari.session`."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    """The ``view`` subcommand's arguments."""
    from ._options import cpu_count_argument

    v = subparsers.add_parser("view", help="open napari with the plugin's widgets and files (or the sample)")
    v.add_argument("files", nargs="*", help=".nii/.nii.gz files; none opens the synthetic phantom")
    v.add_argument(
        "--example",
        action="store_true",
        help="open TotalSegmentator's example abdominal CT (fetched by scripts/setup.sh) instead of the phantom",
    )
    v.add_argument(
        "--draft",
        action="store_true",
        help="run the offline draft (liver + liver tumours) on the first CT with the Segment widget, "
        "then show it with its statistics in 2D and 3D (about about 2 minutes on 2 quiet threads)",
    )
    v.add_argument("--no-lesions", action="store_true", help="with --draft: the liver only (about 30 s)")
    cpu_count_argument(v, "--threads", "with --draft: CPU threads (default: all; at most the cores available)")
    v.add_argument(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="write 2D and 3D screenshots to DIR and exit (default when there is no display: ./liverct-screenshots); "
        "with --draft also the draft (draft.nii.gz) and axial/coronal/sagittal/3D snapshots (DIR/snapshot)",
    )
    v.add_argument("--no-widgets", action="store_true", help="do not dock the plugin's widgets")
    v.set_defaults(handler=run)


def run(args) -> int:
    """Run the ``view`` subcommand."""
    from .._napari.session import DEFAULT_SCREENSHOT_DIR, example_ct
    from ..outputs.guard import guard_output
    from ..outputs.pathtext import path_text
    from .xvfb import ensure_display

    if args.draft and args.no_widgets:
        raise ValueError("--draft runs through the Segment widget: it cannot go with --no-widgets")
    files = [str(example_ct())] if args.example else []
    files += list(args.files)
    if args.draft:
        from ..segment.weights import load_weights

        for model in ("liver",) if args.no_lesions else ("liver", "lesion"):
            load_weights(model)  # WeightsMissingError (a ValueError) names the command to run
    if args.screenshots:
        guard_output(args.screenshots, files, folder=True)  # before a display is started
    virtual = ensure_display()
    shots = args.screenshots or (DEFAULT_SCREENSHOT_DIR if virtual else None)
    if shots and not args.screenshots:
        guard_output(shots, files, folder=True)
    import napari

    viewer = napari.Viewer(title="napari-liverct")
    if shots:
        viewer.window.resize(1600, 1000)
    _docked, paths = session_run(viewer, args, files, shots)
    if shots:
        print("screenshots written:", *[path_text(p) for p in paths], sep="\n  ")
        viewer.close()
        return 0
    napari.run()
    return 0


def session_run(viewer, args, files: list[str], shots) -> tuple[dict, list]:
    """What ``view`` does in ``viewer``: dock the widgets, open ``files`` (or the sample),
    with ``args.draft`` click Segment; with ``shots`` (a folder) wait for the draft, show
    it and write the pictures (returned), else show it when it is done.  Returns the
    docked widgets by name and the files written."""
    from pathlib import Path

    from .._napari.session import (
        DOCKED_WIDGETS,
        SEGMENT_WIDGET,
        dock_widgets,
        focus_slice,
        screenshots,
        show_draft,
        start_draft,
    )

    docked: dict = {}
    if not args.no_widgets:
        names = DOCKED_WIDGETS + ((SEGMENT_WIDGET,) if args.draft else ())
        dock_widgets(viewer, names=names, docked=docked)
    if files:
        viewer.open(files, plugin="napari-liverct")
    else:
        viewer.open_sample("napari-liverct", "liver_phantom")
    focus_slice(viewer)
    seg = None
    if args.draft:
        seg = start_draft(viewer, docked, lesions=not args.no_lesions, threads=args.threads)
    if not shots:
        if seg is not None:
            _when_done(seg, lambda: _show_when_done(viewer, docked))
        return docked, []
    draft = None
    if seg is not None:
        _wait_for_draft(seg)
        draft = show_draft(viewer, docked)
    paths = screenshots(viewer, shots, view3d=docked.get("3D tumour view"))
    if seg is not None and draft is not None:
        paths += _draft_files(viewer, seg, draft, Path(shots))
    return docked, paths


def _wait_for_draft(seg) -> None:
    """Run Qt's events while the Segment widget works; its bar and status go to the terminal."""
    import sys
    import time

    from qtpy.QtWidgets import QApplication

    last = None
    while seg.running:
        QApplication.processEvents()
        bar = seg.progress
        pct = int(100 * bar.value / max(bar.max, 1)) // 5 * 5
        if (pct, seg.status.value) != last:
            last = (pct, seg.status.value)
            print(f"[draft] {pct:3d}%  {seg.status.value}", file=sys.stderr, flush=True)
        time.sleep(0.1)
    print(f"[draft] {seg.status.value}", file=sys.stderr, flush=True)


def _when_done(seg, then) -> None:
    """Call ``then()`` once the Segment widget has finished (checked twice a second)."""
    from qtpy.QtCore import QTimer

    timer = QTimer(seg.native)
    timer.setInterval(500)

    def check():
        if not seg.running:
            timer.stop()
            then()

    timer.timeout.connect(check)
    timer.start()


def _show_when_done(viewer, docked) -> None:
    """Interactive --draft: the statistics, then the 3D view (Back to 2D returns to the slices)."""
    from .._napari.session import raise_dock, show_draft

    if show_draft(viewer, docked, blocking=False) is not None and "3D tumour view" in docked:
        raise_dock(docked["3D tumour view"])
        docked["3D tumour view"].show_3d()


def _draft_files(viewer, seg, draft, out) -> list:
    """Write the session's draft (``draft.nii.gz``, names in its label table, and its sidecar)
    and the axial/coronal/sagittal/3D snapshots of the CT with it into ``out/snapshot``."""
    from .._napari.layer_utils import layer_disk_view
    from .._napari.snapshot import render_snapshots
    from ..segment.files import write_labels

    image = seg.image_layer.value
    labels, affine = layer_disk_view(draft)
    src = (image.metadata or {}).get("source_path")
    path = write_labels(out / "draft.nii.gz", labels, affine, info={"image": str(src)})
    shots = render_snapshots(src, path, out / "snapshot") if src else []
    return [path, *shots]
