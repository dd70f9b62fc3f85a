"""One JSON cleaner and one value formatter for every output of the package.

:func:`json_safe` makes any result JSON-ready (strict JSON: no NaN); :func:`format_value`
turns one value into the text a table cell, a CSV cell or a caption shows.  File names
that are not valid UTF-8 are a separate, final step (:func:`napari_liverct.outputs.pathtext.text_safe`,
applied once by whoever writes the text, since it is not idempotent).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["json_safe", "format_value"]


def json_safe(value):
    """A JSON-ready copy of ``value`` (recursively).

    Typed results become their ``to_json()``, numpy scalars and arrays become Python numbers and lists, tuples become lists, dict keys
    become strings, and NaN and infinity become None (``json.dumps(..., allow_nan=False)``
    then holds).  Idempotent.
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if callable(getattr(value, "to_json", None)):  # a typed result (Anomaly, StatsResult...)
        return json_safe(value.to_json())
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_value(value, digits: int | None = None, *, none: str = "-", sep: str = ", ", nonfinite: str | None = None):
    """Text of one value for a table, a CSV file or a caption.

    Parameters
    ----------
    value
        A number, bool, string, None, or a list/tuple of them (joined with ``sep``).
    digits
        Decimals of a float; None writes it in full (``repr``, for CSV).
    none
        Text of None (``"-"`` in tables, ``""`` in CSV).
    nonfinite
        Text of NaN and infinity; None spells them ``nan``, ``inf``, ``-inf``.
    """
    if value is None:
        return none
    if isinstance(value, (list, tuple, np.ndarray)):
        return sep.join(format_value(v, digits, none=none, sep=sep, nonfinite=nonfinite) for v in value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            if nonfinite is not None:
                return nonfinite
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value) if digits is None else f"{value:.{digits}f}"
    return str(value)
