"""Vector labels (GeoJSON) rasterised onto an image's grid.

Each feature names its class in a property (``labels.property``, default ``class``) by class name
or by a value listed for the class. Coordinates are in the image's CRS (or ``labels.crs``, which is
reprojected to the image's CRS); for images without georeference they are pixel coordinates
(x = column, y = row, origin at the top-left corner). Features whose class is listed under
``labels.ignore`` become ignore pixels. Polygons are filled with holes cleared (rasterio).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satseg.errors import LabelError, MissingFileError
from satseg.io.manifest import ClassSpec

log = logging.getLogger("satseg.io.geojson")


def read_features(path: Path) -> list[dict[str, Any]]:
    """The features of a GeoJSON FeatureCollection (or single Feature) file."""
    if not path.is_file():
        raise MissingFileError(f"GeoJSON label file {path} does not exist")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelError(f"GeoJSON {path} is not valid JSON: {exc}; fix or re-export it") from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        feats = [doc]
    else:
        feats = None
    if not isinstance(feats, list):
        raise LabelError(
            f"GeoJSON {path} is not a FeatureCollection or Feature; write labels as features with "
            "a class property"
        )
    return feats


def _class_lookup(classes: Sequence[ClassSpec]) -> dict[str, int]:
    lookup: dict[str, int] = {}
    for i, c in enumerate(classes):
        lookup[c.name] = i
        for v in c.values:
            lookup[str(v)] = i
    return lookup


def rasterize_geojson(
    path: Path,
    classes: Sequence[ClassSpec],
    shape: tuple[int, int],
    *,
    prop: str = "class",
    ignore_values: Sequence[Any] = (),
    transform: Any = None,
    image_crs: Any = None,
    label_crs: str | None = None,
    unlabelled: str = "background",
    all_touched: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Burn the features of ``path`` into (masks uint8 (K, H, W), ignore bool (H, W))."""
    from rasterio.features import rasterize
    from rasterio.transform import Affine
    from shapely.geometry import mapping
    from shapely.geometry import shape as to_shape
    from shapely.validation import make_valid

    feats = read_features(path)
    lookup = _class_lookup(classes)
    ignore_keys = {str(v) for v in ignore_values}
    per_class: list[list[Any]] = [[] for _ in classes]
    ignored: list[Any] = []
    reproject = None
    if label_crs and label_crs.lower() != "pixel" and image_crs is not None:
        from rasterio.crs import CRS
        from rasterio.warp import transform_geom

        src, dst = CRS.from_user_input(label_crs), image_crs
        if src != dst:
            reproject = lambda g: transform_geom(src, dst, g)  # noqa: E731
    if transform is None or (label_crs or "").lower() == "pixel":
        transform = Affine.identity()
    for k, feat in enumerate(feats):
        props = (feat or {}).get("properties") or {}
        key = props.get(prop)
        geom = (feat or {}).get("geometry")
        if geom is None:
            continue
        if str(key) in ignore_keys:
            target = ignored
        elif str(key) in lookup:
            target = per_class[lookup[str(key)]]
        else:
            raise LabelError(
                f"GeoJSON {path} feature {k} has {prop}={key!r}, which names no class "
                f"({sorted(lookup)}) nor an ignore value; fix the property or list it in satseg.yaml"
            )
        if reproject is not None:
            geom = reproject(geom)
        try:
            g = to_shape(geom)
        except Exception as exc:  # shapely raises several types for bad geometry
            raise LabelError(f"GeoJSON {path} feature {k} has invalid geometry: {exc}") from None
        if not g.is_valid:
            log.warning("%s feature %d: invalid geometry repaired with make_valid", path, k)
            g = make_valid(g)
        if not g.is_empty:
            target.append(mapping(g))
    masks = np.zeros((len(classes), *shape), dtype=np.uint8)
    for i, geoms in enumerate(per_class):
        if geoms:
            masks[i] = rasterize(
                geoms,
                out_shape=shape,
                transform=transform,
                fill=0,
                default_value=1,
                dtype="uint8",
                all_touched=all_touched,
            )
    ignore = np.zeros(shape, dtype=bool)
    if ignored:
        ignore = rasterize(
            ignored,
            out_shape=shape,
            transform=transform,
            fill=0,
            default_value=1,
            dtype="uint8",
            all_touched=all_touched,
        ).astype(bool)
    if unlabelled == "ignore":
        ignore |= ~masks.any(axis=0)
    return masks, ignore
