"""pymirc's zoom3d, transcribed loop for loop as the oracle of napari_liverct.segment.zoom.

Source: gschramm/pymirc, ``pymirc/image_operations/zoom3d.py`` (commit 19b2a57a9c9daafecc92
10d36ab0370c8e5b9602), the ``upsample_3d_*`` / ``downsample_3d_*`` numba kernels and
``zoom3d`` that pyliverlesionseg 0.3 calls as ``pi.zoom3d``.  Only ``@njit``/``prange`` are
dropped (plain Python loops); the arithmetic is unchanged.  Used on small arrays only.
"""

import math

import numpy as np


def _up(array, zoom, cval, axis):
    a = np.moveaxis(array, axis, 0)
    delta = 1.0 / zoom
    nb, n1, n2 = a.shape
    ns = math.ceil(nb / delta)
    new_array = np.zeros((ns, n1, n2))
    if cval != 0:
        new_array += cval
    for j in range(n1):
        for i in range(ns):
            for k in range(n2):
                ib_c = delta * (i - 0.5 * ns + 0.5) + 0.5 * nb - 0.5
                fl_l = math.floor(ib_c)
                fl_r = fl_l + 1
                if fl_l >= 0:
                    x = a[fl_l, j, k] * (fl_r - ib_c)
                else:
                    x = cval
                if fl_r < nb:
                    y = a[fl_r, j, k] * (ib_c - fl_l)
                else:
                    y = cval
                new_array[i, j, k] = x + y
    return np.moveaxis(new_array, 0, axis)


def _down(array, zoom, cval, axis):
    a = np.moveaxis(array, axis, 0)
    delta = 1.0 / zoom
    ns, n1, n2 = a.shape
    nb = math.ceil(ns / delta)
    new_array = np.zeros((nb, n1, n2))
    if cval != 0:
        new_array += cval
    for j in range(n1):
        for i in range(ns):
            for k in range(n2):
                ib_l = (1.0 / delta) * (i - 0.5 * ns) + 0.5 * nb
                ib_r = (1.0 / delta) * (i + 1 - 0.5 * ns) + 0.5 * nb
                left_bin = math.floor(ib_l)
                right_bin = math.ceil(ib_r) - 1
                if left_bin == right_bin:
                    new_array[left_bin, j, k] += a[i, j, k] / delta
                else:
                    c = math.ceil(ib_l)
                    new_array[left_bin, j, k] += a[i, j, k] * (c - ib_l)
                    new_array[right_bin, j, k] += a[i, j, k] * (ib_r - c)
    return np.moveaxis(new_array, 0, axis)


def zoom3d(vol, zoom, cval=0):
    if not isinstance(zoom, (list, tuple, np.ndarray)):
        zoom = 3 * [zoom]
    for axis in range(3):
        if zoom[axis] > 1:
            vol = _up(vol, zoom[axis], cval, axis)
        elif zoom[axis] < 1:
            vol = _down(vol, zoom[axis], cval, axis)
    return vol
