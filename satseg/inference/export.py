"""Writing predictions: GeoTIFFs (probabilities, masks) and polygons (GeoJSON, WKT).

Every file is written under a temporary name in its destination folder (``.<name>.partial``) and
renamed into place only when complete, so an interrupted run never leaves a file that looks
finished. :func:`ensure_output_dir` checks a folder can be written before any model work.

GeoTIFFs are Cloud-Optimized GeoTIFFs (GDAL's COG driver: 256 px internal tiles, DEFLATE,
overviews down to one tile, tiles and overviews ordered for HTTP range reads), one band per class,
with the input's CRS and affine transform. Rows are streamed into a plain tiled GeoTIFF (band
interleave: docs STACK-NOTES, pixel interleave made GDAL rewrite every tile per band), which is
then copied once into the COG layout; probability overviews average, mask overviews take the
mode (a mask stays 0/1). Polygons come from masks in pixel coordinates (corners of
pixels, holes kept), are repaired (``shapely.make_valid``), optionally simplified, filtered by area
and mapped to the input's coordinates through its affine transform where it has one.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satseg.errors import OutputError

log = logging.getLogger("satseg.inference.export")

TILE = 256


def ensure_output_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) and prove it is writable; OutputError otherwise."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".satseg-write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"output folder {out} cannot be written ({exc.strerror or exc}); choose a folder you "
            "can write to with --out"
        ) from None
    return out


def partial_name(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    return path.with_name(f".{path.name}.partial")


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text through a temporary file renamed into place."""
    path = Path(path)
    tmp = partial_name(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc}") from None
    return path


