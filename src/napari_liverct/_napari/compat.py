"""Every use of napari or vispy private API in the plugin, in one place, behind guards.

napari gives plugin widgets a :class:`napari.utils._proxies.PublicOnlyProxy` of the
viewer, which warns (``FutureWarning: Private attribute access ('Window._qt_viewer')
... deprecated``) on any ``_name`` access made from plugin code.  The 3D view needs
three things napari has no public API for:

* the OpenGL renderer string (is rendering in software? -> surfaces mode), read
  from the viewer's vispy canvas;
* the vispy visual of a Surface layer, to light it from the viewer's side and to
  cull back faces (napari's lighting breaks with a mirrored depth axis);
* the viewer's Qt main window, only to measure/grab it in tests and docs (the
  public ``viewer.window.screenshot`` is used where it suffices).

Each helper unwraps the proxy (``__wrapped__``, wrapt's documented attribute),
tries the attribute names of the napari versions we know, and returns None when
none works, so a napari release that renames them degrades the feature instead
of breaking the plugin.  No other module may touch a ``_private`` napari/vispy
attribute (``tests/test_house.py`` greps for it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "NAPARI_VERSION",
    "camera_of",
    "unwrap",
    "qt_viewer",
    "qt_main_window",
    "scene_canvas",
    "layer_visual",
    "gl_renderer",
    "install_surface_lighting",
    "layer_kind",
]


def _version_tuple(text: str) -> tuple[int, ...]:
    out = []
    for part in str(text).split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def _napari_version() -> tuple[int, ...]:
    try:
        import napari

        return _version_tuple(napari.__version__)
    except Exception:  # noqa: BLE001 - napari missing or broken: no GUI anyway
        return (0, 0, 0)


#: napari's version as a tuple, e.g. ``(0, 9, 2)``.
NAPARI_VERSION = _napari_version()


def unwrap(obj: Any) -> Any:
    """The object behind napari's PublicOnlyProxy (and nested proxies); others unchanged."""
    seen = 0
    while seen < 8:
        try:
            inner = object.__getattribute__(obj, "__wrapped__")
        except AttributeError:
            return obj
        obj, seen = inner, seen + 1
    return obj


def qt_viewer(viewer: Any) -> Any | None:
    """The viewer's QtViewer, or None (no window, or an unknown napari)."""
    window = getattr(unwrap(viewer), "window", None)
    if window is None:
        return None
    # napari >= 0.5 keeps it private; 0.4.x had the public (later deprecated) name
    names = ("_qt_viewer",) if NAPARI_VERSION >= (0, 5) else ("_qt_viewer", "qt_viewer")
    for name in names:
        qv = getattr(window, name, None)
        if qv is not None:
            return qv
    return None


def qt_main_window(viewer: Any) -> Any | None:
    """The viewer's Qt main window (a QMainWindow), or None."""
    window = getattr(unwrap(viewer), "window", None)
    return getattr(window, "_qt_window", None) if window is not None else None


def scene_canvas(viewer: Any) -> Any | None:
    """The vispy SceneCanvas the viewer draws into, or None."""
    qv = qt_viewer(viewer)
    canvas = getattr(qv, "canvas", None)
    if canvas is None:
        return None
    # napari >= 0.4.19 wraps the vispy canvas in its own VispyCanvas
    return getattr(canvas, "_scene_canvas", canvas)


def layer_visual(viewer: Any, layer: Any) -> Any | None:
    """napari's vispy visual wrapper of ``layer`` (``VispySurfaceLayer``...), or None."""
    qv = qt_viewer(viewer)
    canvas = getattr(qv, "canvas", None)
    mapping = getattr(canvas, "layer_to_visual", None)
    if mapping is None:
        mapping = getattr(qv, "layer_to_visual", None)  # napari < 0.4.19
    if mapping is None:
        return None
    try:
        return mapping[unwrap(layer)]
    except (KeyError, TypeError):
        return None


