"""``napari-liverct view``: the command-line face of :mod:`napari_liverct._napari.session`."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    """The ``view`` subcommand's arguments."""
    v = subparsers.add_parser("view", help="open napari with the plugin's widgets and files (or the sample)")
    v.add_argument("files", nargs="*", help=".nii/.nii.gz files; none opens the synthetic phantom")
    v.add_argument(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="write 2D and 3D screenshots to DIR and exit (default when there is no display: ./liverct-screenshots)",
    )
    v.add_argument("--no-widgets", action="store_true", help="do not dock the plugin's widgets")
    v.set_defaults(handler=run)


def run(args) -> int:
    """Run the ``view`` subcommand."""
    from .._napari.session import DEFAULT_SCREENSHOT_DIR, dock_widgets, focus_slice, screenshots
    from ..output_guard import guard_output
    from ..pathtext import path_text
    from .xvfb import ensure_display

    if args.screenshots:
        guard_output(args.screenshots, args.files, folder=True)  # before a display is started
    virtual = ensure_display()
    shots = args.screenshots or (DEFAULT_SCREENSHOT_DIR if virtual else None)
    if shots and not args.screenshots:
        guard_output(shots, args.files, folder=True)
    import napari

    viewer = napari.Viewer(title="napari-liverct")
    if shots:
        viewer.window.resize(1600, 1000)
    docked: dict = {}
    if not args.no_widgets:
        dock_widgets(viewer, docked=docked)
    if args.files:
        viewer.open(args.files, plugin="napari-liverct")
    else:
        viewer.open_sample("napari-liverct", "liver_phantom")
    focus_slice(viewer)
    if shots:
        paths = screenshots(viewer, shots, view3d=docked.get("3D tumour view"))
        print("screenshots written:", *[path_text(p) for p in paths], sep="\n  ")
        viewer.close()
        return 0
    napari.run()
    return 0
