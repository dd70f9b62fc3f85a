"""The one JSON cleaner and the one value formatter, against json/numpy/str themselves."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from napari_liverct.results.values import format_value, json_safe


def test_json_safe_gives_strict_json_with_python_numbers():
    value = {
        1: np.float32(2.5),
        "nan": float("nan"),
        "inf": np.float64(-np.inf),
        "arr": np.arange(3, dtype=np.int16),
        "tuple": (np.int64(7), None, "x"),
        "nested": [{"b": np.bool_(True)}],
    }
    out = json_safe(value)
    assert out == {
        "1": 2.5,
        "nan": None,
        "inf": None,
        "arr": [0, 1, 2],
        "tuple": [7, None, "x"],
        "nested": [{"b": True}],
    }
    assert type(out["arr"][0]) is int and type(out["nested"][0]["b"]) is bool
    text = json.dumps(out, allow_nan=False)  # raises on any NaN or numpy type left
    assert json.loads(text) == out
    assert json_safe(out) == out  # idempotent: safe to apply at every level


@pytest.mark.parametrize("v", [0.1, 1 / 3, 12345.678901, -2.5e-7])
def test_format_value_floats(v):
    assert format_value(v, 2) == f"{v:.2f}"
    assert format_value(v) == repr(v)  # full precision (CSV)
    assert float(format_value(v)) == v
    assert format_value(np.float32(v), 3) == f"{float(np.float32(v)):.3f}"


def test_format_value_none_nonfinite_lists_and_others():
    assert format_value(None) == "-" and format_value(None, none="") == ""
    assert [format_value(x) for x in (math.nan, math.inf, -math.inf)] == ["nan", "inf", "-inf"]
    assert format_value(math.nan, 1, nonfinite="-") == "-"
    assert format_value([1.0, 2.25, 3], 1, sep=" × ") == "1.0 × 2.2 × 3"  # Python's round-half-even, as f-strings
    assert format_value((4, 5)) == "4, 5"
    assert format_value(np.int64(7)) == "7" and format_value("liver") == "liver" and format_value(True) == "True"


def test_json_safe_writes_typed_results_by_their_to_json():
    from napari_liverct.results.anomaly import Anomaly
    from napari_liverct.stats import stats_on_grid

    a = Anomaly("liver_2", "orientation", "orientation LPS, most cases are RAS")
    assert json_safe([a]) == [
        {"case": "liver_2", "kind": "orientation", "message": "orientation LPS, most cases are RAS"}
    ]
    lab = np.zeros((4, 4, 4), np.uint8)
    lab[1:3, 1:3, 1:3] = 1
    res = stats_on_grid(np.full((4, 4, 4), np.nan, np.float32), lab, np.eye(4))
    out = json_safe({"stats": res})
    assert out["stats"]["labels"][0]["voxels"] == 8 and out["stats"]["labels"][0]["mean"] is None  # NaN -> null
    assert json.loads(json.dumps(out, allow_nan=False)) == out
