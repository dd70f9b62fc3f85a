"""MONAI pipeline preview: what the tutorial's training loop feeds the network.

Runs ``monai_pipeline.run_pipeline`` (LoadImaged, EnsureChannelFirstd, optional
Orientationd / Spacingd / ScaleIntensityRanged, CropForegroundd through
``Dataset`` + ``DataLoader``) on the files behind the chosen layers, in a napari
``thread_worker``, and adds the sample as ``'<name> (MONAI)'`` layers placed in
world space by their MONAI affine.  torch and MONAI are imported only when it runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
)

from .._napari.layer_utils import layer_meta
from .._napari.pick import layer_choices
from ..crop.foreground import parse_per_axis
from ._common import ScrollableContainer

if TYPE_CHECKING:
    import napari

__all__ = ["MonaiPipelineWidget"]


class MonaiPipelineWidget(ScrollableContainer):
    """Run the tutorial's MONAI pre-processing on the current image and labels files."""

    def __init__(self, viewer: napari.viewer.Viewer):
        # scrollable: its 20 rows made the window grow to 1049 px when docked with
        # another widget; in a scroll area the dock can be as short as the screen allows
        super().__init__(labels=True, scrollable=True)
        self._viewer = viewer
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.image_layer = ComboBox(label="image", choices=self._image_choices, nullable=True)
        self.labels_layer = ComboBox(label="labels", choices=self._labels_choices, nullable=True)
        self.use_orientation = CheckBox(text="Orientationd", value=True)
        self.axcodes = LineEdit(label="axcodes", value="RAS")
        self.use_spacing = CheckBox(text="Spacingd", value=False)
        self.pixdim = LineEdit(label="pixdim (mm)", value="1.5, 1.5, 2.0")
        self.use_intensity = CheckBox(text="ScaleIntensityRanged", value=True)
        self.a_min = FloatSpinBox(label="a_min", value=-57.0, min=-1e5, max=1e5)
        self.a_max = FloatSpinBox(label="a_max", value=164.0, min=-1e5, max=1e5)
        self.b_min = FloatSpinBox(label="b_min", value=0.0, min=-1e5, max=1e5)
        self.b_max = FloatSpinBox(label="b_max", value=1.0, min=-1e5, max=1e5)
        self.clip = CheckBox(text="clip", value=True)
        self.crop_source = ComboBox(label="CropForegroundd source", choices=["image", "label"])
        self.use_threshold = CheckBox(text="select_fn: value > threshold", value=False)
        self.select_threshold = FloatSpinBox(label="threshold", value=0.0, min=-1e5, max=1e5)
        self.margin_text = LineEdit(label="margin", value="0")
        self.k_divisible_text = LineEdit(label="k_divisible", value="1")
        self.allow_smaller = CheckBox(text="allow_smaller", value=False)
        self.run_button = PushButton(text="Run MONAI pipeline")
        self.meta_info = Label(value="")
        self.extend(
            [
                self.image_layer,
                self.labels_layer,
                self.use_orientation,
                self.axcodes,
                self.use_spacing,
                self.pixdim,
                self.use_intensity,
                self.a_min,
                self.a_max,
                self.b_min,
                self.b_max,
                self.clip,
                self.crop_source,
                self.use_threshold,
                self.select_threshold,
                self.margin_text,
                self.k_divisible_text,
                self.allow_smaller,
                self.run_button,
                self.meta_info,
            ]
        )
        self.meta_info.native.setWordWrap(True)
        from qtpy.QtCore import Qt

        self.meta_info.native.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_button.changed.connect(lambda *_: self.run())
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        self.native.destroyed.connect(self._disconnect)
        from .work import WidgetWork

        self.work = WidgetWork(self, "MONAI pipeline", status=self._say, run_button=self.run_button)
        self.workers = self.work.guard
        from ._common import fit_dock_title

        self.native.setMinimumHeight(180)  # a handful of rows stay visible when stacked
        self.native.widget().layout().addStretch(1)  # rows packed at the top, not spread out
        fit_dock_title(self.native, "MONAI pipeline")
        self._refresh()

    def _disconnect(self, *_) -> None:
        """Stop listening to the viewer when the dock widget is destroyed."""
        self._viewer.layers.events.inserted.disconnect(self._refresh)
        self._viewer.layers.events.removed.disconnect(self._refresh)

    def _image_choices(self, _w=None) -> list:
        return layer_choices(self._viewer, "image")()

    def _labels_choices(self, _w=None) -> list:
        return layer_choices(self._viewer, "labels")()

    def _refresh(self, *_) -> None:
        self.reset_choices()
        if self.image_layer.value is None and self._image_choices():
            self.image_layer.value = self._image_choices()[0][1]
        if self.labels_layer.value is None and self._labels_choices():
            self.labels_layer.value = self._labels_choices()[0][1]

    def _file_of(self, layer) -> str:
        """The file behind a layer; a layer without one is saved to a temporary file."""
        src = (layer.metadata or {}).get("source_path")
        if src and Path(src).exists():
            return str(src)
        from ..display.layers import save_layer

        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="liverct-monai-")
        path = Path(self._tmp.name) / f"{layer.name.replace('/', '_')}.nii.gz"
        save_layer(path, layer.data, layer_meta(layer))
        return str(path)

    def pipeline_kwargs(self) -> dict:
        """``run_pipeline`` arguments from the widget's fields (raises ValueError)."""
        if self.image_layer.value is None:
            raise ValueError("choose an image layer")
        pixdim = parse_per_axis(self.pixdim.value, float, "pixdim")
        if not isinstance(pixdim, tuple):
            pixdim = (pixdim,) * 3
        return {
            "image_path": self._file_of(self.image_layer.value),
            "label_path": (self._file_of(self.labels_layer.value) if self.labels_layer.value is not None else None),
            "orientation": self.axcodes.value.strip() if self.use_orientation.value else None,
            "spacing": pixdim if self.use_spacing.value else None,
            "intensity_range": (
                (self.a_min.value, self.a_max.value, self.b_min.value, self.b_max.value, self.clip.value)
                if self.use_intensity.value
                else None
            ),
            "crop_source": self.crop_source.value,
            "margin": parse_per_axis(self.margin_text.value, float, "margin"),
            "k_divisible": parse_per_axis(self.k_divisible_text.value, int, "k_divisible"),
            "allow_smaller": bool(self.allow_smaller.value),
            "select_threshold": self.select_threshold.value if self.use_threshold.value else None,
        }

    def run(self, blocking: bool = False):
        """Run the pipeline (in a thread_worker unless ``blocking``); returns the layers
        added when blocking, else the worker (None, with one notification saying why, when
        the input is refused)."""
        try:
            kwargs = self.pipeline_kwargs()
        except (ValueError, OSError) as exc:
            self.work.refuse(exc)
            return None
        names = {"image": self.image_layer.value.name}
        if self.labels_layer.value is not None:
            names["label"] = self.labels_layer.value.name

        def _work():
            from ..crop.monai_pipeline import run_pipeline

            return run_pipeline(**kwargs)

        if blocking:
            try:
                result = _work()
            except Exception as exc:  # noqa: BLE001 - shown to the user, once
                self.work.report(exc)
                return []
            return self._on_done(result, names)
        return self.work.start(
            _work,
            on_done=lambda res: self._on_done(res, names),
            busy="running LoadImaged -> ... -> CropForegroundd through DataLoader ...",
            activity="MONAI pipeline",
        )

    def _say(self, text: str) -> None:
        self.meta_info.value = text

    def _on_done(self, result: dict, names: dict) -> list:
        from ..crop.monai_pipeline import format_meta, pipeline_layer_data

        added = []
        for data, kwargs, kind in pipeline_layer_data(result, names):
            if kwargs["name"] in self._viewer.layers:
                self._viewer.layers.remove(kwargs["name"])
            add = self._viewer.add_image if kind == "image" else self._viewer.add_labels
            added.append(add(data, **kwargs))
        self.meta_info.value = format_meta(result["meta"])
        return added
