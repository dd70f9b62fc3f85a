"""Dataset survey (nnU-Net's "fingerprint"): one task per case, run on Dask.

:func:`survey_case` is a plain, picklable function that reads one case from disk
(given its paths only) and returns a JSON-friendly row plus a sample of foreground
intensities.  :func:`iter_survey` submits it once per case through a
``dask.distributed`` client, to a local cluster of worker processes by default or
to an existing scheduler (``scheduler="tcp://host:8786"``), and yields rows as they
finish; :func:`survey` adds a progress bar and the dataset summary and anomalies of
:mod:`napari_liverct.survey.summary`.  Remote workers need this package installed
and the case paths visible under the same names.  A script that runs the survey on
local worker processes needs the usual ``if __name__ == "__main__":`` guard, since
Dask starts its workers with multiprocessing "spawn" (the ``napari-liverct`` command
and napari itself have it).

Foreground intensities follow nnU-Net v2: the per-case percentiles (0.5, 50, 99.5),
mean, std, min and max use *all* voxels with ``labels > 0``; for the dataset-wide
percentiles each case contributes ``n_samples`` (10000) foreground values drawn with
replacement by a generator seeded with ``seed`` (1234), so every case weighs the
same and the result does not depend on the order in which tasks finish.  They are
computed whenever image and labels have the same shape (voxel correspondence, as
nnU-Net does), even when their affines differ — that case is flagged
``grid_mismatch`` by the summary.

Where things are: :mod:`.fingerprint` (one case), :mod:`.run` (the dataset on Dask),
:mod:`.summary` (dataset summary and anomalies); the Dask client and collect loop are
:mod:`napari_liverct.parallel.tasks`.  No napari, Qt, torch or MONAI import here.
"""

from __future__ import annotations

from ..parallel.tasks import dask_client, drain
from .case import SurveyCase
from .fingerprint import GRID_ATOL, N_SAMPLES, SEED, survey_case
from .run import dataset_block, dataset_report, iter_survey, survey, survey_dataset

__all__ = [
    "dask_client",
    "drain",
    "survey_case",
    "SurveyCase",
    "iter_survey",
    "survey",
    "survey_dataset",
    "dataset_report",
    "dataset_block",
    "GRID_ATOL",
    "N_SAMPLES",
    "SEED",
]
