"""Reading rasters: GeoTIFF (rasterio/rioxarray) and JPEG/PNG (Pillow), lazily where it matters.

Images come back as dask-backed float32 ``(band, y, x)`` DataArrays with invalid pixels (nodata,
NaN, inf) set to NaN; masks come back eagerly as numpy arrays (they are read whole anyway). Every
failure raises a :mod:`satseg.errors` subclass naming the file, the rule and the fix.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satseg.errors import MissingFileError, RasterReadError

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

log = logging.getLogger("satseg.io.raster")

PILLOW_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif"})
TIFF_SUFFIXES = frozenset({".tif", ".tiff"})


@dataclass(frozen=True)
class RasterInfo:
    """Header facts of one raster file (no pixels read)."""

    path: Path
    count: int
    height: int
    width: int
    dtype: str
    crs: Any = None  # rasterio CRS or None
    transform: Any = None  # affine.Affine or None (identity transforms count as none)
    nodata: float | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise MissingFileError(
            f"raster {path} does not exist: check the file name, or the pattern in satseg.yaml "
            "that points to it"
        )


def _uses_pillow(path: Path) -> bool:
    return path.suffix.lower() in PILLOW_SUFFIXES


def raster_info(path: str | Path) -> RasterInfo:
    """Read the header of ``path`` (band count, size, dtype, CRS, transform, nodata)."""
    path = Path(path)
    _check_exists(path)
    if _uses_pillow(path):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                bands = 3 if im.mode == "P" else len(im.getbands())
                return RasterInfo(path, bands, im.height, im.width, "uint8")
        except (UnidentifiedImageError, OSError) as exc:
            raise RasterReadError(
                f"cannot read image {path}: {exc}; re-export it as a valid JPEG/PNG/GeoTIFF"
            ) from None
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                transform = None if src.transform.is_identity else src.transform
                return RasterInfo(
                    path,
                    src.count,
                    src.height,
                    src.width,
                    str(src.dtypes[0]),
                    src.crs,
                    transform,
                    src.nodata,
                )
    except RasterioIOError as exc:
        raise RasterReadError(
            f"cannot read raster {path}: {exc}; check that it is a valid GeoTIFF (gdalinfo)"
        ) from None


def _fix_nonfinite(block: np.ndarray, source: str) -> np.ndarray:
    bad = ~np.isfinite(block)
    if bad.any():
        log.warning(
            "%s has %d NaN/inf pixels in a %s block; they are masked as NaN",
            source,
            int(bad.sum()),
            "x".join(map(str, block.shape)),
        )
        block = np.where(bad, np.float32(np.nan), block)
    return block


def _pillow_read(path: Path) -> np.ndarray:
    """All bands of a JPEG/PNG as ``(band, y, x)`` (palette images decoded to RGB)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as src:
            im: Image.Image = src
            if im.mode in ("P", "PA"):
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode in ("I;16", "I;16B", "I;16L"):
                im = im.convert("I")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise RasterReadError(
            f"cannot decode image {path}: {exc}; re-export it as a valid JPEG/PNG"
        ) from None
    return arr[np.newaxis] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)


def read_array(path: str | Path) -> np.ndarray:
    """Read every band of ``path`` eagerly as ``(band, y, x)`` in the file's dtype (for masks)."""
    path = Path(path)
    _check_exists(path)
    if _uses_pillow(path):
        return _pillow_read(path)
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.read()
    except RasterioIOError as exc:
        raise RasterReadError(
            f"cannot read raster {path}: {exc}; check that it is a valid GeoTIFF (gdalinfo)"
        ) from None


def _pillow_lazy(info: RasterInfo):
    import dask
    import dask.array as da

    def load(path: Path = info.path) -> np.ndarray:
        arr = _pillow_read(path)
        if arr.shape[0] != info.count:  # e.g. an alpha channel beyond the header's guess
            arr = arr[: info.count]
        return arr.astype(np.float32)

    return da.from_delayed(
        dask.delayed(load, pure=True)(),
        shape=(info.count, info.height, info.width),
        dtype=np.float32,
    )


def load_raster(
    path: str | Path,
    *,
    nodata: float | None = None,
    chunks: dict[str, int | str] | None = None,
    info: RasterInfo | None = None,
) -> xr.DataArray:
    """Open ``path`` lazily as a float32 ``(band, y, x)`` DataArray (dask-backed).

    Pixels equal to ``nodata`` (or the file's own nodata tag when ``nodata`` is None), NaN or inf
    are NaN in the result; non-finite pixels are reported through a logging warning when read.
    GeoTIFF transform and CRS are written with rioxarray where the file has them; JPEG/PNG have none.
    """
    import xarray as xr

    path = Path(path)
    info = info or raster_info(path)
    if _uses_pillow(path):
        data = _pillow_lazy(info)
        arr = xr.DataArray(data, dims=("band", "y", "x"))
    else:
        import rioxarray  # noqa: F401  (registers .rio)
        from rasterio.errors import NotGeoreferencedWarning

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                opened = rioxarray.open_rasterio(
                    path,
                    chunks=chunks or {"band": -1, "y": "auto", "x": "auto"},
                    masked=nodata is None,
                )
        except Exception as exc:  # rasterio raises several types here
            raise RasterReadError(
                f"cannot read raster {path}: {exc}; check that it is a valid GeoTIFF (gdalinfo)"
            ) from None
        if not isinstance(opened, xr.DataArray):
            raise RasterReadError(f"{path} holds subdatasets; export the image as one GeoTIFF")
        arr = opened.astype(np.float32)
        if info.crs is None and info.transform is None:
            arr = arr.drop_vars([c for c in ("x", "y") if c in arr.coords])
    if nodata is not None:
        arr = arr.where(arr != np.float32(nodata))
    arr = arr.copy(data=arr.data.map_blocks(_fix_nonfinite, str(path), dtype=np.float32))
    arr.attrs = {"source": str(path)}
    return arr.astype(np.float32)
