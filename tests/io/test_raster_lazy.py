"""A raster that fails only when its pixels are read (truncated strips) raises RasterReadError
naming the file from whichever dask chunk meets the damage: local threads or a real cluster."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from satseg.errors import RasterReadError, SatsegError
from satseg.io import load_raster
from tests.io import makers


@pytest.fixture
def truncated(tmp_path):
    rng = np.random.default_rng(0)
    path = makers.write_tif(tmp_path / "big.tif", rng.integers(1, 999, (2, 256, 256), np.uint16),
                            crs=makers.CRS)  # fmt: skip
    good = load_raster(path).values
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path, good


def test_lazy_read_failure_names_the_file(truncated):
    path, _ = truncated
    arr = load_raster(path, chunks={"y": 64, "x": 256})  # the header is intact: opening works
    assert arr.data.numblocks == (1, 4, 1)
    assert np.isfinite(arr[:, :64].values).all()  # the first strip block is whole
    with pytest.raises(RasterReadError) as err:
        arr.compute()
    msg = str(err.value)
    assert isinstance(err.value, SatsegError) and "\n" not in msg
    assert str(path) in msg and "truncated or corrupt" in msg and "rows " in msg
    assert "See previous exception" not in msg


def test_good_file_reads_the_same_as_before(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.integers(10, 999, (3, 40, 50), np.uint16)
    img[:, 0, 0] = 7
    path = makers.write_tif(tmp_path / "g.tif", img, crs=makers.CRS, nodata=7)
    arr = load_raster(path, chunks={"y": 16, "x": 16})
    vals = arr.values
    assert vals.dtype == np.float32 and np.isnan(vals[:, 0, 0]).all()
    np.testing.assert_array_equal(vals[:, 1:], img[:, 1:].astype(np.float32))
    assert arr.rio.crs is not None and arr.attrs["source"] == str(path)
    # an explicit nodata replaces the file's own tag
    assert np.isfinite(load_raster(path, nodata=999).values[:, 0, 0]).all()
    # the lazy array pickles (dask ships it to workers)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(arr)).values, vals)


def test_failure_on_a_dask_cluster(truncated, dask_address):
    from distributed import Client

    path, _ = truncated
    arr = load_raster(path, chunks={"y": 64, "x": 256})
    with Client(dask_address) as client, pytest.raises(RasterReadError) as err:
        client.compute(arr.data.sum()).result()
    assert str(path) in str(err.value)
