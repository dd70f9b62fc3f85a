"""``napari-liverct view``: the command-line face of :mod:`napari_liverct._napari.session`."""

from __future__ import annotations


def run(args) -> int:
    """Run the ``view`` subcommand."""
    from .._napari.session import DEFAULT_SCREENSHOT_DIR, dock_widgets, focus_slice, screenshots
    from .xvfb import ensure_display

    virtual = ensure_display()
    shots = args.screenshots or (DEFAULT_SCREENSHOT_DIR if virtual else None)
    import napari

    viewer = napari.Viewer(title="napari-liverct")
    if shots:
        viewer.window.resize(1600, 1000)
    if not args.no_widgets:
        dock_widgets(viewer)
    if args.files:
        viewer.open(args.files, plugin="napari-liverct")
    else:
        viewer.open_sample("napari-liverct", "liver_phantom")
    focus_slice(viewer)
    if shots:
        paths = screenshots(viewer, shots)
        print("screenshots written:", *[str(p) for p in paths], sep="\n  ")
        viewer.close()
        return 0
    napari.run()
    return 0
