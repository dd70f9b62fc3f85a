"""File > Save of a layer never writes over the file another layer was read from (issue 23)."""

from __future__ import annotations

import hashlib
import os

import pytest

from napari_liverct._napari.layer_utils import layer_meta
from napari_liverct.io.writer import write_single_layer
from napari_liverct.outputs.guard import OutputClashError


def test_saving_labels_over_the_image_file_is_refused(make_napari_viewer, phantom_files, tmp_path):
    img, lab = phantom_files
    viewer = make_napari_viewer()
    viewer.open(str(img), plugin="napari-liverct")  # the CT and its paired labels
    labels = viewer.layers["liver_label"]
    before = hashlib.sha256(img.read_bytes()).hexdigest()
    link = tmp_path / "ct_link.nii.gz"
    os.link(img, link)
    for target in (img, link):  # by its name and through a hard link
        # napari's save reports the writer's refusal and writes nothing
        assert labels.save(str(target), plugin="napari-liverct") == []
        with pytest.raises(OutputClashError, match="refusing to write .*: it is the input"):
            write_single_layer(str(target), labels.data, layer_meta(labels))
    assert hashlib.sha256(img.read_bytes()).hexdigest() == before
    out = tmp_path / "edited_label.nii.gz"  # any other name is written
    assert labels.save(str(out), plugin="napari-liverct") == [str(out)]
