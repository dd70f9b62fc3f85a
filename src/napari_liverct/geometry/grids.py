"""Voxel-to-world geometry: NIfTI affines, napari world coordinates, orientation codes.

Convention
----------
napari world coordinates are patient **LPS millimetres in napari's (z, y, x) order**,
that is ``world = (S, P, L)``:

* world axis 0 increases towards the patient's head (Superior),
* world axis 1 increases towards the patient's back (Posterior),
* world axis 2 increases towards the patient's left (Left).

With napari's default 2D camera an axial slice is shown with anterior at the top and
the patient's right on the left of the screen (radiological convention, as in 3D
Slicer and ITK-SNAP).  The reversed world coordinate ``(L, P, S)`` is the ITK /
SimpleITK physical point.

NIfTI affines map voxel indices ``(i, j, k)`` to RAS+ millimetres.  Every function
here is pure numpy/nibabel; nothing imports napari.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nibabel import orientations as nio

from ..constants import GRID_TOL_MM

__all__ = [
    "nonzero_box",
    "GridMismatchError",
    "reorient_onto",
    "resample_nearest",
    "conform_to_grid",
    "RAS_TO_WORLD",
    "WORLD_TO_RAS",
    "DisplayGeometry",
    "display_geometry",
    "orientation_code",
    "ras_affine_from_world",
    "world_affine_from_layer",
    "layer_world_affine",
    "reorient_to_display",
    "reorient_to_disk",
    "ObliqueAffineWarning",
    "ras_to_world",
    "grid_mismatch",
]

#: Maps homogeneous RAS+ (x, y, z, 1) to napari world (S, P, L, 1).
RAS_TO_WORLD = np.array(
    [
        [0.0, 0.0, 1.0, 0.0],
        [0.0, -1.0, 0.0, 0.0],
        [-1.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
WORLD_TO_RAS = np.linalg.inv(RAS_TO_WORLD)

#: The on-screen orientation every volume is reoriented to: array axis 0 -> S,
#: axis 1 -> P, axis 2 -> L (nibabel axis codes name the direction of increase).
DISPLAY_AXCODES = ("S", "P", "L")

#: Relative tolerance below which off-diagonal terms are considered zero.
OBLIQUE_TOL = 1e-4


class ObliqueAffineWarning(UserWarning):
    """The affine is oblique: napari shows the closest orthogonal orientation."""


def orientation_code(affine: np.ndarray) -> str:
    """Return the three-letter nibabel orientation code (e.g. ``"RAS"``, ``"LPS"``)."""
    return "".join(nio.aff2axcodes(np.asarray(affine, dtype=float)))


@dataclass(frozen=True)
class DisplayGeometry:
    """How a stored 3D array is shown in napari.

    Attributes
    ----------
    ornt
        nibabel orientation array that turns the stored array into the displayed
        view (``nibabel.orientations.apply_orientation``).
    scale, translate
        Axis-aligned napari transform of the displayed view, in world (S, P, L) mm.
    residual
        4x4 world-to-world transform from the axis-aligned display to the true
        position; identity unless the affine is oblique.
    oblique
        True when the affine has rotation that napari cannot show exactly in 2D.
    """

    ornt: np.ndarray
    scale: tuple[float, float, float]
    translate: tuple[float, float, float]
    residual: np.ndarray
    oblique: bool


def display_geometry(affine: np.ndarray, shape: tuple[int, ...]) -> DisplayGeometry:
    """Work out the zero-copy reorientation and axis-aligned transform for napari.

    Parameters
    ----------
    affine
        4x4 voxel-to-RAS affine of the stored array.
    shape
        Spatial shape (first three axes) of the stored array.

    Returns
    -------
    DisplayGeometry
        Reorientation (transposes and flips only) after which the voxel-to-world
        transform is ``scale`` and ``translate``, plus the oblique residual.
    """
    affine = np.asarray(affine, dtype=float)
    shape3 = tuple(int(s) for s in shape[:3])
    ornt = nio.ornt_transform(nio.io_orientation(affine), nio.axcodes2ornt(DISPLAY_AXCODES))
    disp_ras = affine @ nio.inv_ornt_aff(ornt, shape3)
    world = RAS_TO_WORLD @ disp_ras
    lin = world[:3, :3]
    scale = np.linalg.norm(lin, axis=0)
    if np.any(scale == 0) or not np.all(np.isfinite(world)):
        raise ValueError("affine is singular or not finite")
    diag = np.diag(np.diag(lin))
    off = np.abs(lin - diag).max() / scale.max()
    translate = world[:3, 3].copy()
    oblique = bool(off > OBLIQUE_TOL)
    if oblique:
        aligned = np.eye(4)
        aligned[:3, :3] = np.diag(scale)
        aligned[:3, 3] = translate
        residual = world @ np.linalg.inv(aligned)
    else:
        scale = np.diag(lin).copy()
        residual = np.eye(4)
    return DisplayGeometry(
        ornt=ornt,
        scale=tuple(float(s) for s in scale),
        translate=tuple(float(t) for t in translate),
        residual=residual,
        oblique=oblique,
    )


def reorient_to_display(data: np.ndarray, ornt: np.ndarray) -> np.ndarray:
    """Reorient the first three axes of ``data`` with transposes and flips (a view)."""
    return nio.apply_orientation(data, ornt)


def _inverse_ornt(ornt: np.ndarray) -> np.ndarray:
    """The orientation that undoes ``ornt``."""
    ornt = np.asarray(ornt)
    inv = np.zeros_like(ornt)
    for src_axis, (dst_axis, flip) in enumerate(ornt):
        inv[int(dst_axis)] = (src_axis, flip)
    return inv


def reorient_to_disk(data: np.ndarray, ras_affine: np.ndarray, ornt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undo the display reorientation: return the array in the file's axis order.

    Parameters
    ----------
    data
        Displayed array (spatial axes first three).
    ras_affine
        Voxel-to-RAS affine of ``data`` as displayed.
    ornt
        The orientation that was applied when reading (``DisplayGeometry.ornt``).

    Returns
    -------
    (array, affine)
        The array in stored axis order (a view) and its voxel-to-RAS affine.
    """
    inv = _inverse_ornt(ornt)
    disk = nio.apply_orientation(data, inv)
    disk_affine = np.asarray(ras_affine, float) @ nio.inv_ornt_aff(inv, data.shape[:3])
    return disk, disk_affine


