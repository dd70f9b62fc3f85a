"""``napari-liverct crop``: the command-line face of :mod:`napari_liverct.crop.foreground`."""

from __future__ import annotations

import argparse
import json
import sys

from ..outputs.pathtext import path_text
from ._options import finite_float, force_labels_argument, positive_int, use_paired_labels


class _PerAxis(argparse.Action):
    """``--margin M`` or ``--margin MX MY MZ``: checked by the parser the widgets use too."""

    def __call__(self, parser, namespace, values, option_string=None):
        from ..crop.foreground import parse_per_axis

        try:
            setattr(namespace, self.dest, parse_per_axis(values, float, option_string or "--margin"))
        except ValueError as exc:
            parser.error(str(exc))


def add_parser(subparsers) -> None:
    """The ``crop`` subcommand's arguments."""
    c = subparsers.add_parser("crop", help="crop image and labels to the foreground, MONAI CropForeground semantics")
    c.add_argument("image")
    c.add_argument("--labels", default=None)
    c.add_argument("--out-dir", required=True)
    src = c.add_mutually_exclusive_group()
    src.add_argument("--threshold", type=finite_float, default=None, help="foreground is image > T (HU)")
    src.add_argument(
        "--source", choices=("image", "labels"), default="image", help="'labels': foreground is labels > 0"
    )
    c.add_argument("--margin", type=float, nargs="+", default=0.0, action=_PerAxis)
    c.add_argument("--k-divisible", type=positive_int, nargs="+", default=[1])
    c.add_argument("--allow-smaller", action="store_true")
    c.add_argument(
        "--resample-labels",
        action="store_true",
        help="resample labels onto the image grid (nearest neighbour) when the grids really differ",
    )
    force_labels_argument(c)
    c.set_defaults(handler=run)


def run(args) -> int:
    """``napari-liverct crop``: crop image (and labels) to the foreground, write them.

    Prints ``{"start": [...], "end": [...], "shape": [...]}`` (stored voxel order).
    """
    from ..crop.plan import crop_files
    from ..outputs.group import atomic_write_group
    from ..volumes.nifti import write_nifti

    use_paired_labels(args)
    plan = crop_files(
        args.image,
        args.labels,
        args.out_dir,
        source=getattr(args, "source", "image"),
        threshold=args.threshold,
        margin=args.margin,
        k_divisible=args.k_divisible,
        allow_smaller=args.allow_smaller,
        resample_labels=getattr(args, "resample_labels", False),
        force_labels=getattr(args, "force_labels", False),
    )
    if plan.note:
        print(
            path_text(f"napari-liverct crop: {plan.note}; the cropped labels are written in the image's axis order"),
            file=sys.stderr,
        )
    result, inputs, outs = plan.result, plan.inputs, plan.outputs
    protected = tuple(str(p) for p in inputs)
    items = [
        write_nifti(
            outs[0], result.arrays["image"], result.affine, header=plan.image_header, protected=protected, defer=True
        )
    ]
    if plan.labels_header is not None:
        items.append(
            write_nifti(
                outs[1],
                result.arrays["labels"],
                result.affine,
                header=plan.labels_header,
                protected=protected,
                defer=True,
            )
        )
    # image and labels as one unit: both complete before either is renamed into place, and a
    # pair that a kill left mixed is refused by the reader (napari_liverct.outputs.group)
    atomic_write_group(items)
    print(
        json.dumps(
            {
                "start": result.start.tolist(),
                "end": result.end.tolist(),
                "shape": list(result.shape),
            }
        )
    )
    print("wrote " + ", ".join(path_text(p) for p in outs), file=sys.stderr)
    return 0
