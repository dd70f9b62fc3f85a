"""What a NIfTI file says about itself: the header as a person reads it, and which form won.

:func:`affine_form` says which of the header's three geometries (sform, qform, pixdim)
the reader used for the voxel-to-world affine, and why, following
:func:`napari_liverct.volumes.nifti.read_nifti` (nibabel's ``get_best_affine``: the sform when
its code is set, else the qform, else pixdim alone; a broken sform gives way to a
usable qform).  :func:`file_info` gathers the header (dimensions, spacing, orientation
codes, qform/sform codes and matrices, datatype and scaling, extensions, intent,
description) and, from a layer's metadata, the label table and what the reader did to
show the array (the axis flips and permutation).  Pure: nibabel and numpy.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np

from .volume import HeaderSummary

__all__ = ["affine_form", "file_info", "file_info_json", "file_info_text"]


def _code(codes, value: int) -> str:
    try:
        return str(codes.niistring[int(value)])
    except KeyError:
        return f"unknown ({int(value)})"


def _usable(a) -> bool:
    a = np.asarray(a, dtype=float)
    return bool(a.shape == (4, 4) and np.all(np.isfinite(a)) and abs(np.linalg.det(a[:3, :3])) > 1e-12)


def affine_form(header, affine=None) -> tuple[str, str]:
    """``(form, why)``: which geometry of ``header`` gives the reader's affine, and why.

    ``form`` is ``"sform"``, ``"qform"`` or ``"pixdim"``; ``affine`` (the affine the
    reader returned), when given, must be that form's matrix.
    """
    scode, qcode = int(header["sform_code"]), int(header["qform_code"])
    sform = header.get_sform() if scode > 0 else None
    qform = header.get_qform() if qcode > 0 else None
    if sform is not None and _usable(sform):
        form = "sform"
        why = (
            f"sform_code is {scode} ({_code(nib.nifti1.xform_codes, scode)}): a set sform wins over the "
            "qform (the NIfTI-1 standard's method 3, nibabel's get_best_affine)"
        )
    elif qform is not None and _usable(qform):
        form = "qform"
        why = (
            f"sform_code {scode} but the sform is not usable (non-finite or singular); the qform "
            f"(qform_code {qcode}) is used instead, with a warning"
            if scode > 0
            else f"sform_code is 0 and qform_code is {qcode} ({_code(nib.nifti1.xform_codes, qcode)}): "
            "the qform (quaternion, method 2) is the only geometry set"
        )
    else:
        form = "pixdim"
        why = (
            "sform_code and qform_code are 0: the affine is pixdim scaling alone, no orientation "
            "or origin (method 1; nibabel assumes the axes are R, A, S)"
        )
    if affine is not None:
        ref = {"sform": sform, "qform": qform}.get(form)
        ref = header.get_base_affine() if ref is None else ref
        if not np.allclose(np.asarray(affine, float), ref, atol=1e-4):
            why += " [note: the affine in use differs from this form's matrix]"
    return form, why


def _matrix(a) -> list[list[float]] | None:
    return None if a is None else [[round(float(v), 6) for v in row] for row in np.asarray(a, float)]


def _extensions(header) -> list[dict]:
    out = []
    for ext in header.extensions:
        code = int(ext.get_code())
        content = ext.get_content()
        raw = content if isinstance(content, bytes) else bytes(str(content), "utf-8", "replace")
        kind = ""
        if b"<LabelTable" in raw:
            kind = "XML with a LabelTable (Caret / Workbench / TotalSegmentator label names and colours)"
        elif raw.lstrip().startswith(b"<"):
            kind = "XML"
        elif raw.lstrip().startswith((b"{", b"[")):
            kind = "JSON"
        try:
            name = str(nib.nifti1.extension_codes.label[code])
        except KeyError:
            name = "unknown"
        out.append({"code": code, "name": name, "bytes": len(raw), "content": kind or "binary/text"})
    return out


def file_info(metadata: dict) -> dict:
    """The file information of a layer read by the plugin (its ``layer.metadata``).

    Raises
    ------
    ValueError
        When the metadata holds no NIfTI header (a layer not read from a file).
    """
    header = (metadata or {}).get("header")
    if isinstance(header, HeaderSummary):
        return _summary_info(metadata, header)
    if header is None or not hasattr(header, "get_sform"):
        raise ValueError("this layer was not read from a NIfTI, DICOM, NRRD or MetaImage file: no header to show")
    affine = metadata.get("affine")
    affine = header.get_best_affine() if affine is None else np.asarray(affine, float)
    form, why = affine_form(header, affine)
    scode, qcode = int(header["sform_code"]), int(header["qform_code"])
    slope, inter = header.get_slope_inter()
    units = header.get_xyzt_units()
    descrip = header["descrip"].item()
    descrip = descrip.decode("latin-1", "replace") if isinstance(descrip, bytes) else str(descrip)
    ornt = metadata.get("ornt")
    info = {
        "file": metadata.get("source_path"),
        "format": "NIfTI-2" if isinstance(header, nib.Nifti2Header) else "NIfTI-1",
        "dimensions": [int(v) for v in header.get_data_shape()],
        # the affine's voxel sizes: what every measurement uses (a header whose pixdim disagrees
        # with its sform shows the sform's; the reader refuses a zero pixdim where it is used)
        "spacing": [round(float(v), 6) for v in nib.affines.voxel_sizes(affine)]
        + [round(float(v), 6) for v in header.get_zooms()[3:]],
        "units": {"space": units[0], "time": units[1]},
        "orientation": "".join(nib.aff2axcodes(affine)),
        "affine_used": form,
        "affine_why": why,
        "affine": _matrix(affine),
        "sform_code": f"{scode} {_code(nib.nifti1.xform_codes, scode)}",
        "sform": _matrix(header.get_sform()) if scode > 0 else None,
        "qform_code": f"{qcode} {_code(nib.nifti1.xform_codes, qcode)}",
        "qform": _matrix(header.get_qform()) if qcode > 0 else None,
        "datatype": f"{int(header['datatype'])} {_code(nib.nifti1.data_type_codes, int(header['datatype']))}",
        "bitpix": int(header["bitpix"]),
        "scl_slope": None if slope is None else float(slope),
        "scl_inter": None if inter is None else float(inter),
        "read_as": metadata.get("read_dtype"),
        "scaling_applied": metadata.get("scaled"),
        "intent": f"{int(header['intent_code'])} {_code(nib.nifti1.intent_codes, int(header['intent_code']))}",
        "description": descrip,
        "extensions": _extensions(header),
        "shown_as": None,
    }
    if ornt is not None:
        o = np.asarray(ornt)
        feeds = {int(o[a, 0]): ("ijk"[a], bool(o[a, 1] < 0)) for a in range(min(3, len(o)))}
        parts = [
            f"{name} = stored {feeds[d][0]}{' flipped' if feeds[d][1] else ''}"
            for d, name in enumerate(("z (S)", "y (P)", "x (L)"))
            if d in feeds
        ]
        residual = metadata.get("residual")
        oblique = residual is not None and not np.allclose(np.asarray(residual, float), np.eye(4))
        info["shown_as"] = "napari " + ", ".join(parts) + (" (oblique: the closest orthogonal view)" if oblique else "")
    return _with_label_table(info, metadata)


def _with_label_table(info: dict, metadata: dict) -> dict:
    """``info`` with the layer's label table (names and where they came from), when it has one."""
    names = metadata.get("label_names")
    if names is not None:
        info["label_table"] = {
            "source": metadata.get("label_names_source"),
            "labels": {str(k): str(v) for k, v in dict(names).items()},
        }
    return info


