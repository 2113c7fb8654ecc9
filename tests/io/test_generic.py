"""Generic manifest data sets of every kind, on small seeded files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from satseg.io import open_dataset
from tests.io import makers


def test_multiband_geotiff_with_crs_and_code_masks(tmp_path):
    arrays = makers.code_dataset(tmp_path)
    ds = open_dataset(tmp_path)
    assert ds.kind == "generic" and ds.name == "codes"
    assert ds.ids() == ["scene0", "scene1"] == ds.labelled_ids()
    assert ds.band_names == ("blue", "green", "red", "nir")
    img = ds.load_image("scene0")
    assert img.dtype == np.float32 and img.dims == ("band", "y", "x")
    assert img.chunks is not None  # lazy (dask)
    assert list(img["band"].values) == ["blue", "green", "red", "nir"]
    assert img["wavelength"].values.tolist() == [490, 560, 665, 842]
    assert str(img.rio.crs) == makers.CRS
    assert img.rio.transform().a == makers.PIXEL
    raw, mask = arrays["scene0"]
    vals = img.values
    assert np.isnan(vals[:, 0, 0]).all()  # nodata 0 -> NaN
    np.testing.assert_array_equal(vals[:, 1:, 1:], raw[:, 1:, 1:].astype(np.float32))

    lab = ds.load_labels("scene0")
    assert lab.masks.shape == (2, 32, 32) and lab.masks.dtype == np.uint8
    np.testing.assert_array_equal(lab.masks[0], mask == 1)
    np.testing.assert_array_equal(lab.masks[1], mask == 2)
    np.testing.assert_array_equal(lab.ignore, (mask == 9) | (mask == 255))
    assert [c.code for c in ds.classes] == [1, 2]
    assert lab.pixel_counts() == {
        "building": int((mask == 1).sum()),
        "water": int((mask == 2).sum()),
    }


def test_tiff_without_crs_has_no_transform(tmp_path):
    makers.code_dataset(tmp_path, crs=None, n=1)
    img = open_dataset(tmp_path).load_image("scene0")
    assert img.rio.crs is None
    assert "x" not in img.coords


def test_per_band_files_stacked_in_declared_order(tmp_path):
    arrays = makers.perband_dataset(tmp_path)
    ds = open_dataset(tmp_path)
    assert ds.ids() == ["A", "B"]
    assert ds.labelled_ids() == []
    img = ds.load_image("B")
    assert list(img["band"].values) == ["blue", "red", "nir"]
    assert img["wavelength"].values.tolist() == [482, 655, 865]
    np.testing.assert_allclose(img.values, arrays["B"])
    assert str(img.rio.crs) == makers.CRS


@pytest.mark.parametrize("palette", [False, True])
@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_rgb_images_and_colour_masks(tmp_path, palette, fmt):
    arrays = makers.colour_dataset(tmp_path, palette=palette, fmt=fmt)
    ds = open_dataset(tmp_path)
    assert ds.ids() == ["tile_1/part_1", "tile_2/part_1"]
    img = ds.load_image("tile_2/part_1")
    assert img.shape == (3, 20, 30) and img.dtype == np.float32 and img.chunks is not None
    assert np.isnan(img["wavelength"].values).all()
    raw, idx = arrays["tile_2/part_1"]
    if fmt == "png":  # lossless
        np.testing.assert_array_equal(img.values, np.moveaxis(raw, -1, 0))
    lab = ds.load_labels("tile_2/part_1")
    np.testing.assert_array_equal(lab.masks[0], idx == 0)
    np.testing.assert_array_equal(lab.masks[1], idx == 1)
    np.testing.assert_array_equal(lab.ignore, idx == 2)
    assert ds.classes[0].colour == "#3c1098"


@pytest.mark.parametrize("crs", [makers.CRS, None])
def test_geojson_labels_rasterised_on_image_grid(tmp_path, crs):
    makers.geojson_dataset(tmp_path, crs=crs)
    ds = open_dataset(tmp_path)
    lab = ds.load_labels("s1")
    assert lab.masks.shape == (2, 40, 40)
    building, field = lab.masks
    assert building[2:12, 2:12].all() and building.sum() == 100
    assert field[20:40, 20:40].sum() == 400 - 25 and not field[25:30, 25:30].any()  # hole cleared
    assert lab.ignore[30:40, 0:10].all() and lab.ignore.sum() == 100


def test_geojson_reprojected_from_wgs84(tmp_path):
    from rasterio.warp import transform_geom

    makers.geojson_dataset(tmp_path)
    path = tmp_path / "labels" / "s1.geojson"
    doc = __import__("json").loads(path.read_text())
    for f in doc["features"]:
        f["geometry"] = transform_geom(makers.CRS, "EPSG:4326", f["geometry"])
    path.write_text(__import__("json").dumps(doc))
    import yaml

    m = yaml.safe_load((tmp_path / "satseg.yaml").read_text())
    m["labels"]["crs"] = "EPSG:4326"
    (tmp_path / "satseg.yaml").write_text(yaml.safe_dump(m))
    lab = open_dataset(tmp_path).load_labels("s1")
    assert abs(int(lab.masks[0].sum()) - 100) <= 4


def test_explicit_manifest_path_and_yaml_path(tmp_path):
    makers.colour_dataset(tmp_path / "data")
    manifest = tmp_path / "elsewhere.yaml"
    (tmp_path / "data" / "satseg.yaml").rename(manifest)
    ds = open_dataset(tmp_path / "data", manifest=manifest)
    assert len(ds.ids()) == 2
    assert ds.manifest.path == manifest


def test_manifest_file_with_root_is_a_whole_data_set_reference(tmp_path):
    from satseg.errors import ManifestError

    makers.colour_dataset(tmp_path / "data")
    text = (tmp_path / "data" / "satseg.yaml").read_text()
    (tmp_path / "data" / "satseg.yaml").unlink()
    (tmp_path / "conf").mkdir()
    manifest = tmp_path / "conf" / "mine.satseg.yaml"
    manifest.write_text("root: ../data\n" + text)
    ds = open_dataset(str(manifest))
    assert len(ds.ids()) == 2 and ds.root.resolve() == (tmp_path / "data").resolve()
    manifest.write_text("root: ../nowhere\n" + text)
    with pytest.raises(ManifestError, match="root.*does not exist"):
        open_dataset(manifest)


def test_bands_default_from_file_when_not_declared(tmp_path):
    makers.code_dataset(tmp_path, n=1, bands=5)
    import yaml

    m = yaml.safe_load((tmp_path / "satseg.yaml").read_text())
    del m["bands"]
    (tmp_path / "satseg.yaml").write_text(yaml.safe_dump(m))
    ds = open_dataset(tmp_path)
    assert ds.band_names == ("b1", "b2", "b3", "b4", "b5")
    assert all(math.isnan(w) for w in ds.load_image("scene0")["wavelength"].values)


def test_describe_counts_and_sizes(tmp_path):
    arrays = makers.code_dataset(tmp_path)
    d = open_dataset(tmp_path).describe()
    masks = [m for _, m in arrays.values()]
    assert d["n_images"] == 2 and d["sizes"]["scene1"] == {"height": 32, "width": 32}
    assert d["classes"][0]["pixels"] == sum(int((m == 1).sum()) for m in masks)
    assert d["pixels"]["ignored"] == sum(int(((m == 9) | (m == 255)).sum()) for m in masks)
    assert d["bands"][3] == {"name": "nir", "wavelength": 842.0}


def test_sensor_name_instead_of_bands(tmp_path):
    """``sensor: rgb`` resolves through satseg.bands.sensors; without it the error says what to do."""
    from pathlib import Path

    import yaml

    from satseg.errors import ManifestError

    makers.colour_dataset(tmp_path, fmt="png")
    m = yaml.safe_load((tmp_path / "satseg.yaml").read_text())
    del m["bands"]
    m["sensor"] = "rgb"
    (tmp_path / "satseg.yaml").write_text(yaml.safe_dump(m))
    sensors = Path(__file__).resolve().parents[2] / "satseg" / "bands" / "sensors.py"
    if not sensors.is_file():
        with pytest.raises(ManifestError, match="list the bands explicitly"):
            open_dataset(tmp_path)
        return
    ds = open_dataset(tmp_path)
    assert len(ds.band_names) == 3
    wl = ds.load_image("tile_1/part_1")["wavelength"].values
    assert np.isfinite(wl).all() and wl[0] > wl[2]  # red is longer than blue
