"""MONAI data lists (``monai.data.load_decathlon_datalist``'s dicts) of a dataset folder, without MONAI."""

from __future__ import annotations

import os
from pathlib import Path

from ..labels.tables import read_dataset_json
from .folder import Case, _locate_json, load_dataset

__all__ = ["cases_to_datalist", "decathlon_datalist"]


def cases_to_datalist(cases: list[Case], split: str = "training") -> list[dict]:
    """MONAI data dicts of the cases of one split (``{"image": ..., "label": ...}``)."""
    out = []
    for c in cases:
        if c.split != split:
            continue
        image = [str(c.image), *map(str, c.channels)] if c.channels else str(c.image)
        item = {"image": image}
        if c.label is not None:
            item["label"] = str(c.label)
        out.append(item)
    return out


def decathlon_datalist(root: str | os.PathLike, split: str = "training") -> list[dict]:
    """The data dicts ``monai.data.load_decathlon_datalist`` returns, without MONAI.

    For a dataset.json with a ``split`` list the result equals MONAI's (same order,
    absolute normalised paths, other keys joined to the folder only when that path
    exists, test entries given as strings become ``{"image": path}``).  For
    nnU-Net v2 and plain folders the list is built from the discovered cases.

    Raises
    ------
    ValueError
        When the dataset.json has lists but not ``split`` (as MONAI does).
    """
    base, json_path = _locate_json(root)
    if json_path is not None:
        spec = read_dataset_json(json_path)
        if any(isinstance(spec.get(k), list) for k in ("training", "test", "validation")):
            if split not in spec:
                raise ValueError(f'{json_path}: the data list "{split}" is not in the file')
            items = spec[split] or []
            out = []
            for item in items:
                item = dict(item) if isinstance(item, dict) else {"image": item}
                for key, value in item.items():
                    item[key] = _datalist_value(base, value, check=key not in ("image", "label"))
                out.append(item)
            return out
    return cases_to_datalist(load_dataset(root).cases, split)


def _datalist_value(base: Path, value, check: bool):
    def one(v):
        joined = os.path.normpath(os.path.join(base, v))
        return str(v) if check and not os.path.exists(joined) else joined

    if isinstance(value, (str, os.PathLike)):
        return one(value)
    if isinstance(value, list) and all(isinstance(v, (str, os.PathLike)) for v in value):
        return [one(v) for v in value]
    return value
