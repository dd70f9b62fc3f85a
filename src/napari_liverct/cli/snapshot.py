"""``napari-liverct snapshot``: the command-line face of :mod:`napari_liverct._napari.snapshot`."""

from __future__ import annotations

from ..outputs.pathtext import path_text
from ._options import force_labels_argument, positive_int


def add_parser(subparsers) -> None:
    """The ``snapshot`` subcommand's arguments."""
    sn = subparsers.add_parser("snapshot", help="render axial/coronal/sagittal slices and a 3D view to PNG")
    sn.add_argument("image")
    sn.add_argument("--labels", default=None)
    sn.add_argument("--out", required=True, metavar="DIR")
    sn.add_argument("--lesion", type=positive_int, default=None, help="lesion id (default: the largest)")
    sn.add_argument(
        "--lesion-labels",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="V",
        help="label values whose components are lesions (default: classes named tumour/lesion)",
    )
    force_labels_argument(sn)
    sn.set_defaults(handler=run)


def run(args) -> int:
    """Run the ``snapshot`` subcommand: print the paths of the PNG files written."""
    from .._napari.snapshot import guard_snapshot_target, render_snapshots
    from .xvfb import ensure_display

    guard_snapshot_target(args.image, args.labels, args.out)  # before a display is started
    ensure_display()

    for p in render_snapshots(
        args.image,
        args.labels,
        args.out,
        args.lesion,
        lesion_labels=getattr(args, "lesion_labels", None),
        force_labels=getattr(args, "force_labels", False),
    ):
        print(path_text(p))
    return 0
