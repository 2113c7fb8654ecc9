"""Catalog: bands are computed with the bands that share their dask chunk (no browser)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("panel")


class _Stack:
    """A data set of one image whose 7-band stack has band chunks (3, 4), like a DSTL stack's
    RGB and M groups; counts the chunk computations."""

    kind = "generic"
    classes = ()

    def __init__(self):
        self.computed: list[tuple[int, int]] = []

    def ids(self):
        return ["img"]

    def labelled_ids(self):
        return []

    def load_image(self, image_id):
        import dask.array as da
        import xarray as xr

        def group(lo, hi):
            def make():
                self.computed.append((lo, hi))
                return np.stack([np.full((4, 5), b, np.float32) for b in range(lo, hi)])

            import dask

            return da.from_delayed(dask.delayed(make)(), (hi - lo, 4, 5), np.float32)

        names = ["R", "G", "B", "M1", "M2", "M3", "M4"]
        return xr.DataArray(da.concatenate([group(0, 3), group(3, 7)]), dims=("band", "y", "x"),
                            coords={"band": names})


def test_a_band_brings_its_chunk_group_into_the_cache():
    from app.catalog import Catalog
    from app.settings import AppSettings

    cat = Catalog(AppSettings(data=()), max_layers=24)
    ds = _Stack()
    cat.add("s", ds)
    assert cat.layer("s", "img", "G")[0, 0] == 1
    assert ds.computed == [(0, 3)]
    for band, value in (("R", 0), ("B", 2)):  # same group: no computation
        assert cat.layer("s", "img", band)[0, 0] == value
    assert ds.computed == [(0, 3)]
    assert cat.layer("s", "img", "M3")[2, 4] == 5
    assert ds.computed == [(0, 3), (3, 7)]
    assert all(cat.layer("s", "img", f"M{k}")[0, 0] == 2 + k for k in range(1, 5))
    assert len(ds.computed) == 2
    # A group larger than half the cache: only the band asked for is kept.
    small = Catalog(AppSettings(data=()), max_layers=4)
    ds2 = _Stack()
    small.add("s", ds2)
    small.layer("s", "img", "M1")
    assert list(small._layers) == [("s", "img", "M1")]
