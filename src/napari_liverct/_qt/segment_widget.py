"""Segment liver (offline): draft liver and liver-tumour labels from a CT, on the CPU.

A thin face on :func:`napari_liverct.segment.pipeline.iter_segment`: the chosen image
layer's stored-order array and affine go to a napari generator ``thread_worker``; the
bar counts network runs: the liver's (moving with its pre-processing and convolutions),
then every lesion tile; the
liver appears as the Labels layer ``"<image> liver draft"`` as soon as it is done and the
tumours are added to it when the last tile is in.  Cancel stops the worker between two
tiles (the liver, complete, stays; no partial tumour result is shown).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, ComboBox, Label, ProgressBar, PushButton, SpinBox

from ._common import ScrollableContainer, fit_dock_title
from .work import WidgetWork

if TYPE_CHECKING:
    import napari

__all__ = ["SegmentWidget", "DRAFT_NOTE"]

DRAFT_NOTE = (
    "A draft, not a diagnosis. The networks are pyliverlesionseg 0.3 (KU Leuven, Apache-2.0), "
    "Keras U-Nets trained in 2019-2022, run here on the CPU without a network connection. "
    "Measured by this plugin: liver Dice 0.96 against TotalSegmentator's liver on its example CT "
    "(a model output, not manual truth); the tumour label was not measured here. "
    "Check the draft and correct it with the brush before using it."
)


#: The bar counts network runs in this many parts each (the liver's run moves within its part).
BAR_PARTS = 100


class SegmentWidget(ScrollableContainer):
    """Image layer in, ``"<name> liver draft"`` Labels layer out (1 liver, 2 liver tumour)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True, scrollable=True)
        self._viewer = viewer
        self._layer = None
        self._lesions_run = False
        self.image_layer = ComboBox(label="CT image", choices=self._image_choices, nullable=True)
        self.with_lesions = CheckBox(text="liver tumours too (minutes; the liver takes about 30 s)", value=True)
        self.threads = SpinBox(label="CPU threads", value=os.cpu_count() or 1, min=1, max=max(1, os.cpu_count() or 1))
        self.run_button = PushButton(text="Segment")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="network runs", value=0, min=0, max=1)
        self.status = Label(value="")
        self.note = Label(value=DRAFT_NOTE)
        from qtpy.QtWidgets import QSizePolicy

        for lab in (self.status, self.note):
            lab.native.setWordWrap(True)
            # a wrapped label in magicgui's row asked for the width of its whole text
            # (2,459 px): the dock took the window; it now takes the width it is given
            lab.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            lab.native.setMinimumWidth(120)
        self.extend(
            [
                self.image_layer,
                self.with_lesions,
                self.threads,
                self.run_button,
                self.cancel_button,
                self.progress,
                self.status,
                self.note,
            ]
        )
        self.run_button.changed.connect(lambda *_: self.run())
        self.cancel_button.changed.connect(lambda *_: self.cancel())
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        self.native.destroyed.connect(self._disconnect)
        self.work = WidgetWork(
            self,
            "Segment liver",
            status=self._say,
            run_button=self.run_button,
            cancel_button=self.cancel_button,
            hide_progress=False,
        )
        self.workers = self.work.guard
        self.native.setMinimumHeight(220)
        self.native.widget().layout().addStretch(1)
        fit_dock_title(self.native, "Segment liver (offline)")
        self._refresh()

    # -- layer choice --------------------------------------------------------------------
    def _disconnect(self, *_) -> None:
        self._viewer.layers.events.inserted.disconnect(self._refresh)
        self._viewer.layers.events.removed.disconnect(self._refresh)

    def _image_choices(self, _w=None) -> list:
        from napari.layers import Image

        return [(ly.name, ly) for ly in self._viewer.layers if isinstance(ly, Image) and ly.ndim == 3 and not ly.rgb]

    def _refresh(self, *_) -> None:
        self.reset_choices()
        if self.image_layer.value is None and self._image_choices():
            self.image_layer.value = self._image_choices()[0][1]

    # -- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.work.running

    @property
    def _worker(self):
        return self.work.worker

    def _say(self, text: str) -> None:
        self.status.value = text

    def run(self):
        """Start the segmentation of the chosen layer in a worker; returns the worker
        (None, with one notification saying why, when the input is refused)."""
        from .._napari.layer_utils import layer_disk_view
        from ..segment.inputs import check_ct
        from ..segment.weights import WeightsMissingError, load_weights

        layer = self.image_layer.value
        if layer is None:
            self.work.refuse("choose a CT image layer")
            return None
        try:
            data, affine = layer_disk_view(layer)
            check_ct(data, f"layer '{layer.name}'")
            for model in ("liver", "lesion") if self.with_lesions.value else ("liver",):
                load_weights(model)
        except (WeightsMissingError, ValueError) as exc:
            self.work.refuse(exc)
            return None
        from ..segment.pipeline import iter_segment

        kwargs = {"lesions": bool(self.with_lesions.value), "threads": int(self.threads.value)}
        self._lesions_run = kwargs["lesions"]  # what this run does, whatever the box shows later
        self._source = (layer, affine)
        self._layer = None
        self.progress.max, self.progress.value = BAR_PARTS, 0
        return self.work.start(
            iter_segment,
            data,
            affine,
            **kwargs,
            on_yield=self._on_step,
            on_done=self._on_done,
            on_abort=self._on_aborted,
            busy="liver: preparing the 3 mm volume and running the network (about 30 s) ...",
            activity="Segment liver",
        )

    def cancel(self) -> None:
        """Stop between two network runs (the worker checks after every tile)."""
        if self.work.cancel():
            self.status.value = "cancelling after the current network run ..."

    def _on_step(self, step) -> None:
        parts = BAR_PARTS
        if step.stage == "liver":
            self.progress.value = round(step.done * parts / max(step.total, 1))
            if step.labels is not None:
                self._show(step.labels, final=False)
                self.status.value = "liver done; lesion tiles running ..." if self._lesions_run else "liver done"
            return
        self.progress.max = parts * (1 + step.total)
        self.progress.value = parts * (1 + step.done)
        self.status.value = f"liver tumours: tile {step.done} of {step.total}"

    def _show(self, labels, final: bool) -> None:
        from ..labels import LabelTable
        from ..layers import array_to_layer_data
        from ..segment.files import label_header
        from ..segment.pipeline import CLASS_NAMES

        source, affine = self._source
        names = {0: "background", **CLASS_NAMES}
        if self._layer is not None and self._layer in self._viewer.layers:
            data, _, _ = array_to_layer_data(
                labels, affine, kind="labels", name=self._layer.name, label_names=LabelTable(names, "draft")
            )
            self._layer.data = data
            return
        data, kwargs, _ = array_to_layer_data(
            labels,
            affine,
            kind="labels",
            name=f"{source.name} liver draft",
            header=label_header(CLASS_NAMES),
            label_names=LabelTable(names, "pyliverlesionseg 0.3 draft (the model's classes)"),
            extra_metadata={"draft_of": source.name, "draft_note": DRAFT_NOTE},
        )
        name = kwargs["name"]
        if name in self._viewer.layers:
            self._viewer.layers.remove(name)
        self._layer = self._viewer.add_labels(data, **kwargs)

    def _on_done(self, result) -> None:
        self._show(result.labels, final=True)
        secs = result.info.get("liver_seconds", 0) + result.info.get("lesion_seconds", 0)
        # "0 tumour voxels" after a liver-only run read as "no tumour found": say what was run
        tumours = (
            f"{int((result.labels == 2).sum())} tumour voxels"
            if self._lesions_run
            else "liver only: the tumour network was not run"
        )
        self.status.value = (
            f"done in {secs:.0f} s: layer '{self._layer.name}' (1 liver, 2 liver tumour; {tumours}). A draft: check it."
        )

    def _on_aborted(self, *_) -> None:
        kept = "the liver draft is kept; " if self._layer is not None else ""
        self.status.value = f"cancelled: {kept}no tumour result"
