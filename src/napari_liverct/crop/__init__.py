"""Cropping: MONAI CropForeground semantics, the crop plan, the MONAI pipeline."""
