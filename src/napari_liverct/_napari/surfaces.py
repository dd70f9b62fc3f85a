"""Surface (mesh) side of the 3D tumour view: fast rendering under software OpenGL.

Marching-cubes meshes of liver and tumours shown as napari Surface layers draw in
tens of milliseconds even with Mesa's llvmpipe, where ray casting label volumes
takes seconds per frame; see ``benchmarks/bench_render3d.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..constants import OUTPUT_KEY
from ..display.mesh import SurfaceMesh, label_surfaces
from .compat import camera_of
from .layer_utils import layer_disk_view

if TYPE_CHECKING:
    import napari
    import napari.layers


#: Voxel counts above which the widget's "auto" mode shows surfaces instead of
#: ray-cast label volumes: (software OpenGL, GPU).  Under Mesa llvmpipe (no GPU)
#: the volume view costs about 1 s per frame already at 160 x 160 x 40 and 2.5 s
#: at 1/4 of 512 x 512 x 600, while the surfaces draw in ~20-30 ms
#: (benchmarks/bench_render3d.py), so software GL switches at 1 M voxels (about
#: 100^3); a GPU ray casts a full CT interactively, so it keeps the exact volume
#: view up to the size where the volume view is downsampled by 4 anyway.
AUTO_SURFACE_VOXELS = (1_000_000, 64_000_000)
#: Target voxel count of the label grid the view's surfaces are built from.
SURFACE_TARGET_VOXELS = 12_000_000
_SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software", "swiftshader", "gdi generic")


def software_gl(viewer: napari.viewer.Viewer | None) -> bool:
    """True when the viewer's OpenGL renderer is a software rasteriser (Mesa llvmpipe...).

    Unknown (no canvas, no context) counts as software, the cautious choice.
    """
    from .compat import gl_renderer

    renderer = gl_renderer(viewer) if viewer is not None else None
    if renderer is None:
        return True
    return any(k in renderer.lower() for k in _SOFTWARE_GL)


def auto_render_mode(shape: tuple[int, ...], software: bool = True) -> str:
    """``"surfaces"`` above :data:`AUTO_SURFACE_VOXELS` (software or GPU entry), else ``"volume"``."""
    limit = AUTO_SURFACE_VOXELS[0 if software else 1]
    return "surfaces" if int(np.prod(shape[:3])) > limit else "volume"


def surface_downsample(shape: tuple[int, ...], target_voxels: int = SURFACE_TARGET_VOXELS) -> int:
    """Smallest block size bringing ``shape`` to at most ``target_voxels`` (1, 2, 3...)."""
    n = float(np.prod(shape[:3]))
    return max(1, int(np.ceil((n / float(target_voxels)) ** (1.0 / 3.0) - 1e-9)))


def build_surfaces(
    labels_layer: "napari.layers.Labels",
    *,
    step_size: int = 1,
    smooth_iterations: int = 15,
    decimate: float = 0.0,
    label_values=None,
) -> list[SurfaceMesh]:
    """Meshes of the labels of a layer (RAS mm; ``label_values``, default all), on its stored-order view."""
    disk, affine = layer_disk_view(labels_layer)
    names = (labels_layer.metadata or {}).get("label_names")
    return label_surfaces(
        np.asarray(disk),
        affine,
        label_names=names,
        step_size=step_size,
        smooth_iterations=smooth_iterations,
        decimate=decimate,
        label_values=None if label_values is None else [int(v) for v in label_values],
    )


def view_surfaces(
    labels_layer: "napari.layers.Labels",
    *,
    target_voxels: int = SURFACE_TARGET_VOXELS,
    smooth_iterations: int = 5,
    decimate: float = 0.5,
    label_values=None,
) -> list[SurfaceMesh]:
    """Light meshes for the fast 3D view: block-downsampled labels, smoothed, decimated.

    The label grid is reduced by :func:`surface_downsample` blocks (anti-aliased
    fractions, see :func:`napari_liverct.display.mesh.mask_surface`) to about
    ``target_voxels``; ``decimate`` is skipped when ``fast-simplification`` is missing.
    """
    disk, affine = layer_disk_view(labels_layer)
    names = (labels_layer.metadata or {}).get("label_names")
    f = surface_downsample(disk.shape, target_voxels)
    try:
        import fast_simplification  # noqa: F401
    except ImportError:
        decimate = 0.0
    return label_surfaces(
        np.asarray(disk),
        affine,
        label_names=names,
        smooth_iterations=smooth_iterations,
        decimate=decimate,
        downsample=f,
        label_values=None if label_values is None else [int(v) for v in label_values],
    )


def _merge(meshes: list[SurfaceMesh], residual, colors: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    verts, faces, cols, offset = [], [], [], 0
    for m in meshes:
        v = m.world_vertices(residual)
        verts.append(v)
        # SurfaceMesh faces are wound outwards in RAS/LPS; listing the vertices in
        # napari's (S, P, L) order mirrors them, so reverse the winding to keep the
        # normals (hence the lighting) pointing outwards
        faces.append(np.asarray(m.faces)[:, ::-1] + offset)
        cols.append(np.tile(np.asarray(colors.get(m.label, m.color), float)[:4], (len(v), 1)))
        offset += len(v)
    return np.concatenate(verts), np.ascontiguousarray(np.concatenate(faces)), np.concatenate(cols)


def surface_layers(
    meshes: list[SurfaceMesh],
    residual=None,
    liver_opacity: float = 0.4,
    tumour_labels=(),
    prefix: str = "",
    colors: dict | None = None,
    merge: bool = False,
) -> list:
    """Napari Surface layers (world mm): lesions (``tumour_labels``) first and opaque, others translucent.

    ``merge=False``: one layer per mesh.  ``merge=True``: at most two layers, all
    lesion meshes in one and all other meshes in another, each vertex in its
    label's colour (``colors``: value -> RGBA, default the mesh's own), so a
    61-class map adds two layers, not 61.  A mesh is a lesion only when its
    value is in ``tumour_labels``; names are never guessed from.
    """
    from napari.layers import Surface

    tum = {int(t) for t in tumour_labels}
    colors = {int(k): v for k, v in (colors or {}).items()}
    groups = [(True, [m for m in meshes if m.label in tum]), (False, [m for m in meshes if m.label not in tum])]
    if not merge:
        groups = [(m.label in tum, [m]) for _t, ms in groups for m in ms]
    out = []
    for t, ms in groups:
        ms = [m for m in ms if len(m.faces)]
        if not ms:
            continue
        verts, faces, vcols = _merge(ms, residual, colors)
        if len(ms) == 1:
            name, label = ms[0].name, ms[0].label
        else:
            name, label = f"{len(ms)} {'lesion classes' if t else 'labels'}", None
        out.append(
            Surface(
                (verts, faces),
                name=f"{prefix}{name} surface",
                vertex_colors=vcols,
                shading="smooth",
                opacity=1.0 if t else float(liver_opacity),
                blending="opaque" if t else "translucent",
                metadata={
                    "label": label,
                    "labels": [m.label for m in ms],
                    "name": name,
                    "tumour": t,
                    OUTPUT_KEY: "view3d",
                },
            )
        )
    return out


def fix_surface_visual(viewer: napari.viewer.Viewer, layer, cull: bool = False) -> bool:
    """Light a Surface layer from the viewer's side and optionally cull its back faces.

    * With the patient orientation of :data:`PATIENT_ORIENTATION_3D` the layer
      transform is a mirror, and vispy's shading then uses the inward normal for
      the faces turned to the viewer (its normal follows the winding, which a
      mirror reverses on screen): napari's light (behind the camera, top right;
      its own TODO notes axis flips break it) left surfaces almost black and lit
      from behind.  The light is negated here so that they are lit from the front.
    * A translucent surface drawn with both faces is tinted once or twice
      depending on triangle order (blotchy); culling the far faces (``cull``)
      gives one even tint, like the first-hit volume rendering.

    napari has no public switch for either, so this goes through
    :func:`napari_liverct._napari.compat.install_surface_lighting`; returns False
    when the visual cannot be reached, the surface is then drawn with napari's defaults.
    """
    from .compat import install_surface_lighting

    return install_surface_lighting(
        viewer,
        layer,
        depth_flipped=lambda: _depth_flipped(viewer),
        cull=cull,
        camera=camera_of(viewer),
    )


def _depth_flipped(viewer) -> bool:
    orient = getattr(camera_of(viewer), "orientation", None)
    return bool(orient) and str(orient[0]) == "away"


def add_surface_layers(
    viewer: napari.viewer.Viewer,
    meshes: list[SurfaceMesh],
    residual=None,
    liver_opacity: float = 0.4,
    prefix: str = "",
    tumour_labels=(),
    colors: dict | None = None,
) -> list:
    """Add one napari Surface layer per mesh (vertices in world mm); lesions opaque, others translucent."""
    out = []
    for lay in surface_layers(
        meshes, residual, liver_opacity, tumour_labels=tumour_labels, prefix=prefix, colors=colors
    ):
        if lay.name in viewer.layers:
            viewer.layers.remove(lay.name)
        viewer.layers.append(lay)
        fix_surface_visual(viewer, lay, cull=not lay.metadata.get("tumour"))
        out.append(lay)
    return out
