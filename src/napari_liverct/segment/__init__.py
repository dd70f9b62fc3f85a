"""Offline draft segmentation of the liver and liver lesions on a CPU (issue 17)."""