def world_affine_from_layer(scale, translate, affine=None, rotate=None, shear=None) -> np.ndarray:
    """Compose napari's layer transform into one 4x4 data-to-world matrix.

    napari applies ``affine @ (translate . rotate . shear . scale)``; only the
    spatial (last three) axes are used.
    """
    scale = np.asarray(scale, float)[-3:]
    translate = np.asarray(translate, float)[-3:]
    lin = np.diag(scale)
    if shear is not None:
        sh = np.asarray(shear, float)
        if sh.ndim == 2:
            sh = sh[-3:, -3:]
        else:
            sh_vals = sh[-3:] if sh.size >= 3 else sh
            full = np.eye(3)
            full[np.triu_indices(3, 1)] = sh_vals
            sh = full
        lin = sh @ lin
    if rotate is not None:
        rot = np.asarray(rotate, float)
        if rot.ndim == 2:
            lin = rot[-3:, -3:] @ lin
        elif rot.size and np.any(rot != 0):
            raise ValueError("a layer rotation given as angles is not supported; use a matrix")
    out = np.eye(4)
    out[:3, :3] = lin
    out[:3, 3] = translate
    if affine is not None:
        aff = np.asarray(affine, float)
        aff3 = np.eye(4)
        aff3[:3, :3] = aff[-4:-1, -4:-1]
        aff3[:3, 3] = aff[-4:-1, -1]
        out = aff3 @ out
    return out


