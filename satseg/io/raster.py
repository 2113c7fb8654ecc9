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
    from rasterio._err import CPLE_BaseError
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
    except (RasterioIOError, CPLE_BaseError) as exc:
        failure = RasterReadError(
            f"cannot read raster {path}: {exc}; check that it is a valid GeoTIFF (gdalinfo)"
        )
    raise failure  # outside the except: no unpicklable rasterio error chained (dask workers)


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
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    failure = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.read()
    except (RasterioIOError, CPLE_BaseError) as exc:
        failure = raster_read_error(path, exc)
    raise failure  # outside the except: no unpicklable rasterio error chained (dask workers)


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


_BAD_FILE_FIX = (
    "the file is truncated or corrupt: copy or download it again, or re-export it "
    "(`gdalinfo -checksum FILE` reads every block)"
)


def raster_read_error(path: Path, exc: BaseException, where: str = "") -> RasterReadError:
    """A one-line RasterReadError naming ``path`` for any failure of GDAL/Pillow to decode it.

    GDAL's own last message ("Read failed. See previous exception for details.") is replaced by
    the underlying cause where rasterio chained one."""
    detail = ""
    cause: BaseException | None = exc
    while cause is not None:
        text = " ".join(str(cause).split())
        if text and "See previous exception" not in text:
            detail = text
            break
        cause = cause.__cause__ or cause.__context__
    if not detail:
        detail = "the pixel data cannot be decoded"
    return RasterReadError(f"cannot read raster {path}{where}: {detail[:300]}; {_BAD_FILE_FIX}")


class _WindowReader:
    """Array-like over one GeoTIFF for ``dask.array.from_array``: each chunk opens the file and
    reads its window. Any decoding failure (truncated strips, bad compression) becomes a
    :class:`RasterReadError` naming the file, raised from the chunk that met it, whenever dask
    computes it (training, prediction, ``data stack``). Picklable: only the path and shape."""

    def __init__(self, path: Path, count: int, height: int, width: int, nodata: float | None):
        self.path = path
        self.shape = (count, height, width)
        self.dtype = np.dtype(np.float32)
        self.ndim = 3
        self.nodata = nodata  # the file's nodata tag, masked as NaN (None: nothing masked)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning
        from rasterio.windows import Window

        bands, ys, xs = (k.indices(n) for k, n in zip(key, self.shape, strict=True))
        window = Window.from_slices((ys[0], ys[1]), (xs[0], xs[1]))
        failure = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(self.path) as src:
                    block = src.read(list(range(bands[0] + 1, bands[1] + 1)), window=window)
        except Exception as exc:  # rasterio raises several types (RasterioIOError, CPLE_*)
            where = f" (rows {ys[0]}-{ys[1] - 1}, columns {xs[0]}-{xs[1] - 1})"
            failure = raster_read_error(self.path, exc, where)
        if failure is not None:
            # raised outside the except block, so it carries no chained rasterio exception:
            # dask.distributed pickles the whole chain to the client, and rasterio's errors do
            # not unpickle (the client would get a bare Exception instead of this one)
            raise failure
        out = block.astype(np.float32)
        if self.nodata is not None and not np.isnan(self.nodata):
            out[block == np.asarray(self.nodata).astype(block.dtype)] = np.nan
        return out


def _lazy_tiff(path: Path, info: RasterInfo, chunks: dict[str, int | str] | None, masked: bool):
    import dask.array as da
    import rasterio
    from dask.base import tokenize

    want = {"band": -1, "y": "auto", "x": "auto", **(chunks or {})}
    try:
        with rasterio.open(path) as src:
            block = (1, *src.block_shapes[0])
    except Exception:  # noqa: BLE001 - the header was read a moment ago; keep the default
        block = (1, 256, 256)
    shape = (info.count, info.height, info.width)
    norm = da.core.normalize_chunks(
        (want["band"], want["y"], want["x"]), shape=shape, dtype=np.float32,
        previous_chunks=block,
    )
    reader = _WindowReader(path, *shape, info.nodata if masked else None)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    # a deterministic name (file, its mtime, the chunks): a rewritten file gets new dask keys
    name = f"read-raster-{tokenize(str(path.resolve()), stamp, norm, reader.nodata)}"
    return da.from_array(reader, chunks=norm, asarray=False, fancy=False,  # type: ignore[arg-type]
                         name=name)


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
                # Coordinates and CRS only (lazy, no pixels): the pixels come from _WindowReader.
                opened = rioxarray.open_rasterio(path, cache=False)
        except Exception as exc:  # rasterio raises several types here
            raise RasterReadError(
                f"cannot read raster {path}: {exc}; check that it is a valid GeoTIFF (gdalinfo)"
            ) from None
        if not isinstance(opened, xr.DataArray):
            raise RasterReadError(f"{path} holds subdatasets; export the image as one GeoTIFF")
        data = _lazy_tiff(path, info, chunks, masked=nodata is None)
        arr = xr.DataArray(data, dims=opened.dims, coords=opened.coords)
        if info.crs is None and info.transform is None:
            arr = arr.drop_vars([c for c in ("x", "y") if c in arr.coords])
    if nodata is not None:
        arr = arr.where(arr != np.float32(nodata))
    arr = arr.copy(data=arr.data.map_blocks(_fix_nonfinite, str(path), dtype=np.float32))
    arr.attrs = {"source": str(path)}
    return arr.astype(np.float32)
