"""``napari-liverct crop``: the command-line face of :mod:`napari_liverct.crop`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from ._options import use_paired_labels


class _PerAxis(argparse.Action):
    """``--margin M`` or ``--margin MX MY MZ``: checked by the parser the widgets use too."""

    def __call__(self, parser, namespace, values, option_string=None):
        from ..crop import parse_per_axis

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
    src.add_argument("--threshold", type=float, default=None, help="foreground is image > T (HU)")
    src.add_argument(
        "--source", choices=("image", "labels"), default="image", help="'labels': foreground is labels > 0"
    )
    c.add_argument("--margin", type=float, nargs="+", default=0.0, action=_PerAxis)
    c.add_argument("--k-divisible", type=int, nargs="+", default=[1])
    c.add_argument("--allow-smaller", action="store_true")
    c.add_argument(
        "--resample-labels",
        action="store_true",
        help="resample labels onto the image grid (nearest neighbour) when the grids really differ",
    )
    c.set_defaults(handler=run)


def run(args) -> int:
    """``napari-liverct crop``: crop image (and labels) to the foreground, write them.

    Prints ``{"start": [...], "end": [...], "shape": [...]}`` (stored voxel order).
    """
    from ..crop import crop_foreground, crop_output_path
    from ..geometry import conform_to_grid
    from ..nifti import read_nifti, write_nifti
    from ..output_group import atomic_write_group

    use_paired_labels(args)
    inputs = [Path(args.image)] + ([Path(args.labels)] if args.labels else [])
    out_dir = Path(args.out_dir)
    outs = [crop_output_path(out_dir, str(p)) for p in inputs]
    if len(set(outs)) != len(outs):
        raise ValueError(f"image and labels would both be written to {outs[0]}; rename one input")
    for out in outs:
        for src in inputs:
            same = out.resolve() == src.resolve() or (out.exists() and src.exists() and os.path.samefile(out, src))
            if same:
                raise ValueError(f"refusing to write {out}: it is the input file {src}")
    image = read_nifti(args.image)
    arrays = {"image": image.data}
    labels = None
    if args.labels:
        labels = read_nifti(args.labels)
        arrays["labels"], note = conform_to_grid(
            labels.data,
            labels.affine,
            image.data.shape,
            image.affine,
            resample=bool(getattr(args, "resample_labels", False)),
            names=(str(args.labels), str(args.image)),
            hint="they cannot be cropped with one box; use --resample-labels to resample the labels "
            "onto the image grid (nearest neighbour)",
        )
        if note:
            print(
                f"napari-liverct crop: {note}; the cropped labels are written in the image's axis order",
                file=sys.stderr,
            )
    source = getattr(args, "source", "image") or "image"
    threshold = args.threshold
    if source == "labels":
        if labels is None:
            raise ValueError("--source labels needs --labels LABELS")
        if threshold is not None:
            raise ValueError("--threshold applies to the image; it cannot be used with --source labels")
    k = list(args.k_divisible) if np.ndim(args.k_divisible) else [args.k_divisible]
    if len(k) not in (1, 3):
        raise ValueError("--k-divisible takes one integer or three (one per axis)")
    result = crop_foreground(
        arrays,
        image.affine,
        source,
        threshold=threshold,
        margin=args.margin,
        k_divisible=k if len(k) == 3 else k[0],
        allow_smaller=bool(args.allow_smaller),
        source_name=str(args.labels if source == "labels" else args.image),
    )
    protected = tuple(str(p) for p in inputs)
    items = [
        write_nifti(
            outs[0], result.arrays["image"], result.affine, header=image.header, protected=protected, defer=True
        )
    ]
    if labels is not None:
        items.append(
            write_nifti(
                outs[1], result.arrays["labels"], result.affine, header=labels.header, protected=protected, defer=True
            )
        )
    # image and labels as one unit: both complete before either is renamed into place, and a
    # pair that a kill left mixed is refused by the reader (napari_liverct.output_group)
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
    print("wrote " + ", ".join(str(p) for p in outs), file=sys.stderr)
    return 0
