"""Shared fixtures. Area-specific fixtures live in the conftest.py of each test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The real data set beside the checkout (../shared/data); SATSEG_SHARED_DATA overrides.
SHARED_DATA = Path(os.environ.get("SATSEG_SHARED_DATA", REPO.parent / "shared" / "data"))
DUBAI = SHARED_DATA / "dubai-aerial"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def dubai_path() -> Path:
    """The real Dubai aerial data set; the test is skipped (with the reason) where it is absent."""
    if not DUBAI.is_dir():
        pytest.skip(f"real Dubai data not found at {DUBAI} (set SATSEG_SHARED_DATA)")
    return DUBAI


@pytest.fixture(scope="session")
def dask_address():
    """A local dask cluster shared by the search and dashboard tests: two single-threaded
    worker processes, started on first use and closed at the end of the session."""
    import logging

    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
