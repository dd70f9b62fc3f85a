"""npe2 sample data: the synthetic liver CT phantom with its labels."""

from __future__ import annotations

from ..display.layers import array_to_layer_data
from ..labels.tables import DEFAULT_LABEL_NAMES
from ..volumes.phantom import make_phantom


def phantom_layer_data(**kwargs) -> list[tuple]:
    """Image and labels LayerData of the phantom (labels above the image)."""
    ph = make_phantom(**kwargs)
    image = array_to_layer_data(ph.image, ph.affine, kind="image", name="liver_phantom")
    labels = array_to_layer_data(
        ph.labels,
        ph.affine,
        kind="labels",
        name="liver_phantom_label",
        label_names=dict(DEFAULT_LABEL_NAMES),
    )
    return [image, labels]


def make_sample_data() -> list[tuple]:
    """npe2 sample-data command: phantom 448 x 448 x 96 at 0.8 x 0.8 x 2.5 mm."""
    return phantom_layer_data()
