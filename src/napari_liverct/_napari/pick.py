"""The one way the widgets pick layers, and the one tag on the plugin's own output layers.

Every widget fills its layer choices with :func:`layer_choices` (a magicgui ``choices``
callable bound to the viewer) or :func:`pick_layers`: the viewer's layers of one kind,
3D or more, without the layers the plugin made for display, which carry
``layer.metadata["liverct_output"] = "<kind>"`` (:func:`tag_output`). No filter on names.
"""

from __future__ import annotations

from collections.abc import Callable

from ..constants import OUTPUT_KEY

__all__ = ["OUTPUT_KEY", "tag_output", "output_kind", "pick_layers", "layer_choices"]

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
