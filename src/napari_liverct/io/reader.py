"""npe2 reader: volume files -> image and labels LayerData (labels above the image).

NIfTI, NRRD, MetaImage, a DICOM series (a folder or one of its files) and DICOM-SEG.
Thin adapter over :func:`napari_liverct.volumes.dispatch.read_volume` and
:mod:`napari_liverct.display.layers`.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from ..display.layers import volume_to_layer_data
from ..labels.tables import content_says_labels, find_label_sibling, looks_like_labels
from ..volumes.dispatch import is_volume_path, read_volume
from ..volumes.nifti import is_nifti_path


def napari_get_reader(path) -> Callable | None:
    """Return a reader for the volume paths :func:`read_volume` takes, None at once otherwise.

    Names decide, except for a file without a volume suffix: its first 132 bytes tell
    whether it is DICOM (the files of a series often have no suffix).
    """
    paths = path if isinstance(path, (list, tuple)) else [path]
    if not paths or not all(isinstance(p, (str, os.PathLike)) and is_volume_path(p) for p in paths):
        return None
    return read_for_napari


#: metadata key of a labels layer that was opened as the pair of an image
PAIRED_KEY = "opened_as_pair_of"


def _open_layers(target: Path) -> list:
    """Metadata of the current viewer's layers read from ``target`` (public napari API only)."""
    if "napari" not in sys.modules:
        return []
    try:
        import napari

        viewer = napari.current_viewer()
    except Exception:  # noqa: BLE001 - no viewer, nothing open
        return []
    if viewer is None:
        return []
    target_s = str(target.resolve())
    out = []
    for layer in viewer.layers:
        md = layer.metadata or {}
        src = md.get("source_path")
        if src and str(Path(src).resolve()) == target_s:
            out.append(md)
    return out


def _already_open(path: Path) -> bool:
    """True when the current napari viewer already shows a layer read from ``path``."""
    return bool(_open_layers(path))


def read_for_napari(path) -> list[tuple]:
    """The npe2 reader command: :func:`read_nifti_layers`, aware of pairs already open.

    napari hands a drop of several files to the reader one file at a time.  When an
    image was read first, its labels were opened with it (tagged ``opened_as_pair_of``);
    reading those labels again returns napari's documented "nothing to add" sentinel
    ``[(None,)]`` instead of a second copy.  When the labels come first, the image
    does not pair them (they are open already).
    """
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    if len(paths) == 1 and any(md.get(PAIRED_KEY) for md in _open_layers(paths[0])):
        warnings.warn(f"{paths[0]} is already open (with its image); not adding it twice", UserWarning, stacklevel=2)
        return [(None,)]
    return read_nifti_layers(path)


def read_nifti_layers(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    kind: str | None = None,
    pair: bool = True,
    series_uid: str | None = None,
) -> list[tuple]:
    """Read volume files (any format :func:`read_volume` takes) as napari LayerData tuples.

    Parameters
    ----------
    path
        One file or a list of files.
    kind
        ``"image"`` or ``"labels"`` to override the automatic rule (see
        :mod:`napari_liverct.labels.tables`); None applies the rule.
    pair
        Also open the label file that belongs to an image (``X_label.nii.gz`` beside
        it, ``labelsTr/X.nii.gz`` for ``imagesTr/X.nii.gz``).
    series_uid
        The series to read from a DICOM folder holding several (default: the largest CT series).

    Returns
    -------
    list of LayerData
        Images first, then labels, so labels are drawn above their image.  Either
        every file is read or an exception (naming the file) is raised and nothing
        is added.
    """
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    requested = {p.resolve() for p in paths if p.exists()}
    images: list[tuple] = []
    labels: list[tuple] = []
    for p in paths:
        vol = read_volume(p, series_uid=series_uid)
        this_kind = kind or ("labels" if looks_like_labels(p, vol.header) or content_says_labels(vol.data) else "image")
        ld = volume_to_layer_data(vol, this_kind)
        (labels if this_kind == "labels" else images).append(ld)
        if pair and this_kind == "image" and kind is None and is_nifti_path(p):
            sib = find_label_sibling(p)
            if sib is not None and sib.resolve() not in requested and not _already_open(sib):
                requested.add(sib.resolve())
                sib_vol = read_volume(sib)
                ld = volume_to_layer_data(sib_vol, "labels")
                ld[1]["metadata"][PAIRED_KEY] = str(p)
                labels.append(ld)
    image_names = {ld[1]["name"] for ld in images}
    for ld in labels:  # "X" and "X labels", not napari's "X" and "X [1]"
        if ld[1]["name"] in image_names:
            ld[1]["name"] = f"{ld[1]['name']} labels"
    return images + labels
