"""3D tumour view, pure part: surface meshes from labels, mesh export, camera framing.

Meshes are built with scikit-image's marching cubes on the label mask in stored
voxel order, then mapped through the file's voxel-to-RAS affine, so a mesh's
vertices are **RAS+ millimetres** (:attr:`SurfaceMesh.vertices`).  For napari they
are turned into world ``(S, P, L)`` mm with :func:`napari_liverct.geometry.grids.ras_to_world`
(:meth:`SurfaceMesh.world_vertices`), so a Surface layer overlays the volume
exactly.  Faces are wound so that normals point outwards (positive signed volume)
whatever the handedness of the affine.

Export coordinate system
------------------------
:func:`export_meshes` writes **LPS** millimetres by default: 3D Slicer (since 4.11)
reads STL/OBJ/PLY model files as LPS unless the file says otherwise, as do ITK-based
tools, so an LPS export overlays the CT there without a manual flip.  Pass
``coordinate_system="RAS"`` for tools that use the NIfTI/RAS convention
(nibabel, FreeSurfer, older Slicer).  The OBJ header records ``SPACE=LPS`` or
``SPACE=RAS``.  Going from RAS to LPS negates x and y (a rotation by 180 degrees
about the S axis), so face winding and volumes are unchanged.

Nothing here imports napari or Qt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry.grids import nonzero_box, ras_to_world
from .downsample import block_fraction

__all__ = [
    "COORDINATE_SYSTEMS",
    "MESH_FORMATS",
    "SurfaceMesh",
    "mask_surface",
    "label_surfaces",
    "smooth_surface",
    "decimate_surface",
    "export_meshes",
    "lesion_camera",
]

COORDINATE_SYSTEMS = ("LPS", "RAS")
MESH_FORMATS = (".obj", ".ply", ".stl")
_RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])


@dataclass
class SurfaceMesh:
    """A triangle mesh of one label, vertices in RAS+ mm.

    Attributes
    ----------
    vertices
        ``(N, 3)`` float vertices in RAS+ millimetres.
    faces
        ``(M, 3)`` int32 vertex indices, wound outwards.
    label
        The label value the mesh was built from.
    name
        Display name (e.g. ``"liver"``).
    color
        RGBA colour in 0-1.
    """

    vertices: np.ndarray
    faces: np.ndarray
    label: int = 0
    name: str = ""
    color: tuple = field(default=(0.8, 0.8, 0.8, 1.0))

    def world_vertices(self, residual: np.ndarray | None = None) -> np.ndarray:
        """Vertices in napari world ``(S, P, L)`` mm (``residual``: the layer's oblique residual)."""
        if len(self.vertices) == 0:
            return np.zeros((0, 3))
        return ras_to_world(self.vertices, residual)

    def to_trimesh(self, coordinate_system: str = "RAS"):
        """A :class:`trimesh.Trimesh` in ``"RAS"`` or ``"LPS"`` mm, faces coloured by label."""
        import trimesh

        verts = _convert(self.vertices, coordinate_system)
        mesh = trimesh.Trimesh(verts, self.faces, process=False)
        rgba = (np.clip(np.asarray(self.color, float), 0, 1) * 255).astype(np.uint8)
        mesh.visual.face_colors = np.tile(rgba, (len(self.faces), 1))
        return mesh

    @property
    def volume_ml(self) -> float:
        """Enclosed volume in millilitres (divergence theorem, like trimesh)."""
        return _signed_volume(self.vertices, self.faces) / 1000.0


def _convert(vertices_ras: np.ndarray, coordinate_system: str) -> np.ndarray:
    cs = str(coordinate_system).upper()
    if cs not in COORDINATE_SYSTEMS:
        raise ValueError(f"coordinate_system must be 'LPS' or 'RAS', not {coordinate_system!r}")
    v = np.asarray(vertices_ras, float)
    return v * _RAS_TO_LPS if cs == "LPS" else v.copy()


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed enclosed volume (mm^3) of a closed triangle mesh."""
    if len(faces) == 0:
        return 0.0
    v = np.asarray(vertices, float)[np.asarray(faces)]
    return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)


def mask_surface(
    mask: np.ndarray,
    affine: np.ndarray,
    *,
    step_size: int = 1,
    smooth_iterations: int = 0,
    decimate: float = 0.0,
    downsample: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Closed surface of a binary mask in RAS+ mm (marching cubes at level 0.5).

    Parameters
    ----------
    mask
        3D boolean (or 0/1) array in stored voxel order.
    affine
        4x4 voxel-to-RAS affine of ``mask``.
    step_size
        Marching-cubes grid step in voxels: 2 gives about a quarter of the faces
        (coarse decimation that needs nothing extra).
    smooth_iterations
        Taubin smoothing passes (volume-preserving); 0 keeps the voxel staircase.
    decimate
        Fraction of faces to remove by quadric decimation (0 = none, 0.9 keeps
        about 10 %); needs the ``fast-simplification`` package.
    downsample
        Block size ``f``: marching cubes runs on the fraction of mask voxels in
        each ``f x f x f`` block (:func:`block_fraction`, an anti-aliased
        downsampling, ``f**3`` times fewer voxels), so the 0.5 iso-surface stays
        within a fraction of a block of the full-resolution one; objects smaller
        than about one block may vanish.

    Returns
    -------
    (vertices, faces)
        ``(N, 3)`` float64 RAS mm and ``(M, 3)`` int32, wound outwards.  Empty
        arrays when the mask is empty.
    """
    from skimage.measure import marching_cubes

    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask_surface needs a 3D mask, got shape {mask.shape}")
    if int(step_size) < 1:
        raise ValueError(f"step_size must be >= 1, not {step_size}")
    f = int(downsample)
    if f < 1:
        raise ValueError(f"downsample must be >= 1, not {downsample}")
    empty = (np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int32))
    box = nonzero_box(mask)
    if box is None:
        return empty
    lo = np.array([b.start for b in box])
    hi = np.array([b.stop for b in box])
    crop = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    vol = block_fraction(crop, f) if f > 1 else crop.astype(np.float32)
    if not (vol > 0.5).any():
        return empty
    # pad by one background voxel so surfaces touching the crop are closed
    vol = np.pad(vol, 1)
    verts, faces, _n, _v = marching_cubes(vol, level=0.5, step_size=int(step_size), allow_degenerate=False)
    # block n covers voxels f*n .. f*n + f - 1, its centre is f*n + (f - 1) / 2
    verts = (verts - 1) * f + (f - 1) / 2.0 + lo
    aff = np.asarray(affine, float)
    verts = verts @ aff[:3, :3].T + aff[:3, 3]
    faces = faces.astype(np.int32)
    if _signed_volume(verts, faces) < 0:
        faces = faces[:, ::-1].copy()
    if smooth_iterations:
        verts, faces = smooth_surface(verts, faces, int(smooth_iterations))
    if decimate:
        verts, faces = decimate_surface(verts, faces, float(decimate))
    return verts, faces


