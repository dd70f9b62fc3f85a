"""What the viewer and the report draw: CT windows and layer data, meshes, downsampled 3D volumes."""
