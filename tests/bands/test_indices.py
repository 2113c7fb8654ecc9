"""Spectral indices: hand-computed values, bounds (Hypothesis), roles, variants, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from satseg.bands import add_indices, compute_index, get_sensor, list_indices, valid_mask
from satseg.errors import BandMismatchError, ConfigError


def stack_of(sensor: str, values: dict[str, float], shape=(2, 3)) -> xr.DataArray:
    spec = get_sensor(sensor)
    names = list(spec.band_names)
    data = np.stack([np.full(shape, values.get(n, 100.0), np.float32) for n in names])
    maxv = [g.max_value for g in spec.groups for _ in g.bands]
    return xr.DataArray(
        data,
        dims=("band", "y", "x"),
        coords={
            "band": names,
            "wavelength": ("band", [b.wavelength for b in spec.bands]),
            "max_value": ("band", maxv),
        },  # fmt: skip
    )


# DSTL: R=400, G=500, B=300, M6 (red edge)=900, M7 (NIR1, nearest 842 nm)=1600
DSTL = {"R": 400, "G": 500, "B": 300, "M6": 900, "M7": 1600, "M5": 999, "M8": 1234}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ndvi", (1600 - 400) / (1600 + 400)),
        ("ndwi", (500 - 1600) / (500 + 1600)),
        ("ndre", (1600 - 900) / (1600 + 900)),
        ("ccci", ((1600 - 900) / (1600 + 900)) / ((1600 - 400) / (1600 + 400))),
        ("savi", 1.5 * (1600 - 400) / 2047 / ((1600 + 400) / 2047 + 0.5)),
        ("evi", 2.5 * (1600 - 400) / 2047 / ((1600 + 6 * 400 - 7.5 * 300) / 2047 + 1)),
    ],
)
def test_literature_values_by_hand(name, expected):
    out = compute_index(stack_of("worldview3", DSTL), name)
    assert out.dims == ("y", "x") and out.dtype == np.float32
    np.testing.assert_allclose(out.values, expected, rtol=1e-5)


def test_dstl3rd_variants_differ_as_published():
    s = stack_of("worldview3", DSTL)
    ndvi = (1600 - 400) / 2000
    ndre = (1600 - 900) / 2500
    np.testing.assert_allclose(compute_index(s, "savi", "dstl3rd").values, ndvi, rtol=1e-6)
    np.testing.assert_allclose(compute_index(s, "ccci", "dstl3rd").values, ndre * ndvi, rtol=1e-6)
    evi3 = (1600 - 400) / (1600 + 6 * 400 - 7.5 * 300 + 1)  # raw values, no 2.5 gain
    np.testing.assert_allclose(compute_index(s, "evi", "dstl3rd").values, evi3, rtol=1e-6)


def test_scale_argument_overrides_max_value():
    s = stack_of("worldview3", DSTL)
    got = compute_index(s, "savi", scale=4000.0).values
    np.testing.assert_allclose(got, 1.5 * 0.3 / (0.5 + 0.5), rtol=1e-5)


def test_landsat_and_rgb_roles():
    land = stack_of("landsat8", {"red": 0.1, "nir": 0.5, "green": 0.2})
    np.testing.assert_allclose(compute_index(land, "ndvi").values, 0.4 / 0.6, rtol=1e-6)
    assert "ndre" not in list_indices(land) and "ndvi" in list_indices(land)
    rgb = stack_of("rgb", {})
    assert list_indices(rgb) == []
    with pytest.raises(BandMismatchError, match=r"index 'ndvi' needs a nir band"):
        compute_index(rgb, "ndvi")
    with pytest.raises(BandMismatchError, match="'ndre' needs a red_edge band"):
        compute_index(land, "ndre")


def test_zero_guard_gives_nan_not_inf():
    s = stack_of("worldview3", {"R": 0, "M7": 0})
    out = compute_index(s, "ndvi").values
    assert np.isnan(out).all()


def test_add_indices_appends_named_bands_lazily():
    s = stack_of("worldview3", DSTL).chunk({"y": 1})
    out = add_indices(s, ["ndvi", "ndwi"])
    assert list(out.band.values[-2:]) == ["ndvi", "ndwi"] and out.sizes["band"] == 22
    assert np.isnan(out.wavelength.values[-1]) and out.chunks is not None
    np.testing.assert_allclose(out.sel(band="ndvi").values, 0.6, rtol=1e-6)
    with pytest.raises(BandMismatchError, match="already has a band named 'ndvi'"):
        add_indices(out, ["ndvi"])


def test_bad_names_and_variants():
    s = stack_of("worldview3", DSTL)
    with pytest.raises(ConfigError, match="valid indices: ndvi"):
        compute_index(s, "nbr")
    with pytest.raises(ConfigError, match="unknown variant"):
        compute_index(s, "ndvi", variant="kaggle")
    with pytest.raises(BandMismatchError, match="no 'wavelength' coordinate"):
        compute_index(s.drop_vars("wavelength"), "ndvi")


def test_valid_mask_per_band():
    s = stack_of("worldview3", DSTL)
    s[0, 0, 0] = np.nan
    s[5, 1, 2] = np.inf
    m = valid_mask(s)
    assert m.dims == ("band", "y", "x") and int((~m).sum()) == 2
    assert int((~valid_mask(s, all_bands=True)).sum()) == 2


pos = arrays(np.float32, (4, 4), elements=st.floats(0, 16383, width=32))


@settings(max_examples=60, deadline=None)
@given(nir=pos, red=pos, green=pos, re=pos)
def test_normalised_differences_are_bounded(nir, red, green, re):
    vals = np.stack([red, green, re, nir])
    s = xr.DataArray(vals, dims=("band", "y", "x"),
                     coords={"band": ["r", "g", "re", "n"],
                             "wavelength": ("band", [660.0, 550.0, 725.0, 842.0])})  # fmt: skip
    for name in ("ndvi", "ndwi", "ndre"):
        v = compute_index(s, name).values
        fin = v[np.isfinite(v)]
        assert np.all(np.abs(fin) <= 1 + 1e-6), name
        assert not np.isinf(v).any()
    savi = compute_index(s, "savi", scale=16383.0).values  # reflectance 0..1: |SAVI| <= 1.5
    assert np.all(np.abs(savi[np.isfinite(savi)]) <= 1.5 + 1e-5)
