"""The one Dask task runner."""
