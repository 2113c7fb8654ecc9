"""Fixtures of the search tests (the dask cluster, ``dask_address``, is in tests/conftest.py)."""

from __future__ import annotations

import pytest

X = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}}}


@pytest.fixture
def plain(tmp_path, dask_address):
    """Keyword settings of a plain-objective study on the shared cluster."""
    return dict(space=X, store=str(tmp_path / "s.db"), scheduler=dask_address,
                check_fields=False, parallelism=2)