class GeoTiffWriter:
    """Incremental GeoTIFF writer: rows arrive top to bottom as ``(n, W, bands)`` arrays.

    Rows are buffered to whole tile rows (256) so GDAL writes every compressed tile once. Use as a
    context manager: on a clean exit the file is renamed to ``path``; on an error it is removed.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        height: int,
        width: int,
        count: int,
        dtype: str = "float32",
        crs: Any = None,
        transform: Any = None,
        descriptions: Sequence[str] = (),
        nodata: float | None = None,
        overview_resampling: str | None = None,
    ):
        self.path = Path(path)
        self.tmp = partial_name(self.path)
        self.stream = self.path.with_name(f".{self.path.name}.stream.partial")
        self.height, self.width, self.count, self.dtype = height, width, count, np.dtype(dtype)
        self.resampling = overview_resampling or ("average" if self.dtype.kind == "f" else "mode")
        self._buf = np.zeros((TILE, width, count), self.dtype)
        self._buf_y0, self._filled, self._next = 0, 0, 0
        self._profile = {
            "driver": "GTiff", "height": height, "width": width, "count": count,
            "dtype": self.dtype.name, "crs": crs, "transform": transform, "nodata": nodata,
            "tiled": True, "blockxsize": TILE, "blockysize": TILE, "compress": "deflate",
            "predictor": 3 if self.dtype.kind == "f" else 2, "interleave": "band",
            "BIGTIFF": "IF_SAFER",
        }  # fmt: skip
        if transform is None:
            self._profile.pop("transform")
        self.descriptions = list(descriptions)
        self._ds: Any = None

    def __enter__(self) -> GeoTiffWriter:
        import warnings

        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._ds = rasterio.open(self.stream, "w", **self._profile)
        except Exception as exc:  # rasterio raises RasterioIOError, CPLE_* ...
            raise OutputError(f"cannot create GeoTIFF {self.path}: {exc}") from None
        for i, d in enumerate(self.descriptions[: self.count]):
            self._ds.set_band_description(i + 1, str(d))
        return self

    def write_rows(self, y0: int, rows: np.ndarray) -> None:
        """Append rows ``[y0, y0 + n)``; they must follow the previous ones."""
        if y0 != self._next:
            raise OutputError(
                f"{self.path}: rows must arrive in order (got {y0}, expected {self._next})"
            )
        rows = np.asarray(rows)
        i = 0
        while i < len(rows):
            take = min(TILE - self._filled, len(rows) - i)
            self._buf[self._filled : self._filled + take] = rows[i : i + take]
            self._filled += take
            i += take
            if self._filled == TILE or self._buf_y0 + self._filled == self.height:
                self._flush()
        self._next = y0 + len(rows)

    def write(self, array_hwc: np.ndarray) -> None:
        """Write the whole image at once."""
        self.write_rows(0, array_hwc)

    def _flush(self) -> None:
        from rasterio.windows import Window

        n = self._filled
        if n:
            data = np.moveaxis(self._buf[:n], -1, 0)
            self._ds.write(data, window=Window(0, self._buf_y0, self.width, n))
        self._buf_y0 += n
        self._filled = 0

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        ok = exc_type is None and self._next == self.height
        try:
            if self._ds is not None:
                self._ds.close()
            if ok:
                self._to_cog()
                os.replace(self.tmp, self.path)
        finally:
            self.stream.unlink(missing_ok=True)
            if not ok:
                self.tmp.unlink(missing_ok=True)
                if exc_type is None:
                    raise OutputError(
                        f"{self.path}: only {self._next} of {self.height} rows written"
                    )

    def _to_cog(self) -> None:
        """Copy the streamed GeoTIFF into the COG layout (tiles, then overviews)."""
        import warnings

        from rasterio.errors import NotGeoreferencedWarning
        from rasterio.shutil import copy as rio_copy

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                rio_copy(
                    self.stream, self.tmp, driver="COG", BLOCKSIZE=TILE, COMPRESS="DEFLATE",
                    PREDICTOR="YES", OVERVIEW_RESAMPLING=self.resampling.upper(),
                    BIGTIFF="IF_SAFER",
                )  # fmt: skip
        except Exception as exc:  # rasterio raises CPLE_* for disk full, bad options ...
            self.tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write Cloud-Optimized GeoTIFF {self.path}: {exc}") from None


def write_geotiff(
    path: str | Path,
    array_hwc: np.ndarray,
    *,
    crs: Any = None,
    transform: Any = None,
    descriptions: Sequence[str] = (),
    nodata: float | None = None,
    overview_resampling: str | None = None,
) -> Path:
    """Write an ``(H, W, bands)`` array as a Cloud-Optimized GeoTIFF (atomically); overviews
    average floats and take the mode of integers unless ``overview_resampling`` says otherwise."""
    arr = np.asarray(array_hwc)
    if arr.ndim == 2:
        arr = arr[..., None]
    with GeoTiffWriter(
        path, height=arr.shape[0], width=arr.shape[1], count=arr.shape[2], dtype=arr.dtype.name,
        crs=crs, transform=transform, descriptions=descriptions, nodata=nodata,
        overview_resampling=overview_resampling,
    ) as w:  # fmt: skip
        w.write(arr)
    return Path(path)


# ------------------------------------------------------------------ polygons
def mask_polygons(
    mask: np.ndarray, *, min_area: float = 0.0, simplify: float = 0.0, transform: Any = None
) -> Any:
    """A valid shapely MultiPolygon of the 1-pixels of ``mask`` (holes kept).

    ``min_area`` (pixels) drops smaller parts and ``simplify`` (pixels) simplifies preserving
    topology, both in pixel space; ``transform`` (an affine.Affine) then maps pixel corners to the
    image's coordinates.
    """
    from shapely.affinity import affine_transform

    from satseg.io.vectors import mask_to_polygons

    multi = mask_to_polygons(np.asarray(mask), min_area=min_area, simplify=simplify)
    if transform is not None and not multi.is_empty:
        t = transform
        multi = affine_transform(multi, [t.a, t.b, t.d, t.e, t.c, t.f])
    return multi


def _crs_string(crs: Any) -> str | None:
    if crs is None:
        return None
    epsg = crs.to_epsg() if hasattr(crs, "to_epsg") else None
    return f"EPSG:{epsg}" if epsg else str(crs)


def masks_to_geojson(
    masks: np.ndarray,
    class_names: Sequence[str],
    *,
    colours: Sequence[str] = (),
    transform: Any = None,
    crs: Any = None,
    min_area: Sequence[float] | float = 0.0,
    simplify: float = 0.0,
    image_id: str = "",
) -> dict[str, Any]:
    """FeatureCollection: one MultiPolygon feature per class with ``class``, ``colour``, ``image``.

    Coordinates are in the input's CRS through ``transform``, or pixels when it has none; the CRS
    is noted in the (pre-RFC 7946) ``crs`` member and in each feature's ``crs`` property.
    """
    from shapely.geometry import mapping

    areas = _per_class(min_area, len(class_names))
    crs_s = _crs_string(crs)
    feats = []
    for k, name in enumerate(class_names):
        geom = mask_polygons(masks[k], min_area=areas[k], simplify=simplify, transform=transform)
        props = {"class": name, "image": image_id, "crs": crs_s or "pixel"}
        if k < len(colours):
            props["colour"] = colours[k]
        feats.append({"type": "Feature", "properties": props, "geometry": mapping(geom)})
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if crs_s:
        doc["crs"] = {"type": "name", "properties": {"name": crs_s}}
    return doc


def masks_to_wkt(
    masks: np.ndarray,
    class_names: Sequence[str],
    *,
    transform: Any = None,
    min_area: Sequence[float] | float = 0.0,
    simplify: float = 0.0,
) -> dict[str, str]:
    """``{class name: MULTIPOLYGON WKT}`` in the input's coordinates (or pixels)."""
    areas = _per_class(min_area, len(class_names))
    return {
        name: mask_polygons(masks[k], min_area=areas[k], simplify=simplify, transform=transform).wkt
        for k, name in enumerate(class_names)
    }


