"""A local dask cluster shared by the search tests (two single-threaded worker processes)."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def dask_address():
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


X = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}}}


@pytest.fixture
def plain(tmp_path, dask_address):
    """Keyword settings of a plain-objective study on the shared cluster."""
    return dict(space=X, store=str(tmp_path / "s.db"), scheduler=dask_address,
                check_fields=False, parallelism=2)