def gl_renderer(viewer: Any) -> str | None:
    """``GL_RENDERER`` of the viewer's OpenGL context (e.g. ``"llvmpipe (LLVM 15...)"``), or None."""
    canvas = scene_canvas(viewer)
    if canvas is None:
        return None
    try:
        from vispy.gloo import gl

        canvas.set_current()
        return str(gl.glGetParameter(gl.GL_RENDERER))
    except Exception:  # noqa: BLE001 - no context yet, GL error: cannot tell
        return None


def install_surface_lighting(viewer: Any, layer: Any, *, depth_flipped, cull: bool = False, camera=None) -> bool:
    """Light a Surface layer from the viewer's side and optionally cull its far faces.

    napari's vispy surface lights along the view direction in a frame that a
    mirrored layer transform (our depth-axis flip) reverses, which leaves surfaces
    lit from behind; this replaces the visual's view-direction handler (private
    ``_on_view_direction_change``, ``_light_direction``, ``_on_blending_change``
    of napari's ``VispySurfaceLayer``) with one that negates the light when
    ``depth_flipped()`` is true, and culls the far faces of translucent surfaces.

    Returns False, leaving napari's defaults, when the visual or any of these
    attributes is missing (another napari version).
    """
    visual = layer_visual(viewer, layer)
    needed = ("_on_view_direction_change", "_on_blending_change", "_light_direction", "node")
    if visual is None or not all(hasattr(visual, n) for n in needed):
        return False
    node = visual.node
    original_light, original_blending = visual._on_view_direction_change, visual._on_blending_change

    def cull_mode() -> str:
        # faces are wound outwards; the depth-axis flip mirrors the screen, so the
        # faces turned towards the viewer wind clockwise and GL's "front"
        # (counter-clockwise) faces are the far ones
        return "front" if depth_flipped() else "back"

    def light(view=None, up=None):
        if view is not None and up is not None:
            view, up = np.asarray(view, float), np.asarray(up, float)
            sign = -1.0 if depth_flipped() else 1.0
            visual._light_direction = sign * (up - view + np.cross(up, view))
            if cull:  # the orientation may have changed since the last call
                node.update_gl_state(cull_face=cull_mode())
        original_light()

    def blending(event=None):  # napari resets the whole GL state on reorder
        original_blending(event)
        if cull:
            node.update_gl_state(cull_face=cull_mode())
            node.update()

    visual._on_view_direction_change, visual._on_blending_change = light, blending
    if cull:
        unwrap(layer).events.blending.connect(blending)
    if camera is not None:
        light(np.asarray(camera.view_direction, float)[::-1], np.asarray(camera.up_direction, float)[::-1])
    blending()
    return True


def layer_kind(layer: Any) -> str:
    """``"image"``, ``"labels"``, ``"points"``... of a layer without its private ``_type_string``."""
    from napari.layers import Layer

    for cls in type(unwrap(layer)).__mro__:
        if cls.__module__.startswith("napari.layers") and issubclass(cls, Layer) and cls is not Layer:
            return cls.__name__.lower()
    return type(layer).__name__.lower()


def camera_of(viewer):
    """The viewer's camera (``viewer.scene.camera`` in napari >= 0.9, else ``viewer.camera``)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def add_without_selecting(viewer: Any, layer: Any) -> Any:
    """Add ``layer`` to the viewer leaving the user's layer selection (and active layer) as it was.

    napari makes every inserted layer the active one (``SelectableEventedList``'s
    private ``_activate_on_insert``); a marker the plugin places must not switch the
    layer controls under the user.  Restoring the selection afterwards is no
    alternative: in 3D, before the mouse has moved, napari 0.9 fails computing the
    cursor status of a re-activated Labels layer.
    """
    layers = unwrap(viewer.layers)
    flag = getattr(layers, "_activate_on_insert", None)
    if flag is None:  # another napari: fall back to the public path
        viewer.layers.append(layer)
        return layer
    layers._activate_on_insert = False
    try:
        layers.append(layer)
    finally:
        layers._activate_on_insert = flag
    return layer