def _summary_info(metadata: dict, header: HeaderSummary) -> dict:
    """The file information of a DICOM series, a DICOM-SEG, an NRRD or a MetaImage file."""
    affine = np.asarray(metadata.get("affine"), float)
    info = {
        "file": metadata.get("source_path"),
        "format": header.format,
        "dimensions": [int(v) for v in metadata.get("stored_shape") or ()],
        "spacing": [round(float(v), 6) for v in nib.affines.voxel_sizes(affine)],
        "orientation": "".join(nib.aff2axcodes(affine)),
        "affine": _matrix(affine),
        "read_as": metadata.get("read_dtype"),
        "header": {str(k): v for k, v in header.fields.items()},
        "notes": list(header.notes),
    }
    return _with_label_table(info, metadata)


def file_info_json(info: dict) -> str:
    """The file information as indented JSON."""
    return json.dumps(info, indent=2)


def _fmt_matrix(m) -> list[str]:
    return ["    " + "  ".join(f"{v:>10.4f}" for v in row) for row in m] if m else ["    (not set)"]


def _space_units(info: dict) -> str:
    unit = info["units"]["space"]
    return "units not set in the header: read as mm" if unit in (None, "unknown") else unit


def _table_lines(info: dict) -> list[str]:
    table = info.get("label_table")
    if not table:
        return []
    return [f"label table ({table['source']}): {len(table['labels'])} labels"] + [
        f"  {k}: {v}" for k, v in table["labels"].items()
    ]


def file_info_text(info: dict) -> str:
    """The file information as the lines a person reads in the panel."""
    if "header" in info:  # DICOM, DICOM-SEG, NRRD, MetaImage
        lines = [
            f"file: {info['file']}",
            f"format: {info['format']}",
            f"dimensions: {' x '.join(map(str, info['dimensions']))}",
            f"spacing: {' x '.join(f'{v:g}' for v in info['spacing'])} (mm)",
            f"orientation: {info['orientation']} (RAS affine below)",
            *_fmt_matrix(info["affine"]),
            f"read as: {info['read_as']}",
        ]
        lines += [f"{k}: {v}" for k, v in info["header"].items()]
        lines += [f"note: {n}" for n in info["notes"]]
        return "\n".join(lines + _table_lines(info))
    lines = [
        f"file: {info['file']}",
        f"format: {info['format']}",
        f"dimensions: {' x '.join(map(str, info['dimensions']))}",
        f"spacing: {' x '.join(f'{v:g}' for v in info['spacing'])} ({_space_units(info)})",
        f"orientation: {info['orientation']}",
        f"affine used: {info['affine_used']}",
        f"  why: {info['affine_why']}",
    ]
    if info.get("shown_as"):
        lines.append(f"shown as: {info['shown_as']}")
    lines += [f"sform_code: {info['sform_code']}", *_fmt_matrix(info["sform"])]
    lines += [f"qform_code: {info['qform_code']}", *_fmt_matrix(info["qform"])]
    lines += [
        f"datatype: {info['datatype']} ({info['bitpix']} bits)",
        f"scaling: scl_slope {info['scl_slope']}, scl_inter {info['scl_inter']}",
    ]
    if info.get("read_as"):
        applied = "scl_slope/scl_inter applied" if info.get("scaling_applied") else "stored values, no scaling"
        lines.append(f"read as: {info['read_as']} ({applied})")
    lines += [
        f"intent: {info['intent']}",
        f"description: {info['description']!r}",
        f"extensions: {len(info['extensions'])}",
    ]
    lines += [f"  code {e['code']} ({e['name']}), {e['bytes']} bytes: {e['content']}" for e in info["extensions"]]
    return "\n".join(lines + _table_lines(info))
