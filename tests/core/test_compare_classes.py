"""Class naming rules of the comparison (napari_liverct.compare.classes)."""

from __future__ import annotations

from napari_liverct.compare.classes import suggest_map


def test_suggest_map_from_names():
    assert suggest_map({1: "liver", 2: "liver tumour"}, {5: "Liver", 6: "liver_tumour"}) == ["5:1", "6:2"]
    assert suggest_map({1: "liver", 2: "tumour"}, {1: "liver", 2: "tumour"}) == []
    assert suggest_map({1: "liver"}, {1: "label 1"}) == []
