"""Dataset folders (MSD / nnU-Net): their cases and dataset.json."""
