"""Export: polygon round trips (IoU >= 0.99), GeoTIFF georeference kept end to end, atomic writes,
output folders that cannot be written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satseg.errors import OutputError
from satseg.inference import blend_predict
from satseg.inference.export import (
    GeoTiffWriter,
    ensure_output_dir,
    mask_polygons,
    masks_to_geojson,
    masks_to_wkt,
    write_geotiff,
)


def blobs(seed: int, shape=(80, 100)) -> np.ndarray:
    """Random blobs with holes: smoothed noise thresholded."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 3)
    return (field > 0.05).astype(np.uint8)


def iou(a, b):
    a, b = a.astype(bool), b.astype(bool)
    union = (a | b).sum()
    return 1.0 if union == 0 else (a & b).sum() / union


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_polygon_round_trip_keeps_iou(seed):
    from rasterio.features import rasterize

    mask = blobs(seed)
    geom = mask_polygons(mask)
    assert geom.is_valid
    back = rasterize([geom], out_shape=mask.shape) if not geom.is_empty else np.zeros_like(mask)
    assert iou(mask, back) >= 0.99


def test_holes_kept_min_area_and_simplify():
    m = np.zeros((60, 60), np.uint8)
    m[5:50, 5:50] = 1
    m[15:30, 15:30] = 0  # a hole
    m[55:57, 55:57] = 1  # 4 px speck
    g = mask_polygons(m)
    assert len(g.geoms) == 2 and any(len(p.interiors) == 1 for p in g.geoms)
    assert g.area == m.sum()
    g2 = mask_polygons(m, min_area=10)
    assert len(g2.geoms) == 1 and g2.area == m.sum() - 4
    g3 = mask_polygons(blobs(1), simplify=1.0)
    assert g3.is_valid


def test_georeference_preserved_end_to_end(geotiff, tmp_path):
    import rasterio
    from rasterio.features import rasterize
    from shapely.geometry import shape

    from satseg.io.raster import load_raster

    stack = load_raster(geotiff)
    assert stack.rio.crs.to_epsg() == 32640
    x = np.moveaxis(np.asarray(stack.values), 0, -1)
    probs = blend_predict(lambda b: (b[..., :1] > 128).astype(np.float32), x, window=16, tta=8)
    mask = (probs[..., 0] > 0.5).astype(np.uint8)
    crs, transform = stack.rio.crs, stack.rio.transform()
    out = write_geotiff(tmp_path / "m.tif", mask[..., None], crs=crs, transform=transform,
                        descriptions=["bright"])  # fmt: skip
    with rasterio.open(out) as src, rasterio.open(geotiff) as ref:
        assert src.crs == ref.crs and src.transform == ref.transform
        assert src.profile["tiled"] and src.profile["compress"] == "deflate"
        assert src.descriptions == ("bright",)
        np.testing.assert_array_equal(src.read(1), mask)
    doc = masks_to_geojson(mask[None], ["bright"], transform=transform, crs=crs)
    assert doc["crs"]["properties"]["name"] == "EPSG:32640"
    geom = shape(doc["features"][0]["geometry"])
    minx, miny, maxx, maxy = geom.bounds
    with rasterio.open(geotiff) as ref:
        b = ref.bounds
        assert b.left <= minx and maxx <= b.right and b.bottom <= miny and maxy <= b.top
        # rasterised back onto the raster's grid through its transform: same pixels
        back = rasterize([geom], out_shape=mask.shape, transform=ref.transform)
    assert iou(mask, back) >= 0.99
    wkt = masks_to_wkt(mask[None], ["bright"], transform=transform)["bright"]
    assert wkt.startswith("MULTIPOLYGON") and "500" in wkt


