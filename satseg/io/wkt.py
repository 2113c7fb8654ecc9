"""DSTL polygon coordinates <-> pixels, WKT label files and submission CSVs (DOMAIN.md section 1).

DSTL obfuscates coordinates: x in ``[0, Xmax]``, y in ``[Ymin, 0]`` (from ``grid_sizes.csv``). For
a raster of width ``W`` and height ``H``: ``W' = W * W / (W + 1)``, ``H' = H * H / (H + 1)``, and
``pixel x = x * W' / Xmax``, ``pixel y = y * H' / Ymin`` (the competition's published recipe).
Always use the ``W, H`` of the raster you rasterise onto (RGB, P, M or A grid).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from satseg.errors import LabelError, MissingFileError, OutputError
from satseg.io.vectors import as_multipolygon, mask_to_polygons, polygons_to_mask

log = logging.getLogger("satseg.io.wkt")

N_CLASSES = 10
HEADER = ("ImageId", "ClassType", "MultipolygonWKT")


def scale_factors(shape: tuple[int, int], xmax: float, ymin: float) -> tuple[float, float]:
    """``(fx, fy)`` with ``pixel x = x * fx`` and ``pixel y = y * fy`` for a raster ``(H, W)``."""
    h, w = int(shape[0]), int(shape[1])
    if xmax <= 0 or ymin >= 0:
        raise LabelError(
            f"grid size Xmax={xmax}, Ymin={ymin}: DSTL needs Xmax > 0 and Ymin < 0 "
            "(check grid_sizes.csv)"
        )
    return (w * w / (w + 1)) / xmax, (h * h / (h + 1)) / ymin


def to_pixels(geom: Any, shape: tuple[int, int], xmax: float, ymin: float) -> Any:
    """A geometry in DSTL coordinates mapped to pixel coordinates of a raster ``shape``."""
    from shapely.affinity import scale

    fx, fy = scale_factors(shape, xmax, ymin)
    return scale(geom, xfact=fx, yfact=fy, origin=(0, 0))


def to_dstl(geom: Any, shape: tuple[int, int], xmax: float, ymin: float) -> Any:
    """A pixel-space geometry mapped back to DSTL coordinates (the inverse of :func:`to_pixels`)."""
    from shapely.affinity import scale

    fx, fy = scale_factors(shape, xmax, ymin)
    return scale(geom, xfact=1 / fx, yfact=1 / fy, origin=(0, 0))


def parse_wkt(text: str, where: str = "WKT") -> Any:
    """A valid MultiPolygon from WKT text; invalid WKT raises LabelError naming ``where``."""
    import shapely
    from shapely.errors import GEOSException

    try:
        geom = shapely.from_wkt(text)
    except (GEOSException, TypeError, ValueError) as exc:
        short = text if len(text) < 60 else text[:57] + "..."
        raise LabelError(
            f"{where}: invalid WKT {short!r} ({exc}); fix the row (use MULTIPOLYGON EMPTY for "
            "no objects)"
        ) from None
    if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon", "GeometryCollection"):
        kind = None if geom is None else geom.geom_type
        raise LabelError(f"{where}: expected a MULTIPOLYGON, got {kind}; fix the row")
    return as_multipolygon(geom)


def wkt_to_mask(
    text_or_geom: Any, shape: tuple[int, int], xmax: float, ymin: float, where: str = "WKT"
) -> np.ndarray:
    """Rasterise a DSTL multipolygon (WKT or shapely) onto a raster of ``shape`` (uint8 0/1)."""
    geom = parse_wkt(text_or_geom, where) if isinstance(text_or_geom, str) else text_or_geom
    return polygons_to_mask(to_pixels(geom, shape, xmax, ymin), shape)


def mask_to_wkt(
    mask: np.ndarray,
    xmax: float,
    ymin: float,
    *,
    min_area: float = 0.0,
    simplify: float = 0.0,
    precision: int = 8,
) -> str:
    """A mask on a raster grid as DSTL multipolygon WKT (``MULTIPOLYGON EMPTY`` when empty).

    ``min_area`` and ``simplify`` are in pixels of ``mask``; coordinates are rounded to
    ``precision`` decimals (DSTL coordinates are ~1e-3, so 8 keeps sub-pixel detail).
    """
    import shapely

    geom = mask_to_polygons(mask, min_area=min_area, simplify=simplify)
    if geom.is_empty:
        return "MULTIPOLYGON EMPTY"
    out = as_multipolygon(to_dstl(geom, mask.shape, xmax, ymin))
    return shapely.to_wkt(out, rounding_precision=precision, trim=True)


def read_grid_sizes(path: str | Path) -> dict[str, tuple[float, float]]:
    """``{image_id: (Xmax, Ymin)}`` from ``grid_sizes.csv`` (its first column has no header)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist: a DSTL folder needs grid_sizes.csv")
    out: dict[str, tuple[float, float]] = {}
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise LabelError(f"{path} is empty: it must have a header ',Xmax,Ymin' and one row per id")
    head = [h.strip() for h in rows[0]]
    if len(head) < 3 or head[1:3] != ["Xmax", "Ymin"]:
        raise LabelError(f"{path}: header {head} must be ',Xmax,Ymin' (first column unnamed)")
    for i, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            out[row[0].strip()] = (float(row[1]), float(row[2]))
        except (IndexError, ValueError):
            raise LabelError(f"{path} line {i}: {row} is not 'ImageId,Xmax,Ymin'") from None
    return out