def smooth_surface(
    vertices: np.ndarray, faces: np.ndarray, iterations: int = 10, lamb: float = 0.5, nu: float = 0.53
) -> tuple[np.ndarray, np.ndarray]:
    """Taubin smoothing (trimesh): removes the voxel staircase with little shrinkage."""
    import trimesh
    from trimesh.smoothing import filter_taubin

    if iterations <= 0 or len(faces) == 0:
        return np.asarray(vertices, float), np.asarray(faces, np.int32)
    mesh = trimesh.Trimesh(np.asarray(vertices, float), np.asarray(faces), process=False)
    filter_taubin(mesh, lamb=lamb, nu=nu, iterations=int(iterations))
    return np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int32)


def decimate_surface(vertices: np.ndarray, faces: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation removing ``fraction`` (0-1) of the faces.

    Raises
    ------
    ValueError
        When ``fraction`` is outside [0, 1) or ``fast-simplification`` is missing.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"decimate must be in [0, 1), not {fraction}")
    if fraction == 0.0 or len(faces) < 8:
        return np.asarray(vertices, float), np.asarray(faces, np.int32)
    try:
        import fast_simplification  # noqa: F401
    except ImportError as exc:
        raise ValueError(
            "quadric decimation needs the 'fast-simplification' package "
            "(pip install fast-simplification); use step_size=2 for a coarser mesh instead"
        ) from exc
    import trimesh

    mesh = trimesh.Trimesh(np.asarray(vertices, float), np.asarray(faces), process=False)
    out = mesh.simplify_quadric_decimation(percent=float(fraction))
    v, f = np.asarray(out.vertices, float), np.asarray(out.faces, np.int32)
    if _signed_volume(v, f) < 0:
        f = f[:, ::-1].copy()
    return v, f


