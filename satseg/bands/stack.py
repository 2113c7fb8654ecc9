"""Band stacks: every band group of a scene registered and resampled onto one grid, lazily.

:func:`build_stack` returns a dask-backed float32 ``xarray.DataArray`` ``(band, y, x)`` with band
coordinates ``wavelength`` (nm), ``group`` and ``max_value`` (for reflectance scaling), invalid
pixels NaN, and the registration offsets in ``attrs["registration"]``. It reads each group's file
window by window (rasterio), so a full DSTL scene (20 bands on 3349 x 3396) is computed chunk by
chunk into whatever target the caller gives (:func:`write_stack`, ``dask.array.store``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satseg.bands.align import (
    apply_resampler,
    axis_resampler,
    refine_offset,
    register_translation,
)
from satseg.bands.sensors import WORLDVIEW3, SensorSpec
from satseg.errors import BandMismatchError, ConfigError, MissingFileError, RasterReadError

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

log = logging.getLogger("satseg.bands.stack")

# moving group -> (reference group, reference bands summed, moving band); in this order
WV3_PAIRS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "P": ("RGB", ("R", "G", "B"), "P"),
    "M": ("RGB", ("G",), "M3"),
    "A": ("M", ("M8",), "A1"),
}
ROW_CHUNK = 512
MIN_REGISTER_PX = 16


@dataclass(frozen=True)
class GroupFile:
    """One band group's raster: path, header shape and band count."""

    name: str
    path: Path
    count: int
    height: int
    width: int
    nodata: float | None

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width


_QUIET = False


def _quiet_georef() -> None:
    """Silence rasterio's NotGeoreferencedWarning (DSTL rasters have no geotransform by design).

    Installed once as a process-wide filter for that one category: ``catch_warnings`` is not
    thread-safe, and windows are read from dask worker threads.
    """
    global _QUIET
    if not _QUIET:
        from rasterio.errors import NotGeoreferencedWarning

        warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
        _QUIET = True


def _open(path: Path) -> Any:
    import rasterio
    from rasterio.errors import RasterioIOError

    _quiet_georef()

    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise RasterReadError(
            f"cannot read raster {path}: {exc}; check that it is a valid GeoTIFF (gdalinfo)"
        ) from None


