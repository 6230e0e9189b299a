"""Executors run the shards of a plan: `LocalExecutor` in this process, `DaskExecutor` on a Dask cluster."""
