"""JSON documents compared without their timings."""

from __future__ import annotations


def no_seconds(obj):
    """``obj`` with every ``"seconds"`` key removed, at any depth."""
    if isinstance(obj, dict):
        return {k: no_seconds(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [no_seconds(v) for v in obj]
    return obj
