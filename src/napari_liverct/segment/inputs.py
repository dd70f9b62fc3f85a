"""What the draft networks accept: a 3D CT in Hounsfield units, and the refusal of anything else.

The widget checks the chosen layer with :func:`check_ct` before it starts any work, and
:func:`napari_liverct.segment.pipeline.iter_segment` checks again, so the command line and
the widget refuse the same inputs with the same message.
"""

from __future__ import annotations

import numpy as np

from ..labels.kind import MAX_LABEL_CLASSES

__all__ = ["NotACTError", "check_ct"]


class NotACTError(ValueError):
    """The volume given to the draft is not a CT in Hounsfield units (labels, MR, 2D...)."""


def _sample(volume: np.ndarray, target: int = 200_000) -> np.ndarray:
    step = max(1, int(round((volume.size / target) ** (1 / 3))))
    return np.asarray(volume[::step, ::step, ::step])


def check_ct(volume: np.ndarray, name: str = "this image") -> None:
    """Raise :class:`NotACTError` naming ``name`` and the problem unless ``volume`` looks like a CT in HU.

    In this order: not 3D; a segmentation opened as an image (a handful of non-negative
    integral values, as the plugin's image-or-labels rule counts them); no air below
    -500 HU (an MR, or a CT rescaled away from Hounsfield units).
    """
    volume = np.asarray(volume) if not hasattr(volume, "shape") else volume
    if volume.ndim != 3 or min(volume.shape) < 2:
        raise NotACTError(f"{name}: segmentation needs a 3D CT volume, got an array of shape {tuple(volume.shape)}")
    if volume.dtype.kind not in "biuf":
        raise NotACTError(f"{name}: its voxels are {volume.dtype}, not CT intensities in Hounsfield units")
    sample = _sample(volume)
    finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample.ravel()
    if finite.size == 0:
        raise NotACTError(f"{name}: it holds no finite value")
    values = np.unique(finite)
    integral = sample.dtype.kind in "biu" or bool(np.all(values == np.round(values)))
    if integral and values[0] >= 0 and len(values) <= min(MAX_LABEL_CLASSES, max(2, finite.size // 16)):
        shown = ", ".join(f"{v:g}" for v in values[:8].astype(float)) + (", ..." if len(values) > 8 else "")
        raise NotACTError(
            f"{name} holds label values ({shown}), not CT intensities: it is a segmentation opened as an image. "
            "Open it as labels (CT window and layer type > Open as labels) and choose the CT image to segment."
        )
    lowest = float(np.nanmin(volume[::2, ::2, ::2]))  # denser than the sample: a tight crop has little air
    if not lowest < -500.0:
        raise NotACTError(
            f"{name} does not look like a CT in Hounsfield units: its lowest value is {lowest:g}, and a CT "
            "has air below -500 HU. The networks were trained on CT in HU (MR is not supported here)."
        )
