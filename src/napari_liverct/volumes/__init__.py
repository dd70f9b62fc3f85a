"""Volumes from files of every supported format, as one type.

* :mod:`.volume`: the type (:class:`~.volume.Volume`) and the header summary of a
  non-NIfTI file (:class:`~.volume.HeaderSummary`);
* :mod:`.dispatch`: :func:`~.dispatch.read_volume`, the one reader every command calls;
* :mod:`.dicom`: DICOM series (pydicom); :mod:`.itk`: NRRD and MetaImage (SimpleITK);
* :mod:`.seg`: DICOM Segmentation objects, written and read with highdicom.

Nothing is imported here, so :mod:`napari_liverct.volumes.nifti` can import the type without
pulling in the readers.
"""
