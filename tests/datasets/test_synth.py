"""The synthetic DSTL generator: layout, sizes, CSV formats, truth file, determinism."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from satseg.datasets.synth import spectra, write_synthetic_dstl
from satseg.errors import ConfigError
from satseg.io.wkt import parse_wkt, read_grid_sizes, read_wkt_csv


def read(path):
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read()


def test_layout_sizes_and_files(tmp_path):
    root = write_synthetic_dstl(tmp_path / "s", scenes=2, size=300, seed=1)
    ids = sorted(p.stem for p in (root / "three_band").glob("*.tif"))
    assert len(ids) == 2
    truth = json.loads((root / "registration_truth.json").read_text())["scenes"]
    for sid in ids:
        rgb = read(root / "three_band" / f"{sid}.tif")
        p, m, a = (read(root / "sixteen_band" / f"{sid}_{g}.tif") for g in "PMA")
        assert rgb.shape[0] == 3 and m.shape[0] == 8 and a.shape[0] == 8 and p.shape[0] == 1
        assert rgb.dtype == np.uint16 and rgb.max() <= 2047 and a.max() <= 16383
        h, w = rgb.shape[1:]
        assert 300 <= h <= 302 and w > h
        assert p.shape[1:] == (h - 1, w - 1)
        assert abs(m.shape[1] - h / 4) <= 2 and abs(a.shape[1] - h / 25) <= 2
        assert truth[sid]["RGB"]["dx_ref_px"] == 0 and 1 <= abs(truth[sid]["M"]["dy_ref_px"]) <= 3
        assert truth[sid]["M"]["shape"] == list(m.shape[1:])
    grid = read_grid_sizes(root / "grid_sizes.csv")
    assert (root / "grid_sizes.csv").read_text().startswith(",Xmax,Ymin")
    for xmax, ymin in grid.values():
        assert 0.0089 < xmax < 0.0094 and -0.0094 < ymin < -0.0089
    wkt = read_wkt_csv(root / "train_wkt_v4.csv")
    assert set(wkt) == set(ids) and all(sorted(v) == list(range(1, 11)) for v in wkt.values())
    geoms = [parse_wkt(t) for v in wkt.values() for t in v.values()]
    assert all(g.is_valid for g in geoms)
    assert any(len(p.interiors) for g in geoms for p in g.geoms)  # holes
    for g in geoms:  # inside the obfuscated frame
        if not g.is_empty:
            minx, miny, maxx, maxy = g.bounds
            assert minx >= 0 and maxy <= 0 and maxx <= 0.0094 and miny >= -0.0094


def test_empty_classes_are_written_as_multipolygon_empty(tmp_path):
    root = write_synthetic_dstl(tmp_path / "s", scenes=6, size=64, seed=0)
    text = (root / "train_wkt_v4.csv").read_text()
    assert "MULTIPOLYGON EMPTY" in text  # rivers and large vehicles are absent in some scenes


def test_deterministic_and_textured(tmp_path):
    a = write_synthetic_dstl(tmp_path / "a", scenes=1, size=96, seed=5)
    b = write_synthetic_dstl(tmp_path / "b", scenes=1, size=96, seed=5)
    ra, rb = read(a / "three_band" / "6010_0_0.tif"), read(b / "three_band" / "6010_0_0.tif")
    np.testing.assert_array_equal(ra, rb)
    assert len(np.unique(ra[1])) > 100  # texture, not flat classes


def test_spectra_are_distinct():
    s = spectra()
    assert s.shape == (11, 20)
    d = np.linalg.norm(s[:, None] - s[None], axis=2) + np.eye(11)
    assert d.min() > 0.05
    veg, water = s[6], s[8]
    assert veg[10] > 3 * veg[0] and water[10] < water[1]  # M7 (NIR) vs R; NIR vs green


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="size >= 32"):
        write_synthetic_dstl(tmp_path / "s", scenes=1, size=8)
    with pytest.raises(ConfigError, match="scenes >= 1"):
        write_synthetic_dstl(tmp_path / "s", scenes=0)
