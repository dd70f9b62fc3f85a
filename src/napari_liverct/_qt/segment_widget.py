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
        self._record = None
        self._target = None
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
        (None, with one notification saying why, when the input is refused).

        Never removes or replaces a layer (:mod:`napari_liverct._napari.draft_layer`): a
        liver-only draft of this CT made in this session gets its tumours (the lesion
        network alone, inside the liver as the layer holds it now, written where the user
        has not edited, one undo step); anything else goes to a new layer.
        """
        from .._napari.draft_layer import draft_for, new_draft_name
        from .._napari.layer_utils import layer_disk_view
        from ..segment.inputs import check_ct
        from ..segment.weights import WeightsMissingError, load_weights

        layer = self.image_layer.value
        if layer is None:
            self.work.refuse("choose a CT image layer")
            return None
        lesions = bool(self.with_lesions.value)
        found = draft_for(self._viewer, layer)
        self._target = found if found is not None and lesions and "lesions" not in found[1].stages else None
        try:
            data, affine = layer_disk_view(layer)
            check_ct(data, f"layer '{layer.name}'")
            liver = None
            if self._target is not None:
                liver = layer_disk_view(self._target[0])[0] > 0  # the liver as it is now, tumours included
                if not liver.any():
                    raise ValueError(
                        f"layer '{self._target[0].name}' holds no liver any more: paint the liver (1) first, "
                        "or delete the layer to start a new draft"
                    )
            for model in ("lesion",) if liver is not None else ("liver", "lesion") if lesions else ("liver",):
                load_weights(model)
        except (WeightsMissingError, ValueError) as exc:
            self.work.refuse(exc)
            return None
        from ..segment.pipeline import iter_segment

        kwargs = {"lesions": lesions, "threads": int(self.threads.value), "liver": liver}
        self._lesions_run = lesions  # what this run does, whatever the box shows later
        self._source = (layer, affine)
        self._layer, self._record = self._target if self._target is not None else (None, None)
        self._name = self._layer.name if self._layer is not None else new_draft_name(self._viewer, layer)
        self.progress.max, self.progress.value = BAR_PARTS, 0
        busy = (
            f"liver tumours only, inside the liver of '{self._name}' as it is now ..."
            if liver is not None
            else "liver: preparing the 3 mm volume and running the network (about 30 s) ..."
        )
        return self.work.start(
            iter_segment,
            data,
            affine,
            **kwargs,
            on_yield=self._on_step,
            on_done=self._on_done,
            on_abort=self._on_aborted,
            busy=busy,
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
            if step.labels is not None and self._layer is None:
                self._add_layer(step.labels)
                self.status.value = "liver done; lesion tiles running ..." if self._lesions_run else "liver done"
            return
        self.progress.max = parts * (1 + step.total)
        self.progress.value = parts * (1 + step.done)
        self.status.value = f"liver tumours: tile {step.done} of {step.total}"

    def _display(self, labels):
        """Stored-order labels on the CT's grid -> the layer's (display) order."""
        from ..display.layers import array_to_layer_data

        _source, affine = self._source
        return array_to_layer_data(labels, affine, kind="labels", name="draft", label_names={1: "liver"})[0]

    def _add_layer(self, labels) -> None:
        """The new draft layer (never in place of another), remembered as produced."""
        from .._napari.draft_layer import remember
        from ..display.layers import array_to_layer_data
        from ..labels.tables import LabelTable
        from ..segment.files import label_header
        from ..segment.pipeline import CLASS_NAMES

        source, affine = self._source
        names = {0: "background", **CLASS_NAMES}
        data, kwargs, _ = array_to_layer_data(
            labels,
            affine,
            kind="labels",
            name=self._name,
            header=label_header(CLASS_NAMES),
            label_names=LabelTable(names, "pyliverlesionseg 0.3 draft (the model's classes)"),
            extra_metadata={"draft_of": source.name, "draft_note": DRAFT_NOTE},
        )
        self._layer = self._viewer.add_labels(data, **kwargs)
        self._record = remember(self._layer, ("liver",))

    def _on_done(self, result) -> None:
        from .._napari.draft_layer import add_tumours

        secs = result.info.get("liver_seconds", 0) + result.info.get("lesion_seconds", 0)
        if self._layer is None or self._layer not in self._viewer.layers:  # removed by the user meanwhile
            self._layer = None
            self._add_layer(result.labels)
        written = kept = 0
        if self._lesions_run:
            display = self._display(result.labels)
            written, kept = add_tumours(self._layer, self._record, display, liver_only=self._target is not None)
        name = self._layer.name
        if self._target is not None:
            left = f", {kept} tumour voxels on them left as you painted" if kept else ""
            self.status.value = (
                f"done in {secs:.0f} s: {written} tumour voxels added to '{name}' inside its liver; your edits "
                f"are kept{left}. Ctrl+Z on the layer takes the tumours back."
            )
            return
        # "0 tumour voxels" after a liver-only run read as "no tumour found": say what was run
        tumours = f"{written} tumour voxels" if self._lesions_run else "liver only: the tumour network was not run"
        stem = f"{self._source[0].name} liver draft"
        others = [ly.name for ly in self._viewer.layers if ly.name != name and ly.name.startswith(stem)]
        kept_note = f"; {', '.join(repr(n) for n in others)} kept as it was" if others else ""
        self.status.value = (
            f"done in {secs:.0f} s: layer '{name}' (1 liver, 2 liver tumour; {tumours}){kept_note}. A draft: check it."
        ) + "".join(f"\n⚠ {f.message}" for f in result.check.warnings)

    def _on_aborted(self, *_) -> None:
        if self._target is not None:
            self.status.value = f"cancelled: '{self._target[0].name}' is unchanged"
            return
        kept = "the liver draft is kept; " if self._layer is not None else ""
        self.status.value = f"cancelled: {kept}no tumour result"
