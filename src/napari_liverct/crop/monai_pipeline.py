"""The tutorial's MONAI pre-processing pipeline, run through MONAI itself.

``LoadImaged -> EnsureChannelFirstd -> [Orientationd] -> [Spacingd] ->
[ScaleIntensityRanged] -> CropForegroundd``, fed through ``monai.data.Dataset`` and
``DataLoader(batch_size=1, num_workers=0)`` exactly as a training loop would, and
the sample it yields returned as numpy arrays with their voxel-to-RAS affine (the
MetaTensor ``.affine``; MONAI's NibabelReader keeps NIfTI's RAS convention), so
:func:`pipeline_layer_data` can place them in napari world space beside the
originals.

torch and MONAI are imported only inside :func:`build_transforms` /
:func:`run_pipeline`; importing this module is cheap.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from nibabel.affines import voxel_sizes as nib_voxel_sizes

__all__ = ["build_transforms", "run_pipeline", "pipeline_layer_data", "format_meta"]


def build_transforms(
    keys: Sequence[str],
    *,
    orientation: str | None = None,
    spacing: Sequence[float] | None = None,
    intensity_range: Sequence | None = None,
    crop_source: str = "image",
    margin: float | Sequence[float] = 0,
    k_divisible: int | Sequence[int] = 1,
    allow_smaller: bool = False,
    select_threshold: float | None = None,
):
    """The MONAI ``Compose`` of the tutorial pipeline for ``keys`` (``"image"``[, ``"label"``]).

    Parameters
    ----------
    keys
        Dictionary keys: ``"image"`` and optionally ``"label"``.
    orientation
        Axis codes for ``Orientationd`` (e.g. ``"RAS"``); None skips it.
    spacing
        ``pixdim`` for ``Spacingd`` (bilinear for the image, nearest for the label);
        None skips it.
    intensity_range
        ``(a_min, a_max, b_min, b_max, clip)`` for ``ScaleIntensityRanged`` on the
        image; None skips it.
    crop_source, margin, k_divisible, allow_smaller
        ``CropForegroundd`` arguments (``source_key``, ...).
    select_threshold
        Foreground is ``value > select_threshold`` (on the intensities *after*
        ScaleIntensityRanged); None keeps MONAI's default ``value > 0``.
    """
    from monai import transforms as mt

    keys = list(keys)
    if crop_source not in keys:
        raise ValueError(f"crop source {crop_source!r} is not loaded (keys {keys})")
    steps = [
        mt.LoadImaged(keys=keys, reader="NibabelReader", image_only=True),
        mt.EnsureChannelFirstd(keys=keys),
    ]
    if orientation:
        steps.append(
            mt.Orientationd(keys=keys, axcodes=str(orientation).upper(), labels=(("L", "R"), ("P", "A"), ("I", "S")))
        )
    if spacing is not None:
        modes = ["bilinear" if k == "image" else "nearest" for k in keys]
        steps.append(mt.Spacingd(keys=keys, pixdim=tuple(float(s) for s in spacing), mode=modes))
    if intensity_range is not None:
        a_min, a_max, b_min, b_max, clip = intensity_range
        steps.append(
            mt.ScaleIntensityRanged(keys=["image"], a_min=a_min, a_max=a_max, b_min=b_min, b_max=b_max, clip=bool(clip))
        )
    crop_kw = {}
    if select_threshold is not None:
        crop_kw["select_fn"] = _Above(float(select_threshold))
    steps.append(
        mt.CropForegroundd(
            keys=keys,
            source_key=crop_source,
            margin=margin,
            k_divisible=k_divisible,
            allow_smaller=allow_smaller,
            **crop_kw,
        )
    )
    return mt.Compose(steps)


class _Above:
    """Picklable ``x > t`` select_fn (works on numpy arrays and torch tensors)."""

    def __init__(self, t: float):
        self.t = t

    def __call__(self, x):
        return x > self.t

    def __repr__(self) -> str:
        return f"value > {self.t:g}"


def _to_numpy(t) -> np.ndarray:
    import torch

    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def run_pipeline(
    image_path: str | os.PathLike,
    label_path: str | os.PathLike | None = None,
    *,
    orientation: str | None = None,
    spacing: Sequence[float] | None = None,
    intensity_range: Sequence | None = None,
    crop_source: str = "image",
    margin: float | Sequence[float] = 0,
    k_divisible: int | Sequence[int] = 1,
    allow_smaller: bool = False,
    select_threshold: float | None = None,
) -> dict:
    """Run the pipeline on one image (and label) file through Dataset + DataLoader.

    Returns
    -------
    dict
        ``"image"`` (and ``"label"``): numpy arrays, spatial axes first in MONAI's
        output order, the channel axis removed when single (else moved last);
        ``"affine"``: their 4x4 voxel-to-RAS affine; ``"meta"``: shape, affine,
        foreground_start_coord, foreground_end_coord (in the grid CropForegroundd
        saw, i.e. after Orientationd/Spacingd), pixdim, the transforms applied and
        the source files.

    Raises
    ------
    ValueError
        If the foreground is empty (MONAI would yield a zero-size sample), naming
        the crop source file.
    """
    from monai.data import DataLoader, Dataset, decollate_batch

    if crop_source == "labels":
        crop_source = "label"
    item = {"image": str(image_path)}
    if label_path is not None:
        item["label"] = str(label_path)
    elif crop_source == "label":
        raise ValueError("the crop source is the label, but no label file was given")
    transforms = build_transforms(
        list(item),
        orientation=orientation,
        spacing=spacing,
        intensity_range=intensity_range,
        crop_source=crop_source,
        margin=margin,
        k_divisible=k_divisible,
        allow_smaller=allow_smaller,
        select_threshold=select_threshold,
    )
    loader = DataLoader(Dataset(data=[item], transform=transforms), batch_size=1, num_workers=0)
    batch = next(iter(loader))
    sample = decollate_batch(batch)[0]
    out: dict = {}
    first = sample["image"]
    start = _to_numpy(sample["foreground_start_coord"]).astype(int)
    end = _to_numpy(sample["foreground_end_coord"]).astype(int)
    src_file = item[crop_source]
    if np.any(end - start <= 0):
        from .foreground import describe_rule, empty_foreground_error

        raise empty_foreground_error(
            str(src_file), f"{describe_rule(select_threshold)} after the pipeline", start.tolist()
        )
    for key in item:
        arr = _to_numpy(sample[key].as_tensor() if hasattr(sample[key], "as_tensor") else sample[key])
        arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
        out[key] = arr
    affine = _to_numpy(first.affine).astype(float)
    ops = [type(t).__name__ for t in transforms.transforms]
    meta = first.meta if hasattr(first, "meta") else {}
    out["affine"] = affine
    out["meta"] = {
        "shape": tuple(int(s) for s in first.shape),
        "affine": affine,
        "foreground_start_coord": start.tolist(),
        "foreground_end_coord": end.tolist(),
        "pixdim": [float(v) for v in nib_voxel_sizes(affine)],
        "original_affine": _to_numpy(meta.get("original_affine", np.eye(4))).astype(float),
        "transforms": ops,
        "dtype": str(out["image"].dtype),
        "files": dict(item),
    }
    return out


def pipeline_layer_data(result: dict, names: dict[str, str] | None = None) -> list[tuple]:
    """LayerData tuples ``'<name> (MONAI)'`` for a :func:`run_pipeline` result."""
    from ..constants import OUTPUT_KEY
    from ..display.layers import array_to_layer_data
    from ..volumes.nifti import nifti_stem

    names = names or {}
    meta = result["meta"]
    layers = []
    for key, kind in (("image", "image"), ("label", "labels")):
        if key not in result:
            continue
        src = meta["files"][key]
        base = names.get(key) or nifti_stem(src)
        extra = {"monai_meta": meta, "monai_key": key, OUTPUT_KEY: "monai"}
        ld = array_to_layer_data(result[key], result["affine"], kind=kind, name=f"{base} (MONAI)", extra_metadata=extra)
        if kind == "image" and "contrast_limits" not in ld[1]:
            data = ld[0]
            lo, hi = float(np.min(data)), float(np.max(data))
            ld[1]["contrast_limits"] = (lo, hi if hi > lo else lo + 1)
        layers.append(ld)
    return layers


def format_meta(meta: dict) -> str:
    """Multi-line text of the sample's meta, for the widget."""
    aff = np.asarray(meta["affine"])
    rows = "\n".join("  [" + ", ".join(f"{v:9.3f}" for v in r) + "]" for r in aff)
    return (
        f"shape: {list(meta['shape'])} (channel first)\n"
        f"dtype: {meta.get('dtype')}\n"
        f"foreground_start_coord: {meta['foreground_start_coord']}\n"
        f"foreground_end_coord: {meta['foreground_end_coord']}\n"
        f"pixdim: {[round(v, 4) for v in meta['pixdim']]}\n"
        f"affine (voxel -> RAS mm):\n{rows}\n"
        f"transforms: {' -> '.join(meta.get('transforms', []))}"
    )