def group_file(name: str, path: str | Path, expected_bands: int) -> GroupFile:
    """Check that ``path`` exists, opens and has ``expected_bands`` bands."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"band group {name}: raster {path} does not exist")
    with _open(path) as src:
        gf = GroupFile(name, path, src.count, src.height, src.width, src.nodata)
    if gf.count != expected_bands:
        raise BandMismatchError(
            f"band group {name}: {path} has {gf.count} band(s), expected {expected_bands}; "
            "the file is truncated or belongs to another group"
        )
    return gf


def read_window(
    gf: GroupFile, rows: tuple[int, int], cols: tuple[int, int] | None = None, bands=None
) -> np.ndarray:
    """Bands (1-based list, default all) of ``rows``/``cols`` as float32; nodata/NaN/inf -> NaN."""
    from rasterio.windows import Window

    c0, c1 = cols if cols is not None else (0, gf.width)
    win = Window(c0, rows[0], c1 - c0, rows[1] - rows[0])
    failure = None
    try:
        with _open(gf.path) as src:
            arr = src.read(bands, window=win).astype(np.float32, copy=False)
    except RasterReadError:
        raise
    except Exception as exc:  # a corrupt strip surfaces only on read
        from satseg.io.raster import raster_read_error  # names the file, the cause, the fix

        failure = raster_read_error(gf.path, exc, f" (rows {rows[0]}-{rows[1] - 1})")
    if failure is not None:  # outside the except: no unpicklable rasterio error chained (dask)
        raise failure
    bad = ~np.isfinite(arr)
    if bad.any():
        log.warning("%s has %d NaN/inf pixels in rows %s; they are NaN in the stack",
                    gf.path, int(bad.sum()), rows)  # fmt: skip
        arr[bad] = np.nan
    if gf.nodata is not None and np.isfinite(gf.nodata):
        arr[arr == np.float32(gf.nodata)] = np.nan
    return arr


def _band_index(spec: SensorSpec, group: str, band: str) -> int:
    names = [b.name for b in spec.group(group).bands]
    return names.index(band) + 1


def _estimate_offsets(
    files: Mapping[str, GroupFile],
    spec: SensorSpec,
    reference: str,
    pairs: Mapping[str, tuple[str, tuple[str, ...], str]],
    max_size: int,
    refine: int = 384,
) -> dict[str, tuple[float, float]]:
    """Offsets (fractions of the extent, (y, x)) of every group; the reference group is 0."""
    offsets: dict[str, tuple[float, float]] = {reference: (0.0, 0.0)}
    for moving, (ref_group, ref_bands, mov_band) in pairs.items():
        if moving not in files or ref_group not in offsets or ref_group not in files:
            continue
        mf, rf = files[moving], files[ref_group]
        if min(mf.shape) < MIN_REGISTER_PX:
            log.warning("group %s (%dx%d px) is too small to register (< %d px); it keeps the "
                        "offset of %s", moving, *mf.shape, MIN_REGISTER_PX, ref_group)  # fmt: skip
            offsets[moving] = offsets[ref_group]
            continue
        # a centred window of the moving grid, and the reference resampled onto it
        y0, x0 = max(0, (mf.height - max_size) // 2), max(0, (mf.width - max_size) // 2)
        y1, x1 = min(mf.height, y0 + max_size), min(mf.width, x0 + max_size)
        ry = axis_resampler(rf.height, mf.height, offsets[ref_group][0], 0.0)
        rx = axis_resampler(rf.width, mf.width, offsets[ref_group][1], 0.0)
        ry_w = type(ry)(ry.matrix[y0:y1], ry.valid[y0:y1])
        rx_w = type(rx)(rx.matrix[x0:x1], rx.valid[x0:x1])
        s0, s1 = ry_w.src_range(0, y1 - y0)
        t0, t1 = rx_w.src_range(0, x1 - x0)
        idx = [_band_index(spec, ref_group, b) for b in ref_bands]
        ref_src = read_window(rf, (s0, s1), (t0, t1), idx)
        ry_w = type(ry)(ry_w.matrix[:, s0:s1], ry_w.valid)
        rx_w = type(rx)(rx_w.matrix[:, t0:t1], rx_w.valid)
        mov_img = read_window(mf, (y0, y1), (x0, x1), [_band_index(spec, moving, mov_band)])[0]
        weights = _band_weights([apply_resampler(b, ry_w, rx_w) for b in ref_src], mov_img)
        ref_img = sum(
            wt * apply_resampler(b, ry_w, rx_w) for wt, b in zip(weights, ref_src, strict=True)
        )
        dy, dx = register_translation(ref_img, mov_img, max_size=max_size)
        limit = 0.1 * min(mov_img.shape)
        if max(abs(dy), abs(dx)) > limit:
            log.warning("group %s: offset (%.2f, %.2f) px is over 10%% of the %dx%d window; "
                        "registration may have failed (featureless scene?)", moving, dy, dx,
                        *mov_img.shape)  # fmt: skip
        oy, ox = offsets[ref_group]
        found = (oy + dy / mf.height, ox + dx / mf.width)
        if refine and mf.height * 1.5 < rf.height:  # coarse grids (M, A); on P it drifted
            found = _refine(
                rf, idx, offsets[ref_group], mf, mov_img, (y0, x0), found, refine, weights
            )
        offsets[moving] = found
    return offsets


def _band_weights(refs: list[np.ndarray], moving: np.ndarray) -> np.ndarray:
    """Least-squares weights making the reference bands look like the moving band.

    Several reference bands (R, G, B for P) are combined as ``moving ~ sum w_i ref_i + c``,
    which lessens the spectral mismatch the correlation would otherwise chase.
    """
    if len(refs) == 1:
        return np.ones(1)
    x = np.stack([r.ravel() for r in refs] + [np.ones(refs[0].size)], axis=1)
    y = moving.ravel()
    ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
    if ok.sum() < 16:
        return np.ones(len(refs))
    coef, *_ = np.linalg.lstsq(x[ok], y[ok], rcond=None)
    return coef[:-1]


def _refine(
    rf: GroupFile,
    idx: list[int],
    ref_offset: tuple[float, float],
    mf: GroupFile,
    mov_img: np.ndarray,
    origin: tuple[int, int],
    start: tuple[float, float],
    size: int,
    weights: np.ndarray,
) -> tuple[float, float]:
    """Least-squares refinement on a centred window of at most ``size`` moving pixels."""
    h, w = mov_img.shape
    cy, cx = max(0, (h - size) // 2), max(0, (w - size) // 2)
    mov = mov_img[cy : cy + size, cx : cx + size]
    y0, x0 = origin[0] + cy, origin[1] + cx
    pad = 3  # moving pixels: the search stays within 2 px of the start
    ry = axis_resampler(rf.height, mf.height, ref_offset[0], start[0])
    rx = axis_resampler(rf.width, mf.width, ref_offset[1], start[1])
    s0, s1 = ry.src_range(max(0, y0 - pad), min(mf.height, y0 + mov.shape[0] + pad))
    t0, t1 = rx.src_range(max(0, x0 - pad), min(mf.width, x0 + mov.shape[1] + pad))
    ref = read_window(rf, (s0, s1), (t0, t1), idx)
    ref = np.tensordot(weights, ref, axes=1) if len(idx) > 1 else ref[0]
    return refine_offset(ref, (s0, t0), rf.shape, ref_offset, mov, (y0, x0), mf.shape, start)


def _group_block(gf: GroupFile, ry: Any, rx: Any, r0: int, r1: int, band: int) -> np.ndarray:
    """Rows ``r0:r1`` of one band (1-based ``band`` of ``gf``) resampled: ``(1, rows, cols)``.

    One task per band and row block: showing one band of a group reads and resamples that band
    only (resampling all 8 M or A bands for one cost 4-8 times as much).
    """
    sub = type(ry)(ry.matrix[r0:r1], ry.valid[r0:r1])
    s0, s1 = sub.src_range(0, r1 - r0)
    if s1 <= s0:
        return np.full((1, r1 - r0, rx.matrix.shape[0]), np.nan, np.float32)
    src = read_window(gf, (s0, s1), bands=[band])
    sub = type(ry)(sub.matrix[:, s0:s1], sub.valid)
    return apply_resampler(src[0], sub, rx)[None]


def build_stack(
    paths: Mapping[str, str | Path],
    sensor: SensorSpec = WORLDVIEW3,
    *,
    grid: str | None = None,
    reference: str | None = None,
    register: bool = True,
    pairs: Mapping[str, tuple[str, tuple[str, ...], str]] | None = None,
    row_chunk: int = ROW_CHUNK,
    max_register_size: int = 1024,
    refine: int = 384,
    offsets: Mapping[str, tuple[float, float]] | None = None,
) -> xr.DataArray:
    """Register and resample every group in ``paths`` (group name -> raster) onto one grid.

    ``reference`` is the group others are registered against (the sensor's first group);
    ``grid`` the group whose grid the stack uses (default the reference; ``"M"`` for DSTL's
    1.24 m grid). ``offsets`` (extent fractions) skips estimation. Phase correlation runs on a
    centred window of ``max_register_size`` moving pixels, then a least-squares refinement on
    ``refine`` pixels (0 turns it off). Registration pairs default to
    :data:`WV3_PAIRS` for WorldView-3; groups without a pair are not registered.
    """
    import dask
    import dask.array as da
    import xarray as xr

    reference = reference or sensor.groups[0].name
    grid = grid or reference
    names = [g.name for g in sensor.groups]
    unknown = sorted(set(paths) - set(names))
    if unknown:
        raise ConfigError(f"groups {unknown} are not in sensor {sensor.name!r} (groups {names})")
    for need in (reference, grid):
        if need not in paths:
            raise ConfigError(f"group {need!r} has no raster; given: {sorted(paths)}")
    if row_chunk < 16:
        raise ConfigError(f"row_chunk={row_chunk}: give at least 16 rows")
    files = {
        g.name: group_file(g.name, paths[g.name], len(g.bands))
        for g in sensor.groups
        if g.name in paths
    }
    if pairs is None:
        pairs = WV3_PAIRS if sensor.name == WORLDVIEW3.name else {}
    offs: dict[str, tuple[float, float]]
    if offsets is not None:
        offs = {}
        for key in files:
            oy, ox = offsets.get(key, (0.0, 0.0))
            offs[key] = (float(oy), float(ox))
    elif register:
        offs = _estimate_offsets(files, sensor, reference, pairs, max_register_size, refine)
    else:
        offs = {}
    offs = {g: offs.get(g, (0.0, 0.0)) for g in files}
    out_h, out_w = files[grid].shape
    tgt = offs[grid]
    parts: list[Any] = []
    band_names: list[str] = []
    wl: list[float] = []
    grp: list[str] = []
    maxv: list[float] = []
    for g in sensor.groups:
        if g.name not in files:
            continue
        gf = files[g.name]
        ry = axis_resampler(gf.height, out_h, offs[g.name][0], tgt[0])
        rx = axis_resampler(gf.width, out_w, offs[g.name][1], tgt[1])
        for band in range(1, gf.count + 1):
            blocks = []
            for r0 in range(0, out_h, row_chunk):
                r1 = min(out_h, r0 + row_chunk)
                task = dask.delayed(_group_block, pure=True)(gf, ry, rx, r0, r1, band)
                blocks.append(da.from_delayed(task, (1, r1 - r0, out_w), np.float32))
            parts.append(da.concatenate(blocks, axis=1))
        band_names += [b.name for b in g.bands]
        wl += [b.wavelength for b in g.bands]
        grp += [g.name] * len(g.bands)
        maxv += [g.max_value] * len(g.bands)
    data = da.concatenate(parts, axis=0)
    report = {
        g: {
            "dy_px": round(offs[g][0] * files[g].height, 4),
            "dx_px": round(offs[g][1] * files[g].width, 4),
            "dy_ref_px": round(offs[g][0] * files[reference].height, 4),
            "dx_ref_px": round(offs[g][1] * files[reference].width, 4),
        }
        for g in files
    }
    return xr.DataArray(
        data,
        dims=("band", "y", "x"),
        coords={
            "band": band_names,
            "wavelength": ("band", np.asarray(wl, float)),
            "group": ("band", grp),
            "max_value": ("band", np.asarray(maxv, float)),
        },
        attrs={
            "sensor": sensor.name,
            "grid": grid,
            "reference": reference,
            "registration": report,
            "sizes": {g: list(f.shape) for g, f in files.items()},
        },
        name="stack",
    )


from satseg.bands.store import open_stack, write_stack  # noqa: E402  (public here too)

__all__ = ["GroupFile", "WV3_PAIRS", "build_stack", "open_stack", "write_stack"]
