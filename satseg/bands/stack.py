"""Band stacks: every band group of a scene registered and resampled onto one grid, lazily.

:func:`build_stack` returns a dask-backed float32 ``xarray.DataArray`` ``(band, y, x)`` with band
coordinates ``wavelength`` (nm), ``group`` and ``max_value`` (for reflectance scaling), invalid
pixels NaN, and the registration offsets in ``attrs["registration"]``. It reads each group's file
window by window (rasterio), so a full DSTL scene (20 bands on 3349 x 3396) is computed chunk by
chunk into whatever target the caller gives (:func:`write_stack`, ``dask.array.store``).
"""

from __future__ import annotations

import json
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


def _open(path: Path) -> Any:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise RasterReadError(
            f"cannot read raster {path}: {exc}; check that it is a valid GeoTIFF (gdalinfo)"
        ) from None


def group_file(name: str, path: str | Path, expected_bands: int) -> GroupFile:
    """Check that ``path`` exists, opens and has ``expected_bands`` bands."""
    from rasterio.errors import NotGeoreferencedWarning

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"band group {name}: raster {path} does not exist")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
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
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.windows import Window

    c0, c1 = cols if cols is not None else (0, gf.width)
    win = Window(c0, rows[0], c1 - c0, rows[1] - rows[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with _open(gf.path) as src:
                arr = src.read(bands, window=win).astype(np.float32, copy=False)
    except RasterReadError:
        raise
    except Exception as exc:  # a corrupt strip surfaces only on read
        raise RasterReadError(f"cannot decode {gf.path} rows {rows}: {exc}") from None
    if gf.nodata is not None and np.isfinite(gf.nodata):
        arr[arr == np.float32(gf.nodata)] = np.nan
    bad = ~np.isfinite(arr)
    if bad.any():
        n = int(bad.sum() - np.isnan(arr).sum()) if gf.nodata is not None else int(bad.sum())
        if n:
            log.warning("%s has %d NaN/inf pixels in rows %s; they are NaN in the stack",
                        gf.path, n, rows)  # fmt: skip
        arr[bad] = np.nan
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
    refine_below: int = 400,
) -> dict[str, tuple[float, float]]:
    """Offsets (fractions of the extent, (y, x)) of every group; the reference group is 0."""
    offsets: dict[str, tuple[float, float]] = {reference: (0.0, 0.0)}
    for moving, (ref_group, ref_bands, mov_band) in pairs.items():
        if moving not in files or ref_group not in offsets or ref_group not in files:
            continue
        mf, rf = files[moving], files[ref_group]
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
        ref_src = read_window(rf, (s0, s1), (t0, t1), idx).sum(axis=0)
        ry_w = type(ry)(ry_w.matrix[:, s0:s1], ry_w.valid)
        rx_w = type(rx)(rx_w.matrix[:, t0:t1], rx_w.valid)
        ref_img = apply_resampler(ref_src, ry_w, rx_w)
        mov_img = read_window(mf, (y0, y1), (x0, x1), [_band_index(spec, moving, mov_band)])[0]
        dy, dx = register_translation(ref_img, mov_img, max_size=max_size)
        found = (offsets[ref_group][0] + dy / mf.height, offsets[ref_group][1] + dx / mf.width)
        if max(mf.shape) <= refine_below and (y1 - y0, x1 - x0) == mf.shape:
            ref_band = read_window(rf, (0, rf.height), None, idx).sum(axis=0)
            found = refine_offset(ref_band, offsets[ref_group], rf.shape, mov_img, found)
        offsets[moving] = found
    return offsets


def _group_block(
    gf: GroupFile, ry: Any, rx: Any, r0: int, r1: int, count: int
) -> np.ndarray:
    sub = type(ry)(ry.matrix[r0:r1], ry.valid[r0:r1])
    s0, s1 = sub.src_range(0, r1 - r0)
    if s1 <= s0:
        return np.full((count, r1 - r0, rx.matrix.shape[0]), np.nan, np.float32)
    src = read_window(gf, (s0, s1))
    sub = type(ry)(sub.matrix[:, s0:s1], sub.valid)
    return np.stack([apply_resampler(src[b], sub, rx) for b in range(count)])


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
    offsets: Mapping[str, tuple[float, float]] | None = None,
) -> xr.DataArray:
    """Register and resample every group in ``paths`` (group name -> raster) onto one grid.

    ``reference`` is the group others are registered against (the sensor's first group);
    ``grid`` the group whose grid the stack uses (default the reference; ``"M"`` for DSTL's
    1.24 m grid). ``offsets`` (extent fractions) skips estimation. Registration pairs default to
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
    for g in (reference, grid):
        if g not in paths:
            raise ConfigError(f"group {g!r} has no raster; given: {sorted(paths)}")
    if row_chunk < 16:
        raise ConfigError(f"row_chunk={row_chunk}: give at least 16 rows")
    files = {
        g.name: group_file(g.name, paths[g.name], len(g.bands))
        for g in sensor.groups
        if g.name in paths
    }
    if pairs is None:
        pairs = WV3_PAIRS if sensor.name == WORLDVIEW3.name else {}
    if offsets is not None:
        offs = {g: tuple(map(float, offsets.get(g, (0.0, 0.0)))) for g in files}
    elif register:
        offs = _estimate_offsets(files, sensor, reference, pairs, max_register_size)
    else:
        offs = {}
    offs = {g: offs.get(g, (0.0, 0.0)) for g in files}
    out_h, out_w = files[grid].shape
    tgt = offs[grid]
    parts, band_names, wl, grp, maxv = [], [], [], [], []
    for g in sensor.groups:
        if g.name not in files:
            continue
        gf = files[g.name]
        ry = axis_resampler(gf.height, out_h, offs[g.name][0], tgt[0])
        rx = axis_resampler(gf.width, out_w, offs[g.name][1], tgt[1])
        blocks = []
        for r0 in range(0, out_h, row_chunk):
            r1 = min(out_h, r0 + row_chunk)
            task = dask.delayed(_group_block, pure=True)(gf, ry, rx, r0, r1, gf.count)
            blocks.append(da.from_delayed(task, (gf.count, r1 - r0, out_w), np.float32))
        parts.append(da.concatenate(blocks, axis=1))
        band_names += [b.name for b in g.bands]
        wl += [b.wavelength for b in g.bands]
        grp += [g.name] * len(g.bands)
        maxv += [g.max_value] * len(g.bands)
    data = da.concatenate(parts, axis=0)
    report = {
        g: {
            "dy_px": offs[g][0] * files[g].height,
            "dx_px": offs[g][1] * files[g].width,
            "dy_ref_px": offs[g][0] * files[reference].height,
            "dx_ref_px": offs[g][1] * files[reference].width,
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