def read_wkt_csv(path: str | Path) -> dict[str, dict[int, str]]:
    """``{image_id: {class_type: wkt}}`` from ``train_wkt_v4.csv`` (or a submission)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist")
    csv.field_size_limit(1 << 30)  # DSTL rows hold WKT of several MB
    out: dict[str, dict[int, str]] = {}
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        head = next(reader, None)
        if head is None or [h.strip() for h in head[:3]] != list(HEADER):
            raise LabelError(f"{path}: header {head} must be {','.join(HEADER)}")
        for i, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                image_id, cls, wkt = row[0].strip(), int(row[1]), row[2]
            except (IndexError, ValueError):
                raise LabelError(
                    f"{path} line {i}: expected ImageId,ClassType(1-10),WKT, got {row[:2]}"
                ) from None
            if not 1 <= cls <= N_CLASSES:
                raise LabelError(f"{path} line {i}: ClassType {cls} must be 1..{N_CLASSES}")
            out.setdefault(image_id, {})[cls] = wkt
    return out


def write_submission(
    path: str | Path,
    predictions: Mapping[str, Mapping[int, str]],
    ids: Iterable[str] | None = None,
) -> Path:
    """Write a competition CSV: one row per image id and class 1..10, in id order.

    ``predictions`` maps ids to ``{class_type: wkt}``; missing classes (and ids listed in ``ids``
    without predictions) are written as ``MULTIPOLYGON EMPTY``. Each WKT is checked to parse.
    """
    path = Path(path)
    want = sorted(set(ids) if ids is not None else set(predictions))
    extra = sorted(set(predictions) - set(want))
    if extra:
        raise LabelError(f"write_submission: predictions for ids not in 'ids': {extra[:5]}")
    if not want:
        raise LabelError("write_submission: no image ids to write; pass predictions or ids")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADER)
            for image_id in want:
                row = predictions.get(image_id, {})
                for cls in range(1, N_CLASSES + 1):
                    wkt = row.get(cls, "MULTIPOLYGON EMPTY")
                    parse_wkt(wkt, f"prediction {image_id} class {cls}")
                    writer.writerow((image_id, cls, wkt))
    except OSError as exc:
        raise OutputError(f"cannot write submission {path}: {exc}") from None
    log.debug("wrote submission %s (%d images)", path, len(want))
    return path
