"""Generic data sets described by a ``satseg.yaml`` manifest (see ``docs/manifest.md``).

Images are found with the manifest's path pattern; its ``{placeholders}`` form the image id
(``{tile}/images/{name}.jpg`` -> ``tile_1/image_part_001``) and locate the label file. A
``{band}`` placeholder means one file per band, stacked in the declared band order.
"""

from __future__ import annotations

import glob as globmod
import logging
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from satseg.errors import BandMismatchError, DataError, LabelError, ManifestError
from satseg.io.dataset import ClassInfo, Labels, SegDataset
from satseg.io.manifest import (
    BAND_PLACEHOLDER,
    MANIFEST_NAME,
    Manifest,
    load_manifest,
    placeholders,
)
from satseg.io.raster import RasterInfo, load_raster, raster_info, read_array

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

log = logging.getLogger("satseg.io.generic")
_SPLIT = re.compile(r"(\{[A-Za-z_][A-Za-z0-9_]*\})")


def _compile(pattern: str) -> tuple[re.Pattern[str], str]:
    """Pattern -> (regex over relative posix paths, glob). ``*``/``?`` are wildcards in one folder."""
    rx, gl, seen = [], [], set()
    for part in _SPLIT.split(pattern):
        if _SPLIT.fullmatch(part):
            name = part[1:-1]
            rx.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+?)")
            seen.add(name)
            gl.append("*")
        else:
            rx.append(
                "".join(
                    "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in part
                )
            )
            gl.append(part)
    return re.compile("".join(rx) + r"\Z"), "".join(gl)


def _fill(pattern: str, values: dict[str, str]) -> str:
    return _SPLIT.sub(lambda m: values[m.group(0)[1:-1]], pattern)


def _resolve(root: Path, rel: str) -> Path | None:
    """The file ``rel`` names under ``root``; wildcards must match exactly one file."""
    if not any(ch in rel for ch in "*?["):
        p = root / rel
        return p if p.exists() else None
    hits = sorted(root.glob(rel))
    if len(hits) > 1:
        raise ManifestError(
            f"pattern {rel!r} matches {len(hits)} files under {root} "
            f"({hits[0].name}, {hits[1].name}, ...); make it match one"
        )
    return hits[0] if hits else None


