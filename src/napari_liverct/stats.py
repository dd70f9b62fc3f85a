"""Per-label and per-lesion statistics in physical units (pure numpy / cc3d)."""

from __future__ import annotations

import numpy as np

__all__ = ["lesion_components"]


def lesion_components(labels: np.ndarray, label: int = 2, connectivity: int = 26) -> tuple[np.ndarray, int]:
    """Connected components of one label value.

    Parameters
    ----------
    labels
        Integer label volume (3D).
    label
        The label value whose components are wanted (2 = tumour in MSD liver).
    connectivity
        26 (faces, edges, corners) or 6 (faces only).

    Returns
    -------
    (components, n)
        uint32 volume with 1..n per component (0 elsewhere) and the count n.
        Component ids follow cc3d's raster order of the array as given.
    """
    import cc3d

    if connectivity not in (6, 26):
        raise ValueError(f"connectivity must be 6 or 26, not {connectivity}")
    mask = np.asarray(labels) == label
    cc, n = cc3d.connected_components(mask, connectivity=connectivity, return_N=True)
    return cc, int(n)
