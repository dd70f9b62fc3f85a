"""``napari-liverct snapshot``: the command-line face of :mod:`napari_liverct._napari.snapshot`."""

from __future__ import annotations


def run(args) -> int:
    """Run the ``snapshot`` subcommand: print the paths of the PNG files written."""
    from .._napari.snapshot import render_snapshots
    from .xvfb import ensure_display

    ensure_display()

    for p in render_snapshots(
        args.image, args.labels, args.out, args.lesion, lesion_labels=getattr(args, "lesion_labels", None)
    ):
        print(p)
    return 0
