"""npe2 reader: NIfTI files -> image and labels LayerData (labels above the image).

Thin adapter over :mod:`napari_liverct.nifti` and :mod:`napari_liverct.layers`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from .labels import content_says_labels, find_label_sibling, looks_like_labels
from .layers import volume_to_layer_data
from .nifti import is_nifti_path, read_nifti

def napari_get_reader(path) -> Callable | None:
    """Return a reader for .nii / .nii.gz paths (any case), None at once otherwise.

    Only the file name is looked at; the file is not opened here.
    """
    paths = path if isinstance(path, (list, tuple)) else [path]
    if not paths or not all(isinstance(p, (str, os.PathLike)) and is_nifti_path(p) for p in paths):
        return None
    return read_nifti_layers


def _already_open(path: Path) -> bool:
    """True when the current napari viewer already shows a layer read from ``path``."""
    if "napari" not in sys.modules:
        return False
    try:
        import napari

        viewer = napari.current_viewer()
    except Exception:  # noqa: BLE001 - no viewer, nothing open
        return False
    if viewer is None:
        return False
    target = str(path.resolve())
    for layer in viewer.layers:
        src = (layer.metadata or {}).get("source_path")
        if src and str(Path(src).resolve()) == target:
            return True
    return False


def _opened_together() -> set[Path]:
    """Files the current ``viewer.open`` call is opening (dragging several at once).

    napari hands a drop of several files to the reader one file at a time; when the
    image and its labels are dropped together, pairing must not add the labels a
    second time.  napari keeps the list in ``ViewerModel.open``'s local ``paths_``;
    if it cannot be found (other napari versions, plain Python), nothing is skipped.
    """
    frame = sys._getframe(1)
    try:
        while frame is not None:
            if frame.f_code.co_name == "open" and "napari" in frame.f_code.co_filename:
                paths = frame.f_locals.get("paths_")
                if isinstance(paths, (list, tuple)):
                    return {Path(p).resolve() for p in paths if isinstance(p, (str, os.PathLike))}
            frame = frame.f_back
    finally:
        del frame
    return set()


def read_nifti_layers(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    kind: str | None = None,
    pair: bool = True,
) -> list[tuple]:
    """Read NIfTI files as napari LayerData tuples.

    Parameters
    ----------
    path
        One file or a list of files.
    kind
        ``"image"`` or ``"labels"`` to override the automatic rule (see
        :mod:`napari_liverct.labels`); None applies the rule.
    pair
        Also open the label file that belongs to an image (``X_label.nii.gz`` beside
        it, ``labelsTr/X.nii.gz`` for ``imagesTr/X.nii.gz``).

    Returns
    -------
    list of LayerData
        Images first, then labels, so labels are drawn above their image.  Either
        every file is read or an exception (naming the file) is raised and nothing
        is added.
    """
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    requested = {p.resolve() for p in paths if p.exists()} | _opened_together()
    images: list[tuple] = []
    labels: list[tuple] = []
    for p in paths:
        vol = read_nifti(p)
        this_kind = kind or (
            "labels" if looks_like_labels(p, vol.header) or content_says_labels(vol.data) else "image"
        )
        ld = volume_to_layer_data(vol, this_kind)
        (labels if this_kind == "labels" else images).append(ld)
        if pair and this_kind == "image" and kind is None:
            sib = find_label_sibling(p)
            if sib is not None and sib.resolve() not in requested and not _already_open(sib):
                requested.add(sib.resolve())
                sib_vol = read_nifti(sib)
                labels.append(volume_to_layer_data(sib_vol, "labels"))
    image_names = {ld[1]["name"] for ld in images}
    for ld in labels:  # "X" and "X labels", not napari's "X" and "X [1]"
        if ld[1]["name"] in image_names:
            ld[1]["name"] = f"{ld[1]['name']} labels"
    return images + labels


def read_as_labels(path) -> list[tuple]:
    """Reader command that forces a Labels layer (no pairing)."""
    return read_nifti_layers(path, kind="labels", pair=False)


def read_as_image(path) -> list[tuple]:
    """Reader command that forces an Image layer (no pairing)."""
    return read_nifti_layers(path, kind="image", pair=False)
