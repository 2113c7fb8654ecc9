"""Every bad input fails with a SatsegError subclass naming the file, the rule and the fix."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import yaml

from satseg.errors import (
    BandMismatchError,
    DataError,
    LabelError,
    ManifestError,
    MissingFileError,
    RasterReadError,
    SatsegError,
)
from satseg.io import open_dataset
from tests.io import makers


def _edit_manifest(root, **changes):
    p = root / "satseg.yaml"
    m = yaml.safe_load(p.read_text())
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        if sub:
            m[section][sub] = value
        else:
            m[section] = value
    p.write_text(yaml.safe_dump(m))


def test_missing_raster(tmp_path):
    makers.code_dataset(tmp_path)
    ds = open_dataset(tmp_path)
    (tmp_path / "images" / "scene1.tif").unlink()
    with pytest.raises(MissingFileError, match=r"scene1\.tif does not exist"):
        ds.load_image("scene1")


@pytest.mark.parametrize("suffix", ["tif", "jpg"])
def test_unreadable_raster(tmp_path, suffix):
    makers.colour_dataset(tmp_path, fmt=suffix if suffix == "jpg" else "jpg")
    if suffix == "tif":
        _edit_manifest(tmp_path, images="{tile}/images/{part}.tif")
        for t in ("tile_1", "tile_2"):
            (tmp_path / t / "images" / "part_1.tif").write_bytes(b"not a tiff at all")
    else:
        (tmp_path / "tile_1" / "images" / "part_1.jpg").write_bytes(b"\xff\xd8garbage")
    ds = open_dataset(tmp_path)
    with pytest.raises(RasterReadError, match=rf"tile_1/images/part_1\.{suffix}"):
        ds.load_image("tile_1/part_1")


def test_wrong_band_count(tmp_path):
    makers.code_dataset(tmp_path, n=1)
    _edit_manifest(tmp_path, bands=["red", "green", "blue"])
    with pytest.raises(BandMismatchError, match=r"scene0\.tif has 4 band\(s\).*declares 3"):
        open_dataset(tmp_path).load_image("scene0")


def test_per_band_file_missing(tmp_path):
    makers.perband_dataset(tmp_path)
    (tmp_path / "B" / "LC08_B_B5.TIF").unlink()
    with pytest.raises(BandMismatchError, match=r"no file for band 'nir'.*LC08_B_B5\.TIF"):
        open_dataset(tmp_path)


def test_per_band_sizes_differ(tmp_path):
    makers.perband_dataset(tmp_path)
    makers.write_tif(tmp_path / "A" / "LC08_A_B4.TIF", np.zeros((1, 12, 12), np.float32))
    with pytest.raises(DataError, match=r"LC08_A_B4\.TIF is 12x12 px"):
        open_dataset(tmp_path).load_image("A")


def test_image_mask_size_mismatch(tmp_path):
    makers.code_dataset(tmp_path, n=1)
    makers.write_tif(tmp_path / "masks" / "scene0_mask.tif", np.zeros((1, 30, 32), np.uint8))
    with pytest.raises(LabelError, match=r"scene0_mask\.tif is 32x30 px but its image .* is 32x32"):
        open_dataset(tmp_path).load_labels("scene0")


def test_unknown_colour_in_mask(tmp_path):
    from PIL import Image

    makers.colour_dataset(tmp_path, fmt="png")
    p = tmp_path / "tile_1" / "masks" / "part_1.png"
    arr = np.asarray(Image.open(p).convert("RGB")).copy()
    arr[0, :5] = (1, 2, 3)
    Image.fromarray(arr).save(p)
    with pytest.raises(
        LabelError, match=r"part_1\.png holds values .*#010203 \(5 px\).*labels\.ignore"
    ):
        open_dataset(tmp_path).load_labels("tile_1/part_1")


def test_unknown_code_in_mask(tmp_path):
    makers.code_dataset(tmp_path, n=1)
    _edit_manifest(tmp_path, labels__ignore=[])
    with pytest.raises(LabelError, match=r"scene0_mask\.tif holds values .*9 \("):
        open_dataset(tmp_path).load_labels("scene0")


def test_colour_mask_must_be_rgb(tmp_path):
    makers.code_dataset(tmp_path, n=1)
    _edit_manifest(
        tmp_path,
        labels__kind="colour",
        labels__ignore=None,
        labels__background=None,
        classes=[{"name": "a", "colour": "#ff0000"}],
    )
    with pytest.raises(LabelError, match=r"colour mask .* has 1 band"):
        open_dataset(tmp_path).load_labels("scene0")


def test_empty_data_set(tmp_path):
    makers.code_dataset(tmp_path, n=1)
    _edit_manifest(tmp_path, images={"pattern": "imgs/{scene}.tif"})
    with pytest.raises(DataError, match=r"is empty: no file matches images\.pattern 'imgs/"):
        open_dataset(tmp_path)


def test_nan_and_inf_pixels_warned_and_masked(tmp_path, caplog):
    arr = np.ones((2, 8, 8), np.float32)
    arr[0, 1, 1] = np.nan
    arr[1, 2, 2] = np.inf
    makers.write_tif(tmp_path / "im" / "a.tif", arr)
    makers.write_manifest(
        tmp_path, {"bands": ["x", "y"], "images": "im/{id}.tif", "classes": [{"name": "c"}]}
    )
    img = open_dataset(tmp_path).load_image("a")
    with caplog.at_level(logging.WARNING, logger="satseg.io.raster"):
        vals = img.values
    assert np.isnan(vals[0, 1, 1]) and np.isnan(vals[1, 2, 2])
    assert np.isfinite(vals).sum() == vals.size - 2
    assert "a.tif has 2 NaN/inf pixels" in caplog.text


def test_unknown_id_and_unlabelled(tmp_path):
    makers.perband_dataset(tmp_path)
    ds = open_dataset(tmp_path)
    with pytest.raises(
        DataError, match="image 'C' is not in data set 'landsat-like'.*known ids: A, B"
    ):
        ds.load_image("C")
    with pytest.raises(LabelError, match="has no labels"):
        ds.load_labels("A")


def test_not_a_data_set_and_missing_folder(tmp_path):
    with pytest.raises(DataError, match="neither a DSTL folder"):
        open_dataset(tmp_path)
    with pytest.raises(MissingFileError, match="does not exist"):
        open_dataset(tmp_path / "nope")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("name: [unclosed", r"invalid YAML at line \d+, column \d+"),
        ("- a list", "top level: expected a mapping"),
        ("bands: [r]\nimages: i/{n}.tif\nclases: []\n", r"unknown key\(s\) \['clases'\]"),
        ("bands: [r]\nimages: i/x.tif\nclasses: [{name: a}]\n", "has no {placeholder}"),
        ("bands: [r]\nimages: i/{n}.tif\nclasses: []\n", "non-empty list of classes"),
        (
            "bands: [r]\nimages: i/{n}.tif\nlabels: {kind: paint, pattern: 'm/{n}.png'}\n"
            "classes: [{name: a}]\n",
            "'paint' is not one of",
        ),
        (
            "bands: [r]\nimages: i/{n}.tif\nlabels: {kind: colour, pattern: 'm/{q}.png'}\n"
            "classes: [{name: a, colour: '#ff0000'}]\n",
            r"placeholders \['q'\]",
        ),
        (
            "bands: [r]\nimages: i/{n}.tif\nlabels: {kind: code, pattern: 'm/{n}.tif'}\n"
            "classes: [{name: a}]\n",
            "needs its integer 'code'",
        ),
        (
            "bands: [r]\nimages: i/{n}.tif\nlabels: {kind: colour, pattern: 'm/{n}.png'}\n"
            "classes: [{name: a, colour: 'red'}]\n",
            "is not a colour",
        ),
        (
            "bands: [r]\nimages: i/{n}.tif\nlabels: {kind: code, pattern: 'm/{n}.tif'}\n"
            "classes: [{name: a, code: 1}, {name: b, code: 1}]\n",
            "used by both 'a' and 'b'",
        ),
        ("bands: [r, r]\nimages: i/{n}.tif\nclasses: [{name: a}]\n", "band names must be unique"),
        ("images: 's/{s}_B{band}.tif'\nclasses: [{name: a}]\n", "need the band list"),
    ],
)
def test_manifest_errors(tmp_path, text, pattern):
    (tmp_path / "satseg.yaml").write_text(text)
    with pytest.raises(ManifestError, match=pattern) as info:
        open_dataset(tmp_path)
    assert str(tmp_path / "satseg.yaml") in str(info.value)
    assert isinstance(info.value, SatsegError)


def test_missing_explicit_manifest(tmp_path):
    with pytest.raises(ManifestError, match="manifest .*nope.yaml does not exist"):
        open_dataset(tmp_path, manifest=tmp_path / "nope.yaml")


def test_geojson_invalid_json_and_unknown_class(tmp_path):
    makers.geojson_dataset(tmp_path)
    path = tmp_path / "labels" / "s1.geojson"
    text = path.read_text()
    path.write_text(text.replace('"cloud"', '"fog"'))
    ds = open_dataset(tmp_path)
    with pytest.raises(LabelError, match=r"s1\.geojson feature 2 has class='fog'"):
        ds.load_labels("s1")
    path.write_text(text[:-5])
    with pytest.raises(LabelError, match=r"s1\.geojson is not valid JSON"):
        ds.load_labels("s1")
    path.write_text('{"type": "Point", "coordinates": [0, 0]}')
    with pytest.raises(LabelError, match="not a FeatureCollection"):
        ds.load_labels("s1")
