"""The DSTL Satellite Imagery Feature Detection layout (DOMAIN.md section 1).

::

    root/three_band/{id}.tif          R, G, B (11-bit, 0.31 m)
    root/sixteen_band/{id}_P.tif      panchromatic (about the RGB grid, often 1 px smaller)
    root/sixteen_band/{id}_M.tif      8 multispectral bands (about 1/4 of RGB)
    root/sixteen_band/{id}_A.tif      8 SWIR bands (about 1/25 of RGB, 14-bit)
    root/train_wkt_v4.csv             ImageId,ClassType,MultipolygonWKT (labels; optional)
    root/grid_sizes.csv               ,Xmax,Ymin

:meth:`DstlDataset.load_image` registers and stacks all 20 bands on the RGB grid (or the M grid)
through :func:`satseg.bands.stack.build_stack`; labels are rasterised onto that grid.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satseg.bands.sensors import WORLDVIEW3
from satseg.errors import ConfigError, DataError, LabelError, MissingFileError
from satseg.io.dataset import ClassInfo, Labels, SegDataset
from satseg.io.vectors import polygons_to_mask
from satseg.io.wkt import (
    parse_wkt,
    read_grid_sizes,
    read_wkt_csv,
    to_pixels,
    write_submission,
)

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

log = logging.getLogger("satseg.io.dstl")

DSTL_CLASSES = (
    ClassInfo(name="Buildings", colour="#9c9c9c", code=1),
    ClassInfo(name="Misc. manmade structures", colour="#6b5b95", code=2),
    ClassInfo(name="Road", colour="#303030", code=3),
    ClassInfo(name="Track", colour="#c8a165", code=4),
    ClassInfo(name="Trees", colour="#1b7837", code=5),
    ClassInfo(name="Crops", colour="#a6d96a", code=6),
    ClassInfo(name="Waterway", colour="#2166ac", code=7),
    ClassInfo(name="Standing water", colour="#67a9cf", code=8),
    ClassInfo(name="Vehicle large", colour="#d73027", code=9),
    ClassInfo(name="Vehicle small", colour="#fdae61", code=10),
)
GRIDS = {"rgb": "RGB", "m": "M"}
WKT_FILE = "train_wkt_v4.csv"

__all__ = ["DSTL_CLASSES", "DstlDataset", "write_submission"]


class DstlDataset(SegDataset):
    """A folder in the DSTL layout; see the module docstring."""

    kind = "dstl"

    def __init__(self, root: str | Path, name: str | None = None, register: bool = True):
        root = Path(root)
        super().__init__(root, name or root.name, DSTL_CLASSES)
        self.register = register
        self.sensor = WORLDVIEW3
        self._offsets: dict[str, dict[str, tuple[float, float]]] = {}
        if not (root / "three_band").is_dir():
            raise MissingFileError(
                f"{root} is not a DSTL folder: three_band/ is missing (expected "
                "three_band/{id}.tif, sixteen_band/{id}_P|M|A.tif, grid_sizes.csv)"
            )
        if not self.ids():
            raise DataError(
                f"DSTL folder {root} is empty: three_band/ holds no .tif images; copy the "
                "competition's three_band/ and sixteen_band/ folders there"
            )

    # ------------------------------------------------------------------ listing
    @property
    def band_names(self) -> tuple[str, ...]:
        return self.sensor.band_names

    def ids(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "three_band").glob("*.tif"))

    @cached_property
    def grid_sizes(self) -> dict[str, tuple[float, float]]:
        """``{image_id: (Xmax, Ymin)}`` from ``grid_sizes.csv``."""
        return read_grid_sizes(self.root / "grid_sizes.csv")

    @cached_property
    def wkt(self) -> dict[str, dict[int, str]]:
        """``{image_id: {class: wkt}}`` from ``train_wkt_v4.csv`` (empty when absent)."""
        path = self.root / WKT_FILE
        return read_wkt_csv(path) if path.is_file() else {}

    def labelled_ids(self) -> list[str]:
        have = set(self.ids())
        return sorted(i for i in self.wkt if i in have)

    # ------------------------------------------------------------------ rasters
    def group_path(self, image_id: str, group: str) -> Path:
        """The raster file of ``group`` (RGB, P, M or A) of a scene; missing files raise."""
        self.check_id(image_id)
        spec = self.sensor.group(group)
        path = self.root / spec.file_pattern.format(id=image_id)
        if not path.is_file():
            raise MissingFileError(
                f"scene '{image_id}' has no {group} band: expected "
                f"{spec.file_pattern.format(id=image_id)} under {self.root}"
            )
        return path

    def group_paths(self, image_id: str) -> dict[str, Path]:
        return {g.name: self.group_path(image_id, g.name) for g in self.sensor.groups}

    def read_group(self, image_id: str, group: str) -> xr.DataArray:
        """One group's raster as it is on disk: lazy float32 ``(band, y, x)``, band names set."""
        from satseg.io.raster import load_raster

        arr = load_raster(self.group_path(image_id, group))
        names = [b.name for b in self.sensor.group(group).bands]
        if arr.sizes["band"] != len(names):
            from satseg.errors import BandMismatchError

            raise BandMismatchError(
                f"{self.group_path(image_id, group)} has {arr.sizes['band']} band(s), expected "
                f"{len(names)} for group {group}"
            )
        return arr.assign_coords(band=names)

    def group_shape(self, image_id: str, group: str) -> tuple[int, int]:
        from satseg.bands.stack import group_file

        n = len(self.sensor.group(group).bands)
        return group_file(group, self.group_path(image_id, group), n).shape

    def load_image(self, image_id: str, grid: str = "rgb") -> xr.DataArray:
        """All 20 bands registered onto the RGB grid (``grid="m"``: the M grid), lazily."""
        from satseg.bands.stack import build_stack

        key = str(grid).lower()
        if key not in GRIDS:
            raise ConfigError(f"grid={grid!r}: choose one of {sorted(GRIDS)}")
        paths = self.group_paths(image_id)
        known = self._offsets.get(image_id)
        stack = build_stack(
            paths, self.sensor, grid=GRIDS[key], register=self.register, offsets=known
        )
        if known is None:
            reg = stack.attrs["registration"]
            h, w = stack.attrs["sizes"]["RGB"]
            self._offsets[image_id] = {
                g: (v["dy_ref_px"] / h, v["dx_ref_px"] / w) for g, v in reg.items()
            }
            log.info("scene %s offsets (dy, dx) in RGB px: %s", image_id, ", ".join(
                f"{g} ({v['dy_ref_px']:+.2f}, {v['dx_ref_px']:+.2f})" for g, v in reg.items()
            ))  # fmt: skip
        stack.attrs["image_id"] = image_id
        return stack

    def offsets(self, image_id: str) -> dict[str, dict[str, float]]:
        """Registration offsets of a scene (computed on first use), per group, in px."""
        if image_id not in self._offsets:
            self.load_image(image_id)
        shapes = {g.name: self.group_shape(image_id, g.name) for g in self.sensor.groups}
        return {
            g: {
                "dy_px": round(o[0] * shapes[g][0], 4),
                "dx_px": round(o[1] * shapes[g][1], 4),
                "dy_ref_px": round(o[0] * shapes["RGB"][0], 4),
                "dx_ref_px": round(o[1] * shapes["RGB"][1], 4),
            }
            for g, o in self._offsets[image_id].items()
        }

    # ------------------------------------------------------------------ labels
    def _grid_size(self, image_id: str) -> tuple[float, float]:
        if image_id not in self.grid_sizes:
            raise LabelError(
                f"scene '{image_id}' is missing from {self.root / 'grid_sizes.csv'}: add its "
                "Xmax,Ymin row (labels cannot be placed without it)"
            )
        return self.grid_sizes[image_id]

    def label_geometry(self, image_id: str) -> dict[int, Any]:
        """``{class: MultiPolygon}`` in DSTL coordinates (empty for unlabelled scenes)."""
        self.check_id(image_id)
        rows = self.wkt.get(image_id, {})
        where = self.root / WKT_FILE
        return {c: parse_wkt(t, f"{where}: {image_id} class {c}") for c, t in rows.items()}

    def load_labels(self, image_id: str, grid: str = "rgb") -> Labels:
        """Per-class masks on the grid of :meth:`load_image` (holes cleared; classes overlap)."""
        from shapely.affinity import translate

        key = str(grid).lower()
        if key not in GRIDS:
            raise ConfigError(f"grid={grid!r}: choose one of {sorted(GRIDS)}")
        group = GRIDS[key]
        shape = self.group_shape(image_id, group)
        xmax, ymin = self._grid_size(image_id)
        geoms = self.label_geometry(image_id)
        if not geoms:
            raise LabelError(
                f"scene '{image_id}' has no labels in {self.root / WKT_FILE}; labelled scenes: "
                f"{', '.join(self.labelled_ids()[:8]) or 'none'}"
            )
        off = (0.0, 0.0)
        if group != "RGB" and self.register:
            if image_id not in self._offsets:
                self.load_image(image_id)  # registers the scene (offsets are cached)
            off = self._offsets[image_id][group]
        masks = np.zeros((len(self.classes), *shape), np.uint8)
        for i, c in enumerate(self.classes):
            g = geoms.get(int(c.code or 0))
            if g is None or g.is_empty:
                continue
            px = to_pixels(g, shape, xmax, ymin)
            if off != (0.0, 0.0):  # the M grid sits where the M raster was registered
                px = translate(px, xoff=-off[1] * shape[1], yoff=-off[0] * shape[0])
            masks[i] = polygons_to_mask(px, shape)
        return Labels(masks=masks, ignore=np.zeros(shape, bool), classes=self.classes)

    # ------------------------------------------------------------------ summary
    def describe(self, register: int = 3) -> dict[str, Any]:
        """Base summary + band groups, raster sizes per group, and registration offsets.

        Offsets are reported for scenes already loaded, plus (``register`` > 0) the first
        ``register`` labelled scenes, which are registered now.
        """
        d = super().describe()
        d["bands"] = [{"name": b.name, "wavelength": b.wavelength} for b in self.sensor.bands]
        d["band_groups"] = {
            g.name: {
                "bands": [b.name for b in g.bands],
                "resolution_m": g.resolution_m,
                "bit_depth": g.bit_depth,
                "file": g.file_pattern,
            }
            for g in self.sensor.groups
        }
        sizes: dict[str, dict[str, str]] = {}
        for i in self.ids():
            row = {}
            for g in self.sensor.groups:
                try:
                    h, w = self.group_shape(i, g.name)
                    row[g.name] = f"{h}x{w}"
                except MissingFileError:
                    row[g.name] = "missing"
            sizes[i] = row
        d["sizes"] = sizes
        todo = [i for i in (self.labelled_ids() or self.ids())[: max(0, register)]]
        for i in todo:
            if i not in self._offsets and "missing" not in sizes[i].values():
                self.offsets(i)
        d["registration"] = {i: self.offsets(i) for i in sorted(self._offsets)}
        d["grid_sizes_missing"] = sorted(set(self.ids()) - set(self.grid_sizes))
        return d
