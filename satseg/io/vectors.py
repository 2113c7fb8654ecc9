"""Pixel-space geometry: masks to (multi)polygons with holes and back.

Pixel coordinates use the raster convention: pixel ``(row, col)`` covers ``x in [col, col + 1)``,
``y in [row, row + 1)``; a pixel belongs to a polygon when its centre lies inside (rasterio's
default, ``all_touched=False``). ``mask -> polygons -> mask`` is therefore the identity, and
``polygons -> mask -> polygons`` keeps IoU close to 1 for shapes much larger than a pixel.
Coordinate systems on top of this (DSTL's obfuscated grid, a GeoTIFF transform) are applied by
the callers (:mod:`satseg.io.wkt`, :mod:`satseg.inference.export`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from satseg.errors import LabelError

log = logging.getLogger("satseg.io.vectors")


def _flatten(geom: Any) -> list[Any]:
    """The polygons inside any geometry (GeometryCollections from make_valid included)."""
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _flatten(g)]
    return []  # lines and points left by make_valid carry no area


def as_multipolygon(geom: Any) -> Any:
    """A valid MultiPolygon made of the areal parts of ``geom`` (repairing invalid rings)."""
    import shapely
    from shapely.geometry import MultiPolygon

    if geom is None or geom.is_empty:
        return MultiPolygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = [p for p in _flatten(geom) if p.area > 0]
    if not polys:
        return MultiPolygon()
    multi = MultiPolygon(polys)
    if not multi.is_valid:  # parts of a repaired collection may overlap each other
        merged = shapely.unary_union(polys)
        multi = MultiPolygon(_flatten(merged))
    return multi


def mask_to_polygons(mask: np.ndarray, min_area: float = 0.0, simplify: float = 0.0) -> Any:
    """The 1-pixels of a 2-D ``mask`` as a valid shapely MultiPolygon in pixel coordinates.

    Holes are kept (``rasterio.features.shapes`` outlines along pixel edges); ``simplify``
    (pixels, Douglas-Peucker preserving topology) is applied before ``min_area`` (pixels^2)
    drops small parts.

    Parts are traced 4-connected: two pixels touching only at a corner become two polygons
    touching at a point, which is valid. 8-connected tracing joins them through a single vertex,
    a self-touching ring that GEOS rejects; repairing that with ``make_valid`` took minutes on a
    noisy 2000 x 1800 px mask. The pixels covered are the same either way; a part that is still
    invalid (rare, e.g. after simplification) is repaired on its own.
    """
    from rasterio.features import shapes
    from shapely.geometry import MultiPolygon, shape

    m = np.asarray(mask)
    if m.ndim != 2:
        raise LabelError(f"mask_to_polygons needs a 2-D mask, got shape {m.shape}")
    if min_area < 0 or simplify < 0:
        raise LabelError(
            f"mask_to_polygons: min_area={min_area} and simplify={simplify} must be >= 0"
        )
    m = (m > 0).astype(np.uint8)
    if not m.any():
        return MultiPolygon()
    polys = [shape(g) for g, v in shapes(m, mask=m > 0, connectivity=4) if v > 0]
    if simplify > 0:
        polys = [p.simplify(simplify, preserve_topology=True) for p in polys]
    parts = [q for p in polys for q in (_flatten(as_multipolygon(p)) if not p.is_valid else [p])]
    multi = MultiPolygon([p for p in parts if p.area > 0 and p.area >= min_area])
    if simplify > 0 and not multi.is_valid:  # parts simplified apart may now overlap
        multi = as_multipolygon(multi)
    return multi


def polygons_to_mask(geom: Any, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a (multi)polygon in pixel coordinates to a uint8 0/1 mask of ``shape``.

    Exteriors are filled and holes cleared (a pixel counts when its centre is inside); parts
    outside the raster are clipped. Invalid geometry is repaired first.
    """
    from rasterio.features import rasterize

    h, w = (int(shape[0]), int(shape[1]))
    if h <= 0 or w <= 0:
        raise LabelError(f"polygons_to_mask: shape {shape} must be positive (height, width)")
    polys = _flatten(as_multipolygon(geom))
    if not polys:
        return np.zeros((h, w), np.uint8)
    return rasterize(
        [(p, 1) for p in polys], out_shape=(h, w), fill=0, dtype="uint8", all_touched=False
    )


def iou(a: Any, b: Any) -> float:
    """Intersection over union of two areal geometries (1.0 when both are empty)."""
    union = a.union(b).area
    return 1.0 if union == 0 else float(a.intersection(b).area / union)
