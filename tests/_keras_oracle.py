"""Run pyliverlesionseg's own Keras network on a fixed input (oracle for test_segment_keras).

Executed inside a separate virtual environment with TensorFlow 2.15 (Keras 2 behaviour):
``python _keras_oracle.py WHEEL_DIR MODEL IN.npy OUT.npy [MODEL IN.npy OUT.npy ...]``.  The network is built by the
package's own ``create_unet_like_model`` (``architectures/unet_generalized.py``, loaded from
the unpacked wheel, unchanged) with the arguments of ``unet_liver_predict`` /
``unet_lesion_predict``, and ``model.load_weights`` reads the wheel's HDF5 file as the
package does.  The Keras 2.2 import paths the builder uses are mapped onto ``tf.keras``.
"""

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np


def _shim_keras():
    import tensorflow as tf

    k = tf.keras
    mods = {
        "keras": types.ModuleType("keras"),
        "keras.models": k.models,
        "keras.layers": k.layers,
        "keras.layers.convolutional": k.layers,
        "keras.layers.advanced_activations": k.layers,
        "keras.layers.normalization": k.layers,
        "keras.regularizers": k.regularizers,
        "keras.backend": k.backend,
    }
    mods["keras"].regularizers = k.regularizers
    mods["keras"].backend = k.backend
    sys.modules.update(mods)


def main(wheel_dir, *jobs):
    _shim_keras()
    nets = {}
    for k in range(0, len(jobs), 3):
        model, src, dst = jobs[k : k + 3]
        if model not in nets:
            nets[model] = build(wheel_dir, model)
        x = np.load(src).astype(np.float32)  # (X, Y, Z) in the network's axes
        y = nets[model].predict(x[None, ..., None], batch_size=1, verbose=0)
        np.save(dst, np.asarray(y[0, ..., 0], dtype=np.float32))


def build(wheel_dir, model):
    pkg = Path(wheel_dir) / "pyliverlesionseg"
    spec = importlib.util.spec_from_file_location("unet_generalized", pkg / "architectures" / "unet_generalized.py")
    ug = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ug)
    common = dict(
        number_input_features=1,
        number_features_per_pathway=[
            [[20, 40], [40, 20]],
            [[40, 80], [80, 40]],
            [[80, 160], [160, 80]],
            [[160, 160], []],
        ],
        mask_output=False,
        l2_reg=1e-5,
        verbose=False,
    )
    if model == "liver":  # unet_liver_predict
        net = ug.create_unet_like_model(
            subsample_factors_per_pathway=[(1, 1, 1), (3, 3, 3), (9, 9, 9), (27, 27, 27)],
            kernel_sizes_per_pathway=[
                [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
                [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
                [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
                [[(3, 3, 3), (3, 3, 3)], []],
            ],
            output_size=[163, 136, 136],
            padding="same",
            upsampling="linear",
            **common,
        )
        fname = "model_unet_ct_mr_liv_seg_resize_1.5mm_med_3_resize_3mm_20201011_dice_loss_val_binary_dice_mean.hdf5"
    else:  # unet_lesion_predict
        net = ug.create_unet_like_model(
            subsample_factors_per_pathway=[(1, 1, 1), (2, 2, 2), (4, 4, 4), (8, 8, 8)],
            kernel_sizes_per_pathway=[
                [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
                [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
                [[(3, 3, 1), (3, 3, 3)], [(3, 3, 3), (3, 3, 1)]],
                [[(3, 3, 1), (3, 3, 3)], []],
            ],
            output_size=[92, 84, 42],
            padding="valid",
            upsampling="copy",
            residual_connections=True,
            **common,
        )
        fname = "model_unet_ct_mr_lesion_seg_resize_1mm_1mm_3mm_20220207_dice_loss_val_binary_dice_mean.hdf5"
    net.load_weights(str(pkg / "trained_models" / fname))
    return net


if __name__ == "__main__":
    main(*sys.argv[1:])