def label_surfaces(
    labels: np.ndarray,
    affine: np.ndarray,
    *,
    label_values: list[int] | None = None,
    label_names: dict[int, str] | None = None,
    colors: dict | None = None,
    step_size: int = 1,
    smooth_iterations: int = 10,
    decimate: float = 0.0,
    downsample: int = 1,
) -> list[SurfaceMesh]:
    """One :class:`SurfaceMesh` per label value (liver, tumour, ...), vertices in RAS mm.

    Parameters
    ----------
    labels
        Integer label volume in stored order.
    affine
        Its 4x4 voxel-to-RAS affine.
    label_values
        Which values to mesh; default every non-zero value present.
    label_names, colors
        Names and RGBA colours per value (default: ``labels.DEFAULT_LABEL_NAMES``
        and :func:`napari_liverct.labels.tables.label_colors`).
    step_size, smooth_iterations, decimate, downsample
        See :func:`mask_surface`.

    Returns
    -------
    list of SurfaceMesh
        In ``label_values`` order; labels absent from the volume are skipped.
    """
    from ..labels.tables import DEFAULT_LABEL_NAMES, label_colors

    labels = np.asarray(labels)
    if label_values is None:
        label_values = [int(v) for v in np.unique(labels) if v != 0]
    names = dict(DEFAULT_LABEL_NAMES)
    names.update(label_names or {})
    cols = label_colors(names)
    cols.update(colors or {})
    out: list[SurfaceMesh] = []
    for value in label_values:
        verts, faces = mask_surface(
            labels == value,
            affine,
            step_size=step_size,
            smooth_iterations=smooth_iterations,
            decimate=decimate,
            downsample=downsample,
        )
        if len(faces) == 0:
            continue
        out.append(
            SurfaceMesh(
                verts,
                faces,
                int(value),
                names.get(int(value), f"label {value}"),
                tuple(cols.get(int(value), (0.8, 0.8, 0.8, 1.0))),
            )
        )
    return out


def export_meshes(
    path: str | os.PathLike,
    meshes: SurfaceMesh | list[SurfaceMesh],
    coordinate_system: str = "LPS",
) -> Path:
    """Write meshes to one ``.obj``, ``.ply`` or ``.stl`` file through trimesh.

    Several meshes are merged into one file (face colours kept in PLY/OBJ; STL has
    none).  Coordinates are millimetres in ``coordinate_system`` (``"LPS"``, the
    default, as 3D Slicer assumes; or ``"RAS"``).  An existing file is replaced
    atomically.

    Returns
    -------
    Path
        The file written.
    """
    import trimesh

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_FORMATS:
        raise ValueError(f"{path}: mesh format must be one of {', '.join(MESH_FORMATS)}")
    cs = str(coordinate_system).upper()
    if cs not in COORDINATE_SYSTEMS:
        raise ValueError(f"coordinate_system must be 'LPS' or 'RAS', not {coordinate_system!r}")
    meshes = [meshes] if isinstance(meshes, SurfaceMesh) else list(meshes)
    parts = [m.to_trimesh(cs) for m in meshes if len(m.faces)]
    if not parts:
        raise ValueError(f"{path}: there is no surface to export (empty meshes)")
    merged = parts[0] if len(parts) == 1 else trimesh.util.concatenate(parts)
    if suffix == ".obj":
        from trimesh.exchange.obj import export_obj

        names = ", ".join(m.name for m in meshes)
        header = f"SPACE={cs} (millimetres); napari-liverct surfaces: {names}"
        payload: bytes = export_obj(merged, include_normals=False, header=header).encode()
    else:
        payload = merged.export(file_type=suffix[1:])
        if isinstance(payload, str):
            payload = payload.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    from ..outputs.units import atomic_write_bytes

    atomic_write_bytes(path, payload)
    return path


def lesion_camera(
    centre: np.ndarray,
    diameter_mm: float,
    canvas_size_px: tuple[int, int],
    fill: float = 0.4,
    min_diameter_mm: float = 15.0,
) -> tuple[tuple[float, float, float], float]:
    """Camera centre and zoom that frame a lesion.

    napari's zoom is canvas pixels per world millimetre (orthographic 3D camera
    and 2D camera alike), so the lesion's diameter spans ``fill`` of the smaller
    canvas side.

    Parameters
    ----------
    centre
        Lesion centroid in napari world ``(S, P, L)`` mm.
    diameter_mm
        Lesion's largest diameter; small lesions are framed as
        ``min_diameter_mm`` so that some context stays visible.
    canvas_size_px
        ``(height, width)`` of the canvas in pixels.
    fill
        Fraction of the smaller canvas side covered by the lesion.

    Returns
    -------
    (center, zoom)
    """
    d = max(float(diameter_mm or 0.0), float(min_diameter_mm))
    side = float(min(canvas_size_px))
    if side <= 0:
        raise ValueError(f"canvas size must be positive, not {canvas_size_px}")
    c = np.asarray(centre, float)
    return (float(c[0]), float(c[1]), float(c[2])), fill * side / d
