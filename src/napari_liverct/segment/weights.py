"""Where the converted pyliverlesionseg 0.3 weights live, how they are written and read.

``scripts/fetch_data.py`` downloads the pyliverlesionseg 0.3 wheel (Apache-2.0, KU Leuven)
through pip with a sha256 check and calls :func:`convert_all` once: the two Keras 2.2 HDF5
files are read with h5py and written as safetensors (plain float32 arrays, Keras layout
``kernel (k0, k1, k2, in, out)``, with the model's voxel size and the source file's sha256
in the metadata).  The segmentation itself only reads that cache: nothing downloads at run
time, and a missing cache is a :class:`WeightsMissingError` naming the command that fills it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

__all__ = [
    "MODELS",
    "WeightsMissingError",
    "cache_dir",
    "convert_all",
    "convert_hdf5",
    "data_dir",
    "load_weights",
    "sha256_file",
    "weights_path",
]

FETCH_COMMAND = "python scripts/fetch_data.py (or bash scripts/setup.sh)"

# The two networks of the wheel, by the file names it ships them under.
MODELS = {
    "liver": "model_unet_ct_mr_liv_seg_resize_1.5mm_med_3_resize_3mm_20201011_dice_loss_val_binary_dice_mean.hdf5",
    "lesion": "model_unet_ct_mr_lesion_seg_resize_1mm_1mm_3mm_20220207_dice_loss_val_binary_dice_mean.hdf5",
}


class WeightsMissingError(RuntimeError):
    """The converted weights are not in the cache (run the set-up step)."""


def data_dir() -> Path:
    """The cache of real files and weights that ``scripts/fetch_data.py`` fills (``$LIVERCT_DATA``,
    default ``~/.cache/napari-liverct``); the one definition of it."""
    return Path(os.environ.get("LIVERCT_DATA") or Path.home() / ".cache" / "napari-liverct")


def cache_dir() -> Path:
    """Folder of the converted weights (``$LIVERCT_DATA/weights``)."""
    return data_dir() / "weights"


def weights_path(model: str) -> Path:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: expected one of {sorted(MODELS)}")
    return cache_dir() / f"pyliverlesionseg-0.3-{model}.safetensors"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _conv_number(name: str) -> int:
    m = re.fullmatch(r"conv3d_(\d+)", name)
    return int(m.group(1)) if m else -1


def convert_hdf5(src: Path, dst: Path) -> Path:
    """Convert one Keras 2.2 HDF5 weight file into safetensors (atomically).

    The convolutions are stored as ``conv3d_N.kernel`` / ``conv3d_N.bias`` in Keras layout;
    ``N`` is Keras' creation number, which is also the order ``model.load_weights`` assigns
    them in (checked here against the file's own ``layer_names`` order).
    """
    import h5py
    from safetensors.numpy import save_file

    tensors: dict[str, np.ndarray] = {}
    with h5py.File(src, "r") as h5:
        root = h5["model_weights"] if "model_weights" in h5 else h5
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in root.attrs["layer_names"]]
        convs = [n for n in names if _conv_number(n) > 0]
        if convs != sorted(convs, key=_conv_number):
            raise ValueError(f"{src}: convolutions are not stored in creation order: {convs}")
        for n in convs:
            group = root[n][n] if n in root[n] else root[n]
            tensors[f"{n}.kernel"] = np.asarray(group["kernel:0"], dtype=np.float32)
            tensors[f"{n}.bias"] = np.asarray(group["bias:0"], dtype=np.float32)
        voxel_size = [float(v) for v in np.asarray(h5["header/voxel_size"])]
        keras_version = root.attrs.get("keras_version", b"")
    meta = {
        "source": src.name,
        "source_sha256": sha256_file(src),
        "voxel_size": json.dumps(voxel_size),
        "keras_version": keras_version.decode() if isinstance(keras_version, bytes) else str(keras_version),
        "n_convs": str(len(convs)),
    }
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dst


def convert_all(wheel_dir: Path) -> dict[str, Path]:
    """Convert both models of the unpacked wheel in ``wheel_dir`` (skips up-to-date files)."""
    out = {}
    for model, fname in MODELS.items():
        src = Path(wheel_dir) / "pyliverlesionseg" / "trained_models" / fname
        dst = weights_path(model)
        if dst.exists():
            try:
                if _read_meta(dst).get("source_sha256") == sha256_file(src):
                    out[model] = dst
                    continue
            except Exception:  # noqa: BLE001 - a damaged cache is rebuilt
                pass
        out[model] = convert_hdf5(src, dst)
    return out


def _read_meta(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        return dict(fh.metadata() or {})


def load_weights(model: str) -> tuple[dict[str, np.ndarray], dict]:
    """The converted arrays and metadata of ``model`` ('liver' or 'lesion')."""
    path = weights_path(model)
    if not path.exists():
        raise WeightsMissingError(
            f"the {model} weights are not converted yet ({path} missing): run {FETCH_COMMAND} once; "
            "it fetches the pyliverlesionseg 0.3 wheel through pip and converts its weights"
        )
    from safetensors.numpy import load_file

    try:
        arrays = load_file(str(path))
        meta = _read_meta(path)
    except Exception as exc:  # noqa: BLE001 - a damaged cache gets the same advice
        raise WeightsMissingError(f"{path}: unreadable weight cache ({exc}); run {FETCH_COMMAND} again") from exc
    meta["voxel_size"] = json.loads(meta.get("voxel_size", "null"))
    return arrays, meta
