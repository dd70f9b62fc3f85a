"""Typed results' common parts: the anomaly, the JSON cleaner and value formatter."""
