"""House rules that hold for the whole package (static checks, no viewer)."""

from __future__ import annotations


def test_no_module_but_the_compat_one_touches_napari_privates():
    from pathlib import Path

    import napari_liverct

    root = Path(napari_liverct.__file__).parent
    bad = []
    for path in root.rglob("*.py"):
        if path.relative_to(root).as_posix() == "_napari/compat.py":
            continue
        text = path.read_text()
        for needle in (
            "_qt_viewer",
            "_qt_window",
            "_scene_canvas",
            "layer_to_visual",
            "_type_string",
            "_light_direction",
            "__wrapped__",
        ):
            if needle in text:
                bad.append(f"{path.name}: {needle}")
    assert bad == []