def write_geojson(path: str | Path, doc: dict[str, Any]) -> Path:
    """Write a GeoJSON document atomically."""
    return atomic_write_text(path, json.dumps(doc))


def write_wkt_csv(path: str | Path, image_id: str, wkts: dict[str, str]) -> Path:
    """CSV ``ImageId,Class,MultipolygonWKT`` (one row per class), written atomically."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["ImageId", "Class", "MultipolygonWKT"])
    for name, wkt in wkts.items():
        w.writerow([image_id, name, wkt])
    return atomic_write_text(path, buf.getvalue())


def _per_class(value: Sequence[float] | float, n: int) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)] * n
    vals = [float(v) for v in value]
    if len(vals) != n:
        raise OutputError(f"min_area has {len(vals)} values for {n} classes")
    return vals


# ------------------------------------------------------------------ DSTL submission
def dstl_wkts(
    masks: np.ndarray,
    codes: Sequence[int | None],
    xmax: float,
    ymin: float,
    *,
    min_area: Sequence[float] | float = 0.0,
    simplify: float = 0.0,
) -> dict[int, str]:
    """``{ClassType: WKT}`` in DSTL's obfuscated coordinates for masks ``(K, H, W)`` of one image.

    ``codes`` are the DSTL class types (1..10) of the K classes (None = not submitted); the
    scaling by ``grid_sizes.csv``'s ``Xmax``/``Ymin`` is satseg.io.wkt's.
    """
    from satseg.io.wkt import mask_to_wkt

    areas = _per_class(min_area, len(codes))
    return {
        int(code): mask_to_wkt(masks[k], xmax, ymin, min_area=areas[k], simplify=simplify)
        for k, code in enumerate(codes)
        if code is not None
    }


def write_dstl_submission(
    path: str | Path, predictions: dict[str, dict[int, str]], ids: Sequence[str] | None = None
) -> Path:
    """The competition CSV (every id x class 1..10, empty ones as ``MULTIPOLYGON EMPTY``), written
    under a temporary name by satseg.io.wkt and renamed when complete."""
    from satseg.io.wkt import write_submission

    path = Path(path)
    tmp = partial_name(path)
    try:
        write_submission(tmp, predictions, ids)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
