"""Find the cases of a dataset folder and list them as MONAI data dicts.

Accepted layouts (detected in this order):

1. a ``dataset.json`` path, or a folder holding one, with ``"training"`` and/or
   ``"test"`` lists: the Medical Segmentation Decathlon layout (also nnU-Net v1).
   Listed paths are relative to the json's folder.  A listed image that does not
   exist but has an nnU-Net channel file ``X_0000.nii.gz`` uses that file.
2. a ``dataset.json`` without those lists: nnU-Net v2 raw data.  Cases come from
   its ``"dataset"`` mapping when present, else from ``imagesTr/X_0000<file_ending>``
   (+ ``labelsTr/X<file_ending>``) and ``imagesTs/X_0000<file_ending>``.
3. any other folder: the NIfTI files in it (and in ``imagesTr``/``imagesTs``
   sub-folders when present), paired with :func:`labels.find_label_sibling`; label
   files are recognised by name/folder (:func:`labels.looks_like_labels`, without
   opening headers).

Names starting with ``._`` (macOS resource forks, found in the real MSD archives) and
hidden files are skipped everywhere.  Cases are returned training first, then test,
then unlabelled, each in natural order (``liver_2`` before ``liver_10``).

Pure Python: nothing here imports napari, Qt, torch or MONAI.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..labels.tables import find_label_sibling, looks_like_labels, parse_label_names, read_dataset_json
from ..results.anomaly import Anomaly
from ..volumes.nifti import is_nifti_path, nifti_stem

__all__ = [
    "Case",
    "Dataset",
    "load_dataset",
    "dataset_inputs",
    "dataset_issues",
    "find_cases",
]

SPLITS = ("training", "test", "unlabelled")
_CHANNEL = re.compile(r"^(.*)_(\d{4})$")


@dataclass(frozen=True)
class Case:
    """One case of a dataset.

    Attributes
    ----------
    id
        Case identifier (file name without extension, nnU-Net channel suffix removed).
    image
        Absolute path of the image (first channel for multi-channel nnU-Net data).
    label
        Absolute path of the segmentation, or None when the case has none.
    split
        ``"training"``, ``"test"`` or ``"unlabelled"`` (an image without labels in a
        plain folder).
    channels
        Further image channels (nnU-Net ``X_0001...``), usually empty.
    """

    id: str
    image: Path
    label: Path | None
    split: str
    channels: tuple[Path, ...] = ()


@dataclass
class Dataset:
    """Cases of a dataset folder plus what its dataset.json says.

    Attributes
    ----------
    root
        The dataset folder (the json's folder when a json was given).
    cases
        The cases, see the module docstring for the order.
    layout
        ``"msd"``, ``"nnunet"`` or ``"folder"``.
    json_path
        The dataset.json used, or None.
    label_names
        Label names from dataset.json (``{0: "background", 1: "liver", ...}``), or
        None when there is no dataset.json or it has no labels.
    name
        Dataset name (json ``"name"`` or the folder name).
    issues
        Where dataset.json and the folder disagree, as survey anomalies
        (:class:`~napari_liverct.results.anomaly.Anomaly`, see :func:`dataset_issues`).
    """

    root: Path
    cases: list[Case]
    layout: str
    json_path: Path | None = None
    label_names: dict[int, str] | None = None
    name: str = ""
    issues: list[Anomaly] = field(default_factory=list)

    def input_paths(self) -> list[Path]:
        """Every path the dataset is read from: its folder, its json and each case's files
        (for :func:`napari_liverct.outputs.guard.guard_output`; cases may lie outside the folder)."""
        out = [self.root] + ([self.json_path] if self.json_path else [])
        for c in self.cases:
            out += [c.image, *c.channels] + ([c.label] if c.label else [])
        return out


def dataset_inputs(path) -> list:
    """``path`` and every file of the dataset it names (:meth:`Dataset.input_paths`), the
    inputs an output must not touch; just ``path`` when it is no dataset (the command that
    reads it says why)."""
    try:
        return [path, *load_dataset(path).input_paths()]
    except (ValueError, OSError):
        return [path]


def _natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def _skip(name: str) -> bool:
    return name.startswith(".")  # covers macOS "._" forks and hidden files


def _abs(path: str | os.PathLike) -> Path:
    """Absolute, normalised path without resolving symlinks (as MONAI joins paths)."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _join(base: Path, item: str) -> Path:
    return Path(os.path.normpath(os.path.join(base, item)))


def _locate_json(root: str | os.PathLike) -> tuple[Path, Path | None]:
    p = _abs(root)
    if not p.exists():
        raise ValueError(f"{p}: no such file or folder")
    if p.is_file():
        if p.suffix.lower() != ".json":
            raise ValueError(f"{p}: expected a dataset folder or a dataset.json file")
        return p.parent, p
    js = p / "dataset.json"
    return p, (js if js.is_file() else None)


def _msd_image(path: Path) -> tuple[Path, tuple[Path, ...]]:
    """nnU-Net v1 lists ``X.nii.gz`` but stores ``X_0000.nii.gz`` (+ ``_0001``...)."""
    if path.exists():
        return path, ()
    stem = nifti_stem(path)
    ext = path.name[len(stem) :]
    chans = sorted(path.parent.glob(f"{glob_escape(stem)}_[0-9][0-9][0-9][0-9]{ext}"))
    if chans:
        return chans[0], tuple(chans[1:])
    return path, ()


def glob_escape(text: str) -> str:
    """Escape glob metacharacters in a literal name."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _msd_cases(base: Path, spec: dict, json_path: Path) -> list[Case]:
    cases: list[Case] = []
    for split in ("training", "test"):
        items = spec.get(split) or []
        if not isinstance(items, list):
            raise ValueError(f"{json_path}: '{split}' must be a list")
        for item in items:
            if isinstance(item, dict):
                img, lab = item.get("image"), item.get("label")
            else:
                img, lab = item, None
            if isinstance(img, list):  # multi-channel list
                img = img[0] if img else None
            if not isinstance(img, str) or _skip(Path(img).name):
                continue
            listed = _join(base, img)
            image, chans = _msd_image(listed)
            label = _join(base, lab) if isinstance(lab, str) else None
            cases.append(Case(nifti_stem(listed), image, label, split, chans))
    return cases


def _nnunet_cases(base: Path, spec: dict, json_path: Path) -> list[Case]:
    ending = str(spec.get("file_ending", ".nii.gz"))
    if not is_nifti_path("x" + ending):
        raise ValueError(f"{json_path}: file_ending {ending!r} is not NIfTI; napari-liverct reads .nii/.nii.gz only")
    cases: list[Case] = []
    mapping = spec.get("dataset")
    if isinstance(mapping, dict):  # nnU-Net v2 explicit file list
        for cid, entry in mapping.items():
            if not isinstance(entry, dict):
                raise ValueError(f"{json_path}: 'dataset' entry {str(cid)[:60]!r} must be an object with 'images'")
            images = entry.get("images", [])
            if isinstance(images, str):
                images = [images]
            if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
                raise ValueError(f"{json_path}: 'images' of case {str(cid)[:60]!r} must be a list of paths")
            imgs = [_join(base, p) for p in images]
            if not imgs:
                continue
            lab = entry.get("label")
            if lab is not None and not isinstance(lab, str):
                raise ValueError(f"{json_path}: 'label' of case {str(cid)[:60]!r} must be a path")
            cases.append(Case(str(cid), imgs[0], _join(base, lab) if lab else None, "training", tuple(imgs[1:])))
        return cases
    for sub, lab_sub, split in (("imagesTr", "labelsTr", "training"), ("imagesTs", "labelsTs", "test")):
        folder = base / sub
        if not folder.is_dir():
            continue
        groups: dict[str, list[Path]] = {}
        for f in folder.iterdir():
            if _skip(f.name) or not f.name.endswith(ending):
                continue
            m = _CHANNEL.match(f.name[: -len(ending)])
            if m:
                groups.setdefault(m.group(1), []).append(f)
        for cid, files in groups.items():
            files.sort()
            lab = base / lab_sub / f"{cid}{ending}"
            label = lab if lab.is_file() else None
            cases.append(Case(cid, files[0], label, split, tuple(files[1:])))
    return cases


def _nifti_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [f for f in folder.iterdir() if f.is_file() and not _skip(f.name) and is_nifti_path(f)]


def _folder_cases(base: Path) -> list[Case]:
    files = _nifti_files(base)
    for sub in ("imagesTr", "imagesTs"):
        files += _nifti_files(base / sub)
    images = [f for f in files if not looks_like_labels(f)]
    cases: list[Case] = []
    claimed: set[Path] = set()
    for img in images:
        lab = find_label_sibling(img)
        if lab is not None:
            lab = _abs(lab)
            claimed.add(lab)
        if img.parent.name.lower() == "imagests":
            split = "test"
        else:
            split = "training" if lab is not None else "unlabelled"
        cid = nifti_stem(img)
        if img.parent.name.lower().startswith("images"):
            cid = _CHANNEL.sub(r"\1", cid)
        cases.append(Case(cid, img, lab, split))
    return [c for c in cases if c.image not in claimed]


def load_dataset(root: str | os.PathLike) -> Dataset:
    """Discover the cases of a dataset folder or dataset.json (see the module docstring).

    Raises
    ------
    ValueError
        When ``root`` does not exist, is not a folder or json, or its dataset.json is
        unreadable.
    """
    base, json_path = _locate_json(root)
    spec: dict = {}
    names = None
    if json_path is not None:
        spec = read_dataset_json(json_path)
        if isinstance(spec.get("labels"), dict):
            names = parse_label_names(spec["labels"]) or None
        if any(isinstance(spec.get(k), list) for k in ("training", "test")):
            layout, cases = "msd", _msd_cases(base, spec, json_path)
        else:
            layout, cases = "nnunet", _nnunet_cases(base, spec, json_path)
    else:
        layout, cases = "folder", _folder_cases(base)
    cases, issues = dataset_issues(base, spec, cases) if json_path is not None else (cases, [])
    order = {s: i for i, s in enumerate(SPLITS)}
    cases.sort(key=lambda c: (order.get(c.split, 9), _natural_key(c.id)))
    return Dataset(
        root=base,
        cases=cases,
        layout=layout,
        json_path=json_path,
        label_names=names,
        name=str(spec.get("name") or base.name),
        issues=issues,
    )


def dataset_issues(base: Path, spec: dict, cases: list[Case]) -> tuple[list[Case], list[Anomaly]]:
    """Cases without duplicate ids, and where dataset.json and the folder disagree.

    ``duplicate_case``: an id listed more than once (the first entry is kept, so the case
    is surveyed and evaluated once); ``count_mismatch``: ``numTraining`` / ``numTest``
    differ from the number of cases listed (or found); ``unusable_entry``: list entries
    without an image path; ``unlisted_file``: a NIfTI file in ``imagesTr/`` or
    ``imagesTs/`` that no case uses.
    """
    issues: list[Anomaly] = []
    seen: dict[str, int] = {}
    kept: list[Case] = []
    for c in cases:
        seen[c.id] = seen.get(c.id, 0) + 1
        if seen[c.id] == 1:
            kept.append(c)
    for cid, n in seen.items():
        if n > 1:
            msg = f"listed {n} times in dataset.json; the first entry is used, once"
            issues.append(Anomaly(cid, "duplicate_case", msg))
    for key, split, listed in (("numTraining", "training", "training"), ("numTest", "test", "test")):
        said = spec.get(key)
        if not isinstance(said, int) or isinstance(said, bool):
            continue
        items = spec.get(listed)
        n = len(items) if isinstance(items, list) else sum(1 for c in kept if c.split == split)
        if said != n:
            where = f"the '{listed}' list has {n} entries" if isinstance(items, list) else f"{n} {split} cases found"
            issues.append(Anomaly(None, "count_mismatch", f"dataset.json says {key} {said}, {where}"))
    for split in ("training", "test"):
        items = spec.get(split)
        unusable = len(items) - sum(1 for c in cases if c.split == split) if isinstance(items, list) else 0
        if unusable > 0:
            msg = f"{unusable} entries of its '{split}' list name no image path (or a hidden file); not surveyed"
            issues.append(Anomaly(None, "unusable_entry", f"dataset.json: {msg}"))
    used = {_abs(p) for c in cases for p in (c.image, *c.channels)}
    for sub in ("imagesTr", "imagesTs"):
        folder = base / sub
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            if not _skip(f.name) and is_nifti_path(f) and _abs(f) not in used:
                msg = f"{f}: in {sub}/ but not a case of dataset.json (not surveyed)"
                issues.append(Anomaly(None, "unlisted_file", msg))
    return kept, issues


def find_cases(root: str | os.PathLike) -> list[Case]:
    """The cases of a dataset folder or dataset.json (see :func:`load_dataset`)."""
    return load_dataset(root).cases
