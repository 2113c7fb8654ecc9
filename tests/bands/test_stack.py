"""Band stacks on a synthetic DSTL scene: registration vs truth, lazy dask, GeoTIFF/zarr round trip."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pytest

from satseg.bands import build_stack, open_stack, valid_mask, write_stack
from satseg.datasets.synth import write_synthetic_dstl
from satseg.errors import BandMismatchError, ConfigError, DataError, MissingFileError, OutputError


def paths_of(root, sid):
    return {
        "RGB": root / "three_band" / f"{sid}.tif",
        "P": root / "sixteen_band" / f"{sid}_P.tif",
        "M": root / "sixteen_band" / f"{sid}_M.tif",
        "A": root / "sixteen_band" / f"{sid}_A.tif",
    }


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = write_synthetic_dstl(tmp_path_factory.mktemp("syn") / "d", scenes=2, size=640, seed=3)
    truth = json.loads((root / "registration_truth.json").read_text())["scenes"]
    return root, truth


def test_registration_recovers_truth_offsets(scene):
    """P within 0.15 RGB px; M within 0.1 RGB px (0.025 M px); A within 0.1 A px (~2.5 RGB px)."""
    root, truth = scene
    for sid, tr in truth.items():
        reg = build_stack(paths_of(root, sid)).attrs["registration"]
        for g, tol, unit in (("P", 0.15, "ref_px"), ("M", 0.1, "ref_px"), ("A", 0.1, "px")):
            for axis in ("dy", "dx"):
                err = reg[g][f"{axis}_{unit}"] - tr[g][f"{axis}_{unit}"]
                assert abs(err) < tol, (sid, g, axis, reg[g], tr[g])


def test_stack_is_lazy_float32_with_band_coords(scene):
    root, truth = scene
    sid = sorted(truth)[0]
    stack = build_stack(paths_of(root, sid), row_chunk=128)
    assert stack.dims == ("band", "y", "x") and stack.dtype == np.float32
    assert stack.chunks is not None and len(stack.chunks[1]) > 1
    assert stack.sizes["band"] == 20 and stack.sizes["y"] == truth[sid]["RGB"]["shape"][0]
    assert stack.wavelength.sel(band="M7").item() == pytest.approx(832.5)
    assert stack.max_value.sel(band="A3").item() == 16383
    v = stack.values
    # offsets leave a border of the shifted groups without data: NaN there, never elsewhere
    valid = valid_mask(stack).values
    assert valid[:4].all() and not valid[12:].all()
    assert np.isfinite(v[valid]).all() and np.nanmax(v[:3]) <= 2047


def test_registered_stack_aligns_groups(scene):
    """After registration M3 (green) matches RGB G better than without it."""
    root, truth = scene
    sid = sorted(truth)[0]
    p = paths_of(root, sid)

    def err(stack):
        g, m3 = stack.sel(band="G").values, stack.sel(band="M3").values
        ok = np.isfinite(g) & np.isfinite(m3)
        return float(np.corrcoef(g[ok], m3[ok])[0, 1])

    assert err(build_stack(p)) > err(build_stack(p, register=False)) + 0.02


def test_m_grid_option(scene):
    root, truth = scene
    sid = sorted(truth)[0]
    stack = build_stack(paths_of(root, sid), grid="M")
    assert [stack.sizes["y"], stack.sizes["x"]] == truth[sid]["M"]["shape"]
    m = stack.sel(band="M3").values
    assert np.isfinite(m).all()  # the M group is the grid: resampled onto itself, no border


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_write_and_read_back(scene, tmp_path, suffix):
    root, truth = scene
    sid = sorted(truth)[0]
    stack = build_stack(paths_of(root, sid), row_chunk=200).isel(y=slice(0, 300), x=slice(0, 280))
    out = write_stack(stack, tmp_path / f"s{suffix}")
    back = open_stack(out)
    assert back.chunks is not None  # lazy
    assert list(back.band.values) == list(stack.band.values)
    np.testing.assert_allclose(back.wavelength.values, stack.wavelength.values)
    np.testing.assert_array_equal(back.values, stack.values)  # NaN in the same places
    assert back.attrs["registration"]["M"]["dx_px"] == pytest.approx(
        stack.attrs["registration"]["M"]["dx_px"]
    )


def test_geotiff_is_band_interleaved_and_compressed(scene, tmp_path):
    import rasterio

    root, truth = scene
    sid = sorted(truth)[0]
    out = write_stack(build_stack(paths_of(root, sid)), tmp_path / "s.tif")
    with warnings.catch_warnings(), rasterio.open(out) as src:
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        assert src.interleaving.name.upper() == "BAND" and src.compression.name.upper() == "DEFLATE"
        assert src.profile["tiled"] and src.descriptions[3] == "P"


def test_bad_inputs(scene, tmp_path):
    root, truth = scene
    sid = sorted(truth)[0]
    p = paths_of(root, sid)
    with pytest.raises(MissingFileError, match="_M.tif does not exist"):
        build_stack({**p, "M": tmp_path / "x_M.tif"})
    with pytest.raises(BandMismatchError, match="has 8 band\\(s\\), expected 3"):
        build_stack({**p, "RGB": p["M"]})
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    from satseg.errors import RasterReadError

    with pytest.raises(RasterReadError, match="bad.tif"):
        build_stack({**p, "A": bad})
    with pytest.raises(ConfigError, match="not in sensor"):
        build_stack({**p, "Q": p["A"]})
    with pytest.raises(OutputError, match=".tif/.tiff"):
        write_stack(build_stack(p, register=False), tmp_path / "s.png")
    with pytest.raises(DataError, match="dims"):
        write_stack(np.zeros((2, 2)), tmp_path / "s.tif")


def test_nan_and_inf_pixels_warn_and_become_nan(tmp_path, caplog):
    import rasterio

    root = write_synthetic_dstl(tmp_path / "d", scenes=1, size=64, seed=1)
    sid = sorted(p.stem for p in (root / "three_band").glob("*.tif"))[0]
    p = paths_of(root, sid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(p["RGB"]) as src:
            rgb = src.read().astype(np.float32)
            prof = src.profile
        rgb[0, 5, 5], rgb[1, 6, 6] = np.nan, np.inf
        prof.update(dtype="float32")
        with rasterio.open(p["RGB"], "w", **prof) as dst:
            dst.write(rgb)
    with caplog.at_level(logging.WARNING, logger="satseg.bands.stack"):
        v = build_stack(p, register=False).values
    assert "NaN/inf pixels" in caplog.text
    assert np.isnan(v[0, 5, 5]) and np.isnan(v[1, 6, 6]) and np.isfinite(v[2]).all()
