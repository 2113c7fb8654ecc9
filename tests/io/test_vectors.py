"""Pixel-space polygons <-> masks: round trips with holes (Hypothesis), repair, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from satseg.errors import LabelError
from satseg.io.vectors import iou, mask_to_polygons, polygons_to_mask


@st.composite
def fields_with_holes(draw):
    """Real-looking DSTL multipolygons: rotated fields/large buildings of 200-400 px (60-120 m at
    0.31 m), some with courtyards (holes >= 24 px), possibly merged. A straight outline
    loses ~0.25 px on average to the pixel staircase, so IoU >= 0.99 needs sides >= ~200 px (a 150 px square tilted by 1 degree: 0.989)."""
    from shapely import affinity
    from shapely.ops import unary_union

    parts = []
    for _ in range(draw(st.integers(1, 4))):
        x0, y0 = draw(st.floats(5, 500)), draw(st.floats(5, 500))
        w, h = draw(st.floats(200, 400)), draw(st.floats(200, 400))
        p = affinity.rotate(box(x0, y0, x0 + w, y0 + h), draw(st.floats(-45, 45)))
        if draw(st.booleans()):
            c = p.centroid
            r = min(w, h) * draw(st.floats(0.08, 0.2))
            p = p.difference(box(c.x - r, c.y - r, c.x + r, c.y + r))
        parts.append(p)
    return unary_union(parts).intersection(box(0, 0, 800, 800))


@settings(max_examples=25, deadline=None)
@given(geom=fields_with_holes())
def test_polygon_mask_polygon_round_trip_iou(geom):
    # pixel staircases cost ~0.25 px along the outline: smaller shapes score lower
    mask = polygons_to_mask(geom, (800, 800))
    back = mask_to_polygons(mask)
    assert back.is_valid and back.geom_type == "MultiPolygon"
    assert iou(geom, back) >= 0.99


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_mask_polygon_mask_is_identity(seed):
    rng = np.random.default_rng(seed)
    mask = (rng.random((40, 50)) < 0.4).astype(np.uint8)  # diagonal touches, holes, islands
    np.testing.assert_array_equal(polygons_to_mask(mask_to_polygons(mask), mask.shape), mask)


def test_corner_touching_pixels_give_valid_parts_without_repair(monkeypatch):
    """Pixels meeting only at a corner are separate parts touching at a point (valid), so no
    make_valid runs: on noisy masks it took minutes (a 2000 px image stalled satseg predict)."""
    import shapely

    calls = []
    monkeypatch.setattr(shapely, "make_valid", lambda g: calls.append(g) or g)
    mask = np.zeros((6, 6), np.uint8)
    mask[1, 1] = mask[2, 2] = mask[3, 1] = 1  # a diagonal chain; (2, 2) joins the block
    mask[1:5, 3:6] = 1
    mask[2, 4] = 0  # a hole
    geom = mask_to_polygons(mask)
    assert geom.is_valid and not calls
    assert len(geom.geoms) == 3 and sum(len(p.interiors) for p in geom.geoms) == 1
    np.testing.assert_array_equal(polygons_to_mask(geom, mask.shape), mask)


def test_holes_are_kept_and_cleared():
    ring = box(10, 10, 50, 50).difference(box(20, 20, 40, 40))
    mask = polygons_to_mask(ring, (60, 60))
    assert mask[30, 30] == 0 and mask[15, 15] == 1 and mask.sum() == 40 * 40 - 20 * 20
    back = mask_to_polygons(mask)
    assert len(back.geoms) == 1 and len(back.geoms[0].interiors) == 1


def test_min_area_and_simplify():
    mask = np.zeros((50, 50), np.uint8)
    mask[5:35, 5:35] = 1
    mask[40:42, 40:42] = 1  # 4 px
    assert len(mask_to_polygons(mask).geoms) == 2
    assert len(mask_to_polygons(mask, min_area=5).geoms) == 1
    simple = mask_to_polygons(mask, simplify=1.0)
    assert simple.is_valid and simple.area == pytest.approx(mask.sum(), rel=0.02)


def test_invalid_geometry_is_repaired():
    bowtie = Polygon([(0, 0), (20, 20), (20, 0), (0, 20)])  # self-intersecting
    assert not bowtie.is_valid
    mask = polygons_to_mask(bowtie, (20, 20))
    assert 150 < mask.sum() < 250
    empty = polygons_to_mask(MultiPolygon(), (5, 5))
    assert empty.sum() == 0 and mask_to_polygons(empty).is_empty


def test_bad_inputs():
    with pytest.raises(LabelError, match="2-D mask"):
        mask_to_polygons(np.zeros((2, 3, 4)))
    with pytest.raises(LabelError, match="must be >= 0"):
        mask_to_polygons(np.zeros((3, 3)), min_area=-1)
    with pytest.raises(LabelError, match="must be positive"):
        polygons_to_mask(box(0, 0, 1, 1), (0, 5))
