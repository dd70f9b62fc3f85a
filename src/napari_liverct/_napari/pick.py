"""The one way the widgets pick layers, and the one tag on the plugin's own output layers.

Every widget fills its layer choices with :func:`layer_choices` (a magicgui ``choices``
callable bound to the viewer) or :func:`pick_layers`: the viewer's layers of one kind,
3D or more, without the layers the plugin made for display, which carry
``layer.metadata["liverct_output"] = "<kind>"`` (:func:`tag_output`). No filter on names.
"""

from __future__ import annotations

from collections.abc import Callable

from ..constants import OUTPUT_KEY

__all__ = ["OUTPUT_KEY", "tag_output", "output_kind", "pick_layers", "layer_choices", "is_draft", "compare_pair"]

_KINDS = ("image", "labels", "volume", "any")


def tag_output(metadata: dict | None, kind: str) -> dict:
    """``metadata`` (a new dict) marked as the plugin's own ``kind`` of output layer."""
    return {**(metadata or {}), OUTPUT_KEY: str(kind)}


def output_kind(layer) -> str | None:
    """The output kind of one of the plugin's own layers, None for the user's layers."""
    md = getattr(layer, "metadata", None) or {}
    return md.get(OUTPUT_KEY)


def pick_layers(viewer, kind: str = "volume", *, min_ndim: int = 3) -> list:
    """The user's layers of ``kind`` ("image", "labels", "volume" = either, "any"), in layer-list order.

    Layers with fewer than ``min_ndim`` dimensions and the plugin's own output layers
    (:func:`output_kind`) are left out.
    """
    from napari.layers import Image, Labels

    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")
    cls = {"image": Image, "labels": Labels, "volume": (Image, Labels)}.get(kind)
    return [
        ly
        for ly in viewer.layers
        if (cls is None or isinstance(ly, cls)) and ly.ndim >= min_ndim and output_kind(ly) is None
    ]


def layer_choices(viewer, kind: str = "volume", *, min_ndim: int = 3) -> Callable:
    """A magicgui ``choices`` callable: ``[(name, layer)]`` of :func:`pick_layers`."""

    def choices(_widget=None) -> list:
        return [(ly.name, ly) for ly in pick_layers(viewer, kind, min_ndim=min_ndim)]

    return choices


def is_draft(layer) -> bool:
    """A draft made by "Segment liver (offline)" (``metadata["draft_of"]``): a prediction."""
    return bool((getattr(layer, "metadata", None) or {}).get("draft_of"))


def compare_pair(labels: list, gt, pred) -> tuple:
    """Default ``(ground truth, prediction)`` among the labels layers ``labels``, until a pair is set.

    A chosen pair (two different layers) is kept. Otherwise the ground truth is the first
    layer that is not a draft (a draft is never the default truth: sensitivity and
    precision, FN and FP, the distance surface would all be the wrong way round) and the
    prediction the last draft, else the last other layer.
    """
    if not labels or (gt is not None and pred is not None and pred is not gt):
        return gt, pred
    if gt is None or is_draft(gt):
        gt = ([c for c in labels if not is_draft(c)] or labels)[0]
    others = [c for c in labels if c is not gt]
    return gt, ([c for c in others if is_draft(c)] or others or [gt])[-1]
