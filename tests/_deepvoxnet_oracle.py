"""pyliverlesionseg 0.3's patch sampling and tile stitching, transcribed as a test oracle.

Source: pyliverlesionseg 0.3 (Apache-2.0), ``general.DeepVoxNet.predict`` (the loop over
``x/y/z_starts_at_I_resolution`` that samples, predicts and writes ``outputs_fill``) and
``sampling/samplecreator.ExtractSegment3D2.get_sample``, for one 1-channel input, one output
layer at the input's resolution (scale 1, as both networks have), batch size 1, no ROI.
``model`` is any function from an input patch to an output patch.  The NaN fill of voxels
no tile covers (``distance_transform_edt`` nearest) is kept.
"""

import math

import numpy as np
from scipy import ndimage


def extract_segment_3d2(I, coordinates, segment_size, default_value=0):
    """ExtractSegment3D2.get_sample for a 3D array (subsample factor 1, mask False)."""
    I = I[..., None]
    S_size = tuple(segment_size) + (I.shape[-1],)
    S = default_value * np.ones(S_size, dtype=np.float32)
    idx_I = [slice(None)] * I.ndim
    idx_S = [slice(None)] * S.ndim
    for i, (d_I, d_S, c, s_f) in enumerate(zip(I.shape[:-1], S_size[:-1], coordinates, (1, 1, 1))):
        n_left_I = c
        n_right_I = d_I - c - 1
        n_left_S = d_S // 2
        n_right_S = d_S // 2
        if d_S % 2 == 0:
            n_right_S -= 1
        if n_left_I < n_left_S * s_f:
            n = n_left_I // s_f
            start_S = d_S // 2 - n
            start_I = c - n * s_f
        else:
            start_S = 0
            start_I = c - n_left_S * s_f
        if n_right_I < n_right_S * s_f:
            n = n_right_I // s_f
            end_S = d_S // 2 + n
            end_I = c + n * s_f
        else:
            end_S = d_S - 1
            end_I = c + n_right_S * s_f
        idx_I[i] = slice(start_I, end_I + 1, s_f)
        idx_S[i] = slice(start_S, end_S + 1)
    S[tuple(idx_S)] = I[tuple(idx_I)]
    return S[..., 0]


def predict(I, model, input_shape, output_size, center_sampling):
    """DeepVoxNet.predict (see the module docstring for the fixed parameters)."""
    main_input_shape = list(input_shape)
    I_size = I.shape
    I_fill_resolution = [1, 1, 1]
    rel = [1, 1, 1]
    out_fill_size = [(o - 1) + 1 for o in output_size]
    I_fill_size = [int((s - 1) / r) + 1 for s, r in zip(I_size, I_fill_resolution)]
    outputs_fill = np.full(I_fill_size, np.nan)
    seg = list(I_size)
    if not center_sampling:
        for i, (_s, o) in enumerate(zip(I_size, output_size)):
            o_at_I = 1 * (o - 1) + 1
            if o_at_I < seg[i]:
                seg[i] = math.floor(o_at_I)

    def starts(n, s):
        return range(0, n, s) if not n % s else [*range(0, n, s), n - s]

    xs, ys, zs = (starts(I_size[a], seg[a]) for a in range(3))
    for x in xs:
        for y in ys:
            for z in zs:
                centre, fill_sl, res_sl = [], [], []
                for a, st in enumerate((x, y, z)):
                    samp = math.ceil(st + (seg[a] - 1) / 2)
                    real = samp if main_input_shape[a] % 2 else samp - 0.5
                    c_fill = real / I_fill_resolution[a]
                    s_fill = c_fill - (out_fill_size[a] - 1) / 2
                    e_fill = c_fill + (out_fill_size[a] - 1) / 2
                    under = max(0, -1 * s_fill)
                    over = max(0, e_fill - (I_fill_size[a] - 1))
                    s_sl = s_fill + math.ceil(under / rel[a]) * rel[a]
                    e_sl = e_fill - math.ceil(over / rel[a]) * rel[a]
                    centre.append(samp)
                    fill_sl.append(slice(round(s_sl - 1e-7), round(e_sl + 1 - 1e-7), rel[a]))
                    res_sl.append(slice(math.ceil(under / rel[a]), -1 * math.ceil(over / rel[a]) or None))
                sample = extract_segment_3d2(I, centre, input_shape)
                y_b = model(sample)
                outputs_fill[tuple(fill_sl)] = y_b[tuple(res_sl)]
    if np.isnan(outputs_fill).any():
        outputs_fill = outputs_fill[
            tuple(ndimage.distance_transform_edt(np.isnan(outputs_fill), return_distances=False, return_indices=True))
        ]
    return outputs_fill