def test_writer_leaves_no_partial_file_on_error(tmp_path):
    path = tmp_path / "p.tif"
    with pytest.raises(RuntimeError):
        with GeoTiffWriter(path, height=300, width=20, count=2) as w:
            w.write_rows(0, np.zeros((100, 20, 2), np.float32))
            raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="only 100 of 300"):
        with GeoTiffWriter(path, height=300, width=20, count=2) as w:
            w.write_rows(0, np.zeros((100, 20, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_writer_streams_rows_in_any_chunking(tmp_path):
    import rasterio

    data = np.random.default_rng(0).random((700, 33, 3), dtype=np.float32)
    with GeoTiffWriter(tmp_path / "s.tif", height=700, width=33, count=3) as w:
        y = 0
        for n in (1, 255, 300, 100, 44):
            w.write_rows(y, data[y : y + n])
            y += n
    with rasterio.open(tmp_path / "s.tif") as src:
        np.testing.assert_array_equal(np.moveaxis(src.read(), 0, -1), data)


def test_output_folder_under_a_regular_file_fails_even_as_root(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot be written"):
        ensure_output_dir(blocker / "out")
    assert ensure_output_dir(tmp_path / "a" / "b").is_dir()
    doc = masks_to_geojson(np.zeros((1, 5, 5), np.uint8), ["c"])
    assert json.loads(json.dumps(doc))["features"][0]["geometry"]["type"] == "MultiPolygon"


def test_dstl_submission_round_trip(tmp_path):
    import csv

    from satseg.inference.export import dstl_wkts, write_dstl_submission
    from satseg.io.wkt import wkt_to_mask

    masks = np.stack([blobs(3), np.zeros((80, 100), np.uint8), blobs(4)])
    xmax, ymin = 0.009188, -0.00904
    wkts = dstl_wkts(masks, [1, 7, None], xmax, ymin)
    assert set(wkts) == {1, 7} and wkts[7] == "MULTIPOLYGON EMPTY"
    back = wkt_to_mask(wkts[1], masks.shape[1:], xmax, ymin)
    assert iou(masks[0], back) >= 0.99
    path = write_dstl_submission(
        tmp_path / "submission.csv", {"6120_2_2": wkts}, ["6120_2_2", "6100_1_3"]
    )
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["ImageId", "ClassType", "MultipolygonWKT"] and len(rows) == 1 + 2 * 10
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]


def test_geotiffs_are_valid_cogs_with_overviews(tmp_path):
    """Streamed probabilities and masks are Cloud-Optimized GeoTIFFs (rio-cogeo): internal
    256 px tiles, overviews down to one tile; mask overviews stay 0/1 (mode), probability ones
    average; CRS, transform and band names kept."""
    import rasterio
    from rasterio.transform import from_origin
    from rio_cogeo.cogeo import cog_validate

    rng = np.random.default_rng(0)
    t = from_origin(500000.0, 2800000.0, 0.5, 0.5)
    probs = rng.random((700, 900, 2), dtype=np.float32)
    path = tmp_path / "p.tif"
    with GeoTiffWriter(path, height=700, width=900, count=2, crs="EPSG:32640", transform=t,
                       descriptions=["a", "b"]) as w:  # fmt: skip
        for y0 in range(0, 700, 97):
            w.write_rows(y0, probs[y0 : y0 + 97])
    mask = write_geotiff(tmp_path / "m.tif", (probs > 0.5).astype(np.uint8), crs="EPSG:32640",
                         transform=t, descriptions=["a", "b"])  # fmt: skip
    for p in (path, mask):
        valid, errors, warnings = cog_validate(str(p), quiet=True)
        assert valid and not errors and not warnings, (p, errors, warnings)
        with rasterio.open(p) as src:
            assert src.block_shapes[0] == (256, 256) and src.overviews(1) == [2, 4]
            assert src.crs.to_epsg() == 32640 and src.transform == t
            assert src.descriptions == ("a", "b")
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read().transpose(1, 2, 0), probs)
        ov = src.read(1, out_shape=(175, 225))  # the 4x overview
        assert 0.3 < ov.mean() < 0.7 and ov.std() < probs[..., 0].std()  # averaged
    with rasterio.open(mask) as src:
        assert set(np.unique(src.read(1, out_shape=(175, 225)))) <= {0, 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif", "p.tif"]  # no temporaries
