"""napari-liverct: open, measure, crop and inspect liver CT NIfTI volumes in napari.

Importing the package is cheap: napari, Qt, torch and MONAI are imported only by the
features that use them.
"""

__version__ = "0.1.0"

from .io.reader import napari_get_reader, read_nifti_layers
from .io.sample_data import make_sample_data
from .io.writer import write_single_layer

__all__ = [
    "napari_get_reader",
    "read_nifti_layers",
    "make_sample_data",
    "write_single_layer",
]
