"""napari-liverct: open, measure, crop and inspect liver CT NIfTI volumes in napari.

Importing the package is cheap: napari, Qt, torch and MONAI are imported only by the
features that use them, and the package face below (the npe2 reader, writer and sample
data) only when first asked for, so the command line pays for none of it.
"""

__version__ = "0.1.0"

__all__ = [
    "napari_get_reader",
    "read_nifti_layers",
    "make_sample_data",
    "write_single_layer",
]

_FACE = {
    "napari_get_reader": "io.reader",
    "read_nifti_layers": "io.reader",
    "make_sample_data": "io.sample_data",
    "write_single_layer": "io.writer",
}


def __getattr__(name: str):
    module = _FACE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
