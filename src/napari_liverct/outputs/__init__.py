"""Outputs as units: files and folders (temp, fsync, rename), groups with a journal, the input guard, path text."""
