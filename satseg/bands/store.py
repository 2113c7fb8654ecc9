"""Writing band stacks to GeoTIFF or zarr chunk by chunk, and reading them back lazily.

GeoTIFF: tiled 256 x 256, DEFLATE (floating-point predictor), ``INTERLEAVE=BAND`` so dask chunks
are written band by band without GDAL rewriting every tile per band (STACK-NOTES: 97 s and 2.9 GB
pixel-interleaved against 5 s and 246 MB band-interleaved). Band names go to the band
descriptions, wavelengths and the stack attributes to tags, so :func:`open_stack` restores them.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satseg.errors import DataError, MissingFileError, OutputError, RasterReadError

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

log = logging.getLogger("satseg.bands.store")


def _json_attrs(stack: xr.DataArray) -> dict[str, Any]:
    return {
        k: v if isinstance(v, (str, int, float)) else json.dumps(v) for k, v in stack.attrs.items()
    }


class _TiffTarget:
    """``dask.array.store`` target writing (band, y, x) windows into an open rasterio dataset."""

    def __init__(self, dst: Any):
        self.dst = dst
        self.lock = threading.Lock()

    def __setitem__(self, key: tuple[slice, slice, slice], value: np.ndarray) -> None:
        from rasterio.windows import Window

        b, y, x = key
        bands = list(range((b.start or 0) + 1, (b.stop or self.dst.count) + 1))
        y0, x0 = y.start or 0, x.start or 0
        win = Window(x0, y0, value.shape[2], value.shape[1])
        with self.lock:
            self.dst.write(np.asarray(value, np.float32), bands, window=win)


def _check_stack(stack: Any) -> None:
    dims = getattr(stack, "dims", None)
    if dims != ("band", "y", "x"):
        raise DataError(f"write_stack needs an xarray DataArray with dims (band, y, x), got {dims}")


def write_stack(stack: xr.DataArray, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write ``stack`` to ``path`` (``.tif``/``.tiff``: GeoTIFF; ``.zarr``: zarr), chunk-wise."""
    _check_stack(stack)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tif", ".tiff", ".zarr"):
        raise OutputError(f"{path}: a stack is written to .tif/.tiff (GeoTIFF) or .zarr")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; remove it or pass overwrite=True")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {path.parent}: {exc}") from None
    if suffix == ".zarr":
        _write_zarr(stack, path)
    else:
        _write_tiff(stack, path)
    log.info("wrote stack %s (%s bands)", path, stack.sizes["band"])
    return path


def _write_tiff(stack: xr.DataArray, path: Path) -> None:
    import dask.array as da
    import rasterio

    n, h, w = (int(stack.sizes[d]) for d in ("band", "y", "x"))
    profile: dict[str, Any] = dict(
        driver="GTiff", count=n, height=h, width=w, dtype="float32", nodata=np.nan,
        tiled=True, blockxsize=256, blockysize=256, compress="deflate", predictor=3,
        interleave="band", BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
    )  # fmt: skip
    if h < 256 or w < 256:
        profile.update(tiled=False, blockxsize=None, blockysize=None)
        profile = {k: v for k, v in profile.items() if v is not None}
    rio = getattr(stack, "rio", None)
    try:
        crs = rio.crs if rio is not None else None
        if rio is not None and crs is not None:
            profile.update(crs=crs, transform=rio.transform())
    except Exception:  # no rioxarray metadata on this stack
        pass
    data = stack.data if hasattr(stack.data, "dask") else da.from_array(np.asarray(stack.data))
    names = [str(b) for b in stack.coords["band"].values]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path, "w", **profile) as dst:
                da.store(data.astype(np.float32), _TiffTarget(dst), lock=False)  # type: ignore[arg-type]
                for i, name in enumerate(names, start=1):
                    dst.set_band_description(i, name)
                    tags = {
                        str(c): str(stack.coords[c].values[i - 1])
                        for c, v in stack.coords.items()
                        if v.dims == ("band",) and c != "band"
                    }
                    dst.update_tags(i, **tags)
                dst.update_tags(satseg_attrs=json.dumps(_json_attrs(stack)))
    except rasterio.errors.RasterioIOError as exc:
        raise OutputError(f"cannot write GeoTIFF {path}: {exc}") from None


def _write_zarr(stack: xr.DataArray, path: Path) -> None:
    """Zarr format 2 (band names as fixed-width strings have no zarr v3 spec yet)."""
    out = stack.copy()
    out.attrs = _json_attrs(stack)
    out.name = "stack"
    rows = int(stack.chunks[1][0]) if stack.chunks else min(512, int(stack.sizes["y"]))
    out = out.chunk({"band": 1, "y": rows, "x": -1})  # zarr needs uniform chunks

    try:
        out.to_dataset().to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    except OSError as exc:
        raise OutputError(f"cannot write zarr {path}: {exc}") from None


def open_stack(path: str | Path, chunks: dict[str, int] | None = None) -> xr.DataArray:
    """Read a stack written by :func:`write_stack` back lazily (dask), with its band coords."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"stack {path} does not exist")
    if path.suffix.lower() == ".zarr":
        try:
            ds = xr.open_zarr(path)
        except Exception as exc:
            raise RasterReadError(f"cannot open zarr stack {path}: {exc}") from None
        arr = ds["stack"]
    else:
        arr = _open_tiff(path, chunks)
    arr.attrs = {k: _maybe_json(v) for k, v in arr.attrs.items()}
    return arr


def _maybe_json(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in ("{", "["):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _open_tiff(path: Path, chunks: dict[str, int] | None) -> xr.DataArray:
    import rasterio
    import rioxarray
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        try:
            opened = rioxarray.open_rasterio(path, chunks=chunks or {"band": 1, "y": 1024, "x": -1})
            with rasterio.open(path) as src:
                names = [d or f"b{i + 1}" for i, d in enumerate(src.descriptions)]
                band_tags = [src.tags(i + 1) for i in range(src.count)]
                attrs = json.loads(src.tags().get("satseg_attrs", "{}"))
        except rasterio.errors.RasterioIOError as exc:
            raise RasterReadError(f"cannot open GeoTIFF stack {path}: {exc}") from None
    if not isinstance(opened, xr.DataArray):
        raise RasterReadError(f"{path} holds subdatasets, not one band stack")
    arr = opened
    coords: dict[str, Any] = {"band": names}
    for key in band_tags[0] if band_tags else {}:
        vals = [t.get(key, "") for t in band_tags]
        try:
            coords[key] = ("band", np.asarray(vals, dtype=float))
        except ValueError:
            coords[key] = ("band", vals)
    arr = arr.assign_coords(coords).astype(np.float32)
    if arr.rio.crs is None:
        arr = arr.drop_vars([c for c in ("x", "y", "spatial_ref") if c in arr.coords])
    arr.attrs = attrs
    arr.name = "stack"
    return arr