def ras_affine_from_world(world_affine: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
    """Turn a napari data-to-world (S, P, L) matrix into a voxel-to-RAS NIfTI affine."""
    world = np.asarray(world_affine, float)
    if residual is not None:
        world = np.asarray(residual, float) @ world
    return WORLD_TO_RAS @ world


def layer_world_affine(meta: dict) -> np.ndarray:
    """The data-to-world matrix of a layer given its attributes dict (LayerData kwargs)."""
    return world_affine_from_layer(
        meta.get("scale", (1, 1, 1)),
        meta.get("translate", (0, 0, 0)),
        meta.get("affine"),
        meta.get("rotate"),
        meta.get("shear"),
    )


def warn_if_oblique(geom: DisplayGeometry, source: str) -> None:
    """Warn once per file when napari cannot show the affine exactly."""
    if geom.oblique:
        angle = np.degrees(np.arccos(np.clip((np.trace(geom.residual[:3, :3]) - 1) / 2, -1, 1)))
        warnings.warn(
            f"{source}: the affine is oblique ({angle:.1f} degrees from the scanner axes); "
            "napari shows the closest orthogonal orientation. The original affine is kept "
            "in layer.metadata['affine'] and is used when saving.",
            ObliqueAffineWarning,
            stacklevel=3,
        )


def ras_to_world(points_ras: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
    """RAS+ mm points (N, 3) or (3,) -> napari world (S, P, L) mm as displayed.

    ``residual`` is the layer's oblique residual (``metadata['residual']``); the
    displayed position of a true point is ``inv(residual) @ world``.
    """
    pts = np.atleast_2d(np.asarray(points_ras, float))
    homo = np.c_[pts, np.ones(len(pts))]
    world = homo @ RAS_TO_WORLD.T
    if residual is not None:
        world = world @ np.linalg.inv(np.asarray(residual, float)).T
    out = world[:, :3]
    return out[0] if np.ndim(points_ras) == 1 else out


def grid_mismatch(shape_a, affine_a, shape_b, affine_b, tol_mm: float = GRID_TOL_MM, names=None) -> str | None:
    """Why two voxel grids differ (shape, or corner positions more than ``tol_mm`` apart), or None.

    The one test of "same grid" used by statistics, crop, survey and the 3D view.
    ``names`` (of grid a, grid b) label the two shapes in the message.
    """
    if tuple(shape_a[:3]) != tuple(shape_b[:3]):
        if names:
            return f"shapes differ: {tuple(shape_a[:3])} in {names[0]}, {tuple(shape_b[:3])} in {names[1]}"
        return f"shapes differ: {tuple(shape_a[:3])} vs {tuple(shape_b[:3])}"
    corners = np.array(np.meshgrid(*[[0, max(int(s) - 1, 0)] for s in shape_a[:3]], indexing="ij")).reshape(3, -1)
    homo = np.vstack([corners, np.ones(corners.shape[1])])
    dist = np.linalg.norm((np.asarray(affine_a, float) @ homo - np.asarray(affine_b, float) @ homo)[:3], axis=0)
    if dist.max() > tol_mm:
        return f"affines differ: voxel positions up to {dist.max():.4g} mm apart"
    return None


class GridMismatchError(ValueError):
    """Two volumes are not on the same grid, even up to an axis flip or permutation."""


def reorient_onto(data: np.ndarray, affine: np.ndarray, ref_shape, ref_affine, tol_mm: float = GRID_TOL_MM):
    """``data`` viewed on the reference grid when the two grids differ only by axis flips
    or permutations (the same voxel centres in world space), else None.

    Returns ``(view, description)``: a zero-copy transpose/flip view whose axes follow
    the reference's, and what was done ("axes permuted and flipped ..."), or
    ``(data, None)`` when the grids are already identical.
    """
    affine = np.asarray(affine, float)
    ref_affine = np.asarray(ref_affine, float)
    if grid_mismatch(data.shape, affine, ref_shape, ref_affine, tol_mm) is None:
        return data, None
    try:
        ornt = nio.ornt_transform(nio.io_orientation(affine), nio.io_orientation(ref_affine))
    except ValueError:
        return None
    view = nio.apply_orientation(data, ornt) if data.ndim >= 3 else data
    new_affine = affine @ nio.inv_ornt_aff(ornt, data.shape[:3])
    if grid_mismatch(view.shape, new_affine, ref_shape, ref_affine, tol_mm) is not None:
        return None
    perm = [int(a) for a in ornt[:, 0]]
    flips = [i for i in range(3) if ornt[i, 1] < 0]
    parts = []
    if perm != [0, 1, 2]:
        parts.append(f"axes permuted {perm}")
    if flips:
        parts.append(f"axes {flips} flipped")
    return view, " and ".join(parts) + " (same grid up to axis order; no resampling)"


def resample_nearest(data: np.ndarray, affine: np.ndarray, shape, ref_affine: np.ndarray) -> np.ndarray:
    """Resample a (label) volume onto another grid by nearest neighbour, 0 outside.

    Output voxel ``v`` takes the value at ``inv(affine) @ ref_affine @ v`` (scipy
    ``affine_transform``, order 0).
    """
    from scipy import ndimage as ndi

    vox2vox = np.linalg.inv(np.asarray(affine, float)) @ np.asarray(ref_affine, float)
    return ndi.affine_transform(
        np.asarray(data),
        vox2vox,
        output_shape=tuple(int(s) for s in shape[:3]),
        order=0,
        mode="constant",
        cval=0,
        output=np.asarray(data).dtype,
    )


def conform_to_grid(
    data: np.ndarray,
    affine: np.ndarray,
    ref_shape,
    ref_affine: np.ndarray,
    *,
    resample: bool = False,
    names: tuple[str, str] = ("labels", "image"),
    hint: str = "resample one onto the other (nearest neighbour)",
) -> tuple[np.ndarray, str | None]:
    """``data`` on the reference grid, and a note saying what was done (None: nothing).

    Same grid: unchanged.  Same grid up to axis flips/permutations: a zero-copy view.
    A real difference (spacing, origin, extent): nearest-neighbour resampling when
    ``resample`` is true, else :class:`GridMismatchError` naming both ``names``.
    """
    found = reorient_onto(data, affine, ref_shape, ref_affine)
    if found is not None:
        view, how = found
        return view, (f"{names[0]}: {how}" if how else None)
    # the reference first, as the message names it first; each shape with its file's name
    short = tuple(Path(str(n)).name or str(n) for n in names)
    why = grid_mismatch(ref_shape, ref_affine, data.shape, affine, names=(short[1], short[0]))
    if not resample:
        raise GridMismatchError(f"{names[1]} and {names[0]} are not on the same grid ({why}); {hint}")
    return (
        resample_nearest(data, affine, ref_shape, ref_affine),
        f"{names[0]}: resampled onto the grid of {names[1]} by nearest neighbour ({why})",
    )


def nonzero_box(volume: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Bounding box (slices, end exclusive) of the non-zero voxels of a 3D array, None if none.

    The one bounding-box rule of the package (statistics, lesions, meshes, 3D framing,
    snapshots).  Reduces along the slowest axis first, so a Fortran-ordered NIfTI
    volume is scanned in memory order.
    """
    volume = np.asarray(volume)
    slow = 2 if abs(volume.strides[2]) > abs(volume.strides[0]) else 0
    others = tuple(a for a in range(3) if a != slow)
    proj = volume.any(axis=slow)
    if not proj.any():
        return None
    idx: list = [None, None, None]
    idx[slow] = np.flatnonzero(volume.any(axis=others))
    idx[others[0]] = np.flatnonzero(proj.any(axis=1))
    idx[others[1]] = np.flatnonzero(proj.any(axis=0))
    return tuple(slice(int(b[0]), int(b[-1]) + 1) for b in idx)
