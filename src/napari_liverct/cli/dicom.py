"""``napari-liverct dicom-series`` (list a folder's series) and ``export-seg`` (labels -> DICOM-SEG)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..outputs.pathtext import path_text
from ._options import force_labels_argument
from .exitcodes import OK


def add_parser(subparsers) -> None:
    """Register ``dicom-series`` and ``export-seg``."""
    ls = subparsers.add_parser(
        "dicom-series",
        help="list the DICOM series in a folder (the UID to pass to --series-uid)",
        description="List the image series below FOLDER, largest first: UID, modality, files, description. "
        "The one read by default (the largest CT series) is marked with '*'.",
    )
    ls.add_argument("folder")
    ls.set_defaults(handler=run_list)
    ex = subparsers.add_parser(
        "export-seg",
        help="write labels on a DICOM series as a DICOM-SEG (one segment per class, coded)",
        description=(
            "Write LABELS (any format the reader takes; on the series' grid, in any axis order) as a DICOM "
            "Segmentation object referencing the series' instances. Class names come from the labels file's "
            "own table, its sidecar or dataset.json, else 'label N'. --origin: draft (AUTOMATIC), edited "
            "(SEMIAUTOMATIC) or manual (MANUAL); default: draft when the labels have the sidecar 'segment' "
            "writes, else manual."
        ),
    )
    ex.add_argument("labels")
    ex.add_argument("--series", required=True, metavar="SERIES", help="the DICOM series (folder or one of its files)")
    ex.add_argument("--out", required=True, metavar="SEG.dcm")
    ex.add_argument("--origin", choices=("draft", "edited", "manual"), default=None)
    force_labels_argument(ex)
    ex.set_defaults(handler=run_export)


def run_list(args) -> int:
    """Print the series listing (standard output)."""
    from ..volumes.dicom import default_series, list_series

    found = list_series(args.folder)
    if not found:
        raise ValueError(f"{args.folder}: no DICOM image series in it")
    chosen = default_series(found)
    for s in found:
        print(("* " if s is chosen else "  ") + s.line())
    return OK


def _default_origin(labels: Path) -> str:
    import json

    from ..volumes.nifti import nifti_stem

    side = labels.with_name(nifti_stem(labels) + ".json")
    try:
        doc = json.loads(side.read_text())
    except (OSError, ValueError):
        return "manual"
    return "draft" if isinstance(doc, dict) and "segmentation" in doc else "manual"


def run_export(args) -> int:
    """``export-seg LABELS --series SERIES --out SEG.dcm [--origin ...]``."""
    from ..labels.tables import checked_label_map, label_names_for
    from ..outputs.guard import guard_output
    from ..volumes.dispatch import read_volume
    from ..volumes.seg import ORIGINS, write_seg_on_series

    labels_path, out = Path(args.labels), Path(args.out)
    guard_output(out, [labels_path, args.series])  # never into the series, never over the labels
    series = read_volume(args.series)
    if not series.sources:
        raise ValueError(f"{args.series}: not a DICOM series that a SEG can reference (or its slices were resampled)")
    lab = read_volume(labels_path)
    data = checked_label_map(lab.data, str(labels_path), getattr(args, "force_labels", False))
    names = label_names_for(labels_path, lab.header, present=data)
    origin = args.origin or _default_origin(labels_path)
    _, axes = write_seg_on_series(
        out,
        data,
        lab.affine,
        names,
        series.data.shape,
        series.affine,
        series.sources,
        origin=origin,
        protected=(labels_path,),
    )
    segs = ", ".join(f"{k} {v}" for k, v in sorted(names.items()) if k != 0 and (data == k).any())
    print(
        path_text(
            f"{out}: DICOM-SEG on {len(series.sources)} slices, segments {segs}; {ORIGINS[origin]} ({origin})"
            + (f"; labels {axes}" if axes else "")
        ),
        file=sys.stderr,
    )
    return OK