class GenericDataset(SegDataset):
    """A folder of images (+ masks or GeoJSON) described by a manifest."""

    kind = "generic"

    def __init__(self, root: str | Path, manifest: Manifest):
        self.manifest = manifest
        classes = tuple(
            ClassInfo(
                name=c.name,
                colour=c.colour,
                code=c.values[0] if manifest.labels and manifest.labels.kind == "code" else None,
            )
            for c in manifest.classes
        )
        super().__init__(Path(root), manifest.name, classes)
        self._values: dict[str, dict[str, str]] = {}
        self._images: dict[str, dict[str, Path]] = {}
        self._info: dict[str, RasterInfo] = {}
        self._labelled: list[str] | None = None
        self._discover()

    @classmethod
    def from_folder(cls, root: str | Path, manifest: str | Path | None = None) -> GenericDataset:
        """Open ``root`` with ``root/satseg.yaml`` or an explicit ``manifest`` file."""
        root = Path(root).expanduser()
        return cls(root, load_manifest(Path(manifest) if manifest else root / MANIFEST_NAME))

    # ----- discovery
    def _discover(self) -> None:
        m = self.manifest
        band_files = [b.file or b.name for b in m.bands] if m.per_band_files else []
        pattern = m.image_pattern
        if m.per_band_files:
            pattern = pattern.replace("{" + BAND_PLACEHOLDER + "}", globmod.escape(band_files[0]))
        regex, glob = _compile(pattern)
        id_vars = [v for v in placeholders(m.image_pattern) if v != BAND_PLACEHOLDER]
        for path in sorted(self.root.glob(glob)):
            rel = path.relative_to(self.root).as_posix()
            match = regex.match(rel)
            if not match or not path.is_file():
                continue
            values = {k: match.group(k) for k in id_vars}
            image_id = "/".join(values[k] for k in id_vars)
            if image_id in self._values:
                raise ManifestError(
                    f"{m.path}: images.pattern {m.image_pattern!r} gives id {image_id!r} to both "
                    f"{self._images[image_id]} and {rel}; add a placeholder for the differing part"
                )
            if m.per_band_files:
                files = {}
                for b, key in zip(m.bands, band_files, strict=True):
                    hit = _resolve(self.root, _fill(m.image_pattern, {**values, "band": key}))
                    if hit is None:
                        raise BandMismatchError(
                            f"image {image_id!r} has no file for band {b.name!r}: expected "
                            f"{_fill(m.image_pattern, {**values, 'band': key})} under {self.root}; "
                            "add the file or remove the band from satseg.yaml"
                        )
                    files[b.name] = hit
            else:
                files = {"": path}
            self._values[image_id] = values
            self._images[image_id] = files
        if not self._values:
            raise DataError(
                f"data set {self.root} is empty: no file matches images.pattern "
                f"{m.image_pattern!r} (glob {glob!r}); fix the pattern in {m.path}"
            )

    # ----- the SegDataset interface
    @property
    def band_names(self) -> tuple[str, ...]:
        if self.manifest.bands:
            return tuple(b.name for b in self.manifest.bands)
        n = self._image_info(self.ids()[0]).count
        return tuple(f"b{i + 1}" for i in range(n))

    @property
    def wavelengths(self) -> tuple[float, ...]:
        if self.manifest.bands:
            return tuple(b.wavelength for b in self.manifest.bands)
        return tuple(math.nan for _ in self.band_names)

    def ids(self) -> list[str]:
        return sorted(self._values)

    def label_path(self, image_id: str) -> Path | None:
        """The label file of ``image_id``, or None where it has none."""
        if image_id not in self._values:
            self.check_id(image_id)
        if self.manifest.labels is None:
            return None
        return _resolve(self.root, _fill(self.manifest.labels.pattern, self._values[image_id]))

    def labelled_ids(self) -> list[str]:
        if self._labelled is None:
            self._labelled = [i for i in self.ids() if self.label_path(i) is not None]
        return list(self._labelled)

    def image_files(self, image_id: str) -> list[Path]:
        """The file(s) of ``image_id`` (one per band for per-band layouts)."""
        if image_id not in self._images:
            self.check_id(image_id)
        return list(self._images[image_id].values())

    def _image_info(self, image_id: str) -> RasterInfo:
        if image_id not in self._info:
            self._info[image_id] = raster_info(self.image_files(image_id)[0])
        return self._info[image_id]

    def image_shape(self, image_id: str) -> tuple[int, int]:
        """(height, width) of the image, read from its header."""
        return self._image_info(image_id).shape

    def load_image(self, image_id: str) -> xr.DataArray:
        """Lazy float32 ``(band, y, x)`` with ``band`` and ``wavelength`` coordinates."""
        import xarray as xr

        self.check_id(image_id)
        files = self._images[image_id]
        nodata = self.manifest.image_nodata
        names = self.band_names
        if self.manifest.per_band_files:
            parts, first = [], None
            for path in files.values():
                info = raster_info(path)
                if info.count != 1:
                    raise BandMismatchError(
                        f"band file {path} has {info.count} bands; per-band files ({{band}} in "
                        "images.pattern) must hold exactly one band each"
                    )
                if first is not None and info.shape != first.shape:
                    raise DataError(
                        f"band file {path} is {info.width}x{info.height} px but {first.path} is "
                        f"{first.width}x{first.height}; resample the bands of {image_id!r} onto one "
                        "grid before stacking"
                    )
                first = first or info
                parts.append(load_raster(path, nodata=nodata, info=info))
            arr = xr.concat(parts, dim="band", join="override", combine_attrs="drop_conflicts")
        else:
            path = files[""]
            info = self._image_info(image_id)
            if self.manifest.bands and info.count != len(names):
                raise BandMismatchError(
                    f"image {path} has {info.count} band(s) but satseg.yaml ({self.manifest.path}) "
                    f"declares {len(names)}: {list(names)}; fix the 'bands' list or the file"
                )
            arr = load_raster(path, nodata=nodata, info=info)
        arr = arr.assign_coords(band=list(names), wavelength=("band", list(self.wavelengths)))
        arr.name = image_id
        arr.attrs["image_id"] = image_id
        return arr

    def load_labels(self, image_id: str) -> Labels:
        """Per-class masks on the image grid (decoded colours/codes or rasterised GeoJSON)."""
        from satseg.io.masks import decode_code_mask, decode_colour_mask

        spec = self.manifest.labels
        path = self.label_path(image_id)
        if spec is None or path is None:
            raise LabelError(
                f"image {image_id!r} of {self.root} has no labels"
                + (
                    f" (expected {_fill(spec.pattern, self._values[image_id])})"
                    if spec
                    else " (satseg.yaml has no 'labels' section)"
                )
                + "; use labelled_ids() for the labelled images"
            )
        shape = self.image_shape(image_id)
        classes = self.manifest.classes
        if spec.kind == "geojson":
            from satseg.io.geojson import rasterize_geojson

            info = self._image_info(image_id)
            masks, ignore = rasterize_geojson(
                path,
                classes,
                shape,
                prop=spec.property,
                ignore_values=spec.ignore,
                transform=info.transform,
                image_crs=info.crs,
                label_crs=spec.crs,
                unlabelled=spec.unlabelled,
                all_touched=spec.all_touched,
            )
        else:
            arr = read_array(path)
            if arr.shape[1:] != shape:
                raise LabelError(
                    f"mask {path} is {arr.shape[2]}x{arr.shape[1]} px but its image "
                    f"{self.image_files(image_id)[0]} is {shape[1]}x{shape[0]}; masks must be on the "
                    "image grid (same width and height)"
                )
            if spec.kind == "colour":
                masks, ignore = decode_colour_mask(arr, classes, spec.ignore, spec.background, path)
            else:
                nodata: float | None = spec.nodata
                if nodata is None and path.suffix.lower() in (".tif", ".tiff"):
                    nodata = raster_info(path).nodata
                masks, ignore = decode_code_mask(
                    arr, classes, spec.ignore, spec.background, nodata, path
                )
        return Labels(masks=masks, ignore=ignore, classes=self.classes)

    def describe(self, counts: bool = True) -> dict[str, Any]:
        """Summary for ``satseg data info``; ``counts`` adds labelled pixels per class (reads masks)."""
        out = super().describe()
        out["manifest"] = str(self.manifest.path)
        out["sensor"] = self.manifest.sensor
        out["bands"] = [
            {"name": n, "wavelength": None if math.isnan(w) else w}
            for n, w in zip(self.band_names, self.wavelengths, strict=True)
        ]
        out["label_kind"] = self.manifest.labels.kind if self.manifest.labels else None
        sizes = {}
        for i in self.ids():
            h, w = self.image_shape(i)
            sizes[i] = {"height": h, "width": w}
        out["sizes"] = sizes
        out["n_images"] = len(sizes)
        out["n_labelled"] = len(out["labelled"])
        if counts:
            totals = dict.fromkeys(self.class_names, 0)
            ignored = labelled = 0
            for i in out["labelled"]:
                lab = self.load_labels(i)
                for k, v in lab.pixel_counts().items():
                    totals[k] += v
                ignored += int(lab.ignore.sum())
                labelled += int(lab.ignore.size - lab.ignore.sum())
            for c in out["classes"]:
                c["pixels"] = totals[c["name"]]
                c["share"] = round(totals[c["name"]] / labelled, 4) if labelled else 0.0
            out["pixels"] = {"labelled": labelled, "ignored": ignored}
        return out
