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


#: the image the shared `satseg auto` run of the sample never sees
AUTO_HELD_OUT = "tile_7/image_part_005"


@pytest.fixture(scope="session")
def sample_auto_run(tmp_path_factory):
    """One finished 3-minute ``satseg auto`` of the bundled sample (quick space, one image held
    out), run once per session through the command line (``satseg.cli.main``):
    ``(code, stdout, stderr, run folder)``. The run folder is ``<tmp>/auto-runs/e2e``, where the
    dashboard finds it as the run ``e2e``. Shared by the CLI's end-to-end test and the
    dashboard's, because the run is the slowest thing either needs."""
    import contextlib
    import io

    from satseg.cli import main

    out = tmp_path_factory.mktemp("auto") / "auto-runs" / "e2e"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["auto", "--data", "sample", "--budget", "3m", "--out", str(out),
                     "--exclude-ids", AUTO_HELD_OUT, "--space", "quick", "--no-progress"])
    return code, stdout.getvalue(), stderr.getvalue(), out
