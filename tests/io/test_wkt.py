"""DSTL coordinates (DOMAIN.md section 1), WKT/CSV parsing and submission files."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from shapely.geometry import box

from satseg.errors import LabelError, MissingFileError
from satseg.io.vectors import iou, polygons_to_mask
from satseg.io.wkt import (
    mask_to_wkt,
    parse_wkt,
    read_grid_sizes,
    read_wkt_csv,
    scale_factors,
    to_dstl,
    to_pixels,
    wkt_to_mask,
    write_submission,
)

XMAX, YMIN = 0.009188, -0.0090399


def test_scale_factors_follow_the_published_recipe():
    h, w = 3349, 3391
    fx, fy = scale_factors((h, w), XMAX, YMIN)
    assert fx == pytest.approx(w * w / (w + 1) / XMAX)
    assert fy == pytest.approx(h * h / (h + 1) / YMIN)
    # the far corner of the obfuscated frame lands W' and H' pixels away, not W and H
    corner = to_pixels(box(0, YMIN, XMAX, 0), (h, w), XMAX, YMIN)
    minx, miny, maxx, maxy = corner.bounds
    assert maxx == pytest.approx(w * w / (w + 1)) and maxy == pytest.approx(h * h / (h + 1))
    assert minx == pytest.approx(0) and miny == pytest.approx(0)


def test_dstl_round_trip_on_two_grids():
    geom = box(0.002, -0.006, 0.005, -0.002).difference(box(0.003, -0.005, 0.004, -0.003))
    for shape in ((3349, 3391), (837, 848)):
        back = to_dstl(to_pixels(geom, shape, XMAX, YMIN), shape, XMAX, YMIN)
        assert iou(back, geom) == pytest.approx(1.0)
        mask = wkt_to_mask(geom.wkt, shape, XMAX, YMIN)
        assert mask[shape[0] // 2 - 5, int(0.0035 / XMAX * shape[1])] == 0  # the hole


def test_mask_to_wkt_round_trip_iou():
    shape = (400, 410)
    mask = np.zeros(shape, np.uint8)
    mask[50:200, 60:300] = 1
    mask[100:150, 100:150] = 0
    text = mask_to_wkt(mask, XMAX, YMIN)
    assert text.startswith("MULTIPOLYGON")
    back = wkt_to_mask(text, shape, XMAX, YMIN)
    inter = (back & mask).sum()
    assert inter / (back | mask).sum() >= 0.99
    assert mask_to_wkt(np.zeros(shape, np.uint8), XMAX, YMIN) == "MULTIPOLYGON EMPTY"


def test_parse_wkt_errors_name_the_place():
    with pytest.raises(LabelError, match="train_wkt_v4.csv line 3: invalid WKT"):
        parse_wkt("MULTIPOLYGON (((0 0, 1 1", "train_wkt_v4.csv line 3")
    with pytest.raises(LabelError, match="expected a MULTIPOLYGON, got Point"):
        parse_wkt("POINT (1 2)")
    assert parse_wkt("MULTIPOLYGON EMPTY").is_empty
    bowtie = parse_wkt("POLYGON ((0 0, 2 2, 2 0, 0 2, 0 0))")
    assert bowtie.is_valid and bowtie.area == pytest.approx(2.0)


def test_grid_sizes_and_wkt_csv(tmp_path):
    g = tmp_path / "grid_sizes.csv"
    g.write_text(",Xmax,Ymin\n6120_2_2,0.009188,-0.0090399\n")
    assert read_grid_sizes(g) == {"6120_2_2": (0.009188, -0.0090399)}
    g.write_text("ImageId,X,Y\n")
    with pytest.raises(LabelError, match="must be ',Xmax,Ymin'"):
        read_grid_sizes(g)
    with pytest.raises(MissingFileError, match="grid_sizes.csv"):
        read_grid_sizes(tmp_path / "nope" / "grid_sizes.csv")
    w = tmp_path / "w.csv"
    w.write_text("ImageId,ClassType,MultipolygonWKT\na,11,MULTIPOLYGON EMPTY\n")
    with pytest.raises(LabelError, match="ClassType 11 must be 1..10"):
        read_wkt_csv(w)


def test_submission_has_every_id_and_class(tmp_path):
    poly = mask_to_wkt(polygons_to_mask(box(5, 5, 30, 30), (50, 50)), XMAX, YMIN)
    out = write_submission(
        tmp_path / "sub.csv", {"6120_2_2": {1: poly}}, ids=["6120_2_2", "6010_1_1"]
    )
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["ImageId", "ClassType", "MultipolygonWKT"] and len(rows) == 21
    assert rows[1] == ["6010_1_1", "1", "MULTIPOLYGON EMPTY"]
    assert rows[11][:2] == ["6120_2_2", "1"] and rows[11][2] == poly
    assert read_wkt_csv(out)["6120_2_2"][1] == poly
    with pytest.raises(LabelError, match="invalid WKT"):
        write_submission(tmp_path / "bad.csv", {"a": {2: "MULTIPOLYGON ((("}})
    with pytest.raises(LabelError, match="no image ids"):
        write_submission(tmp_path / "none.csv", {})
