"""The ``satseg.yaml`` manifest of a generic data set: parsing and validation.

A manifest names the bands, where the images and labels are (path patterns with ``{placeholders}``
shared by images and labels), how labels are coded (integer codes, colours or GeoJSON vectors), the
classes with display colours, and the label values to ignore. See ``docs/manifest.md``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from satseg.errors import ManifestError
from satseg.io.yamlfile import as_number, load_yaml, yaml_error_text

MANIFEST_NAME = "satseg.yaml"
LABEL_KINDS = ("colour", "code", "geojson")
_KIND_ALIASES = {
    "color": "colour",
    "colours": "colour",
    "colors": "colour",
    "codes": "code",
    "integer": "code",
    "vector": "geojson",
}
_TOP_KEYS = {
    "name",
    "root",
    "description",
    "sensor",
    "bands",
    "images",
    "labels",
    "classes",
    "licence",
    "license",
    "source",
}
_IMAGE_KEYS = {"pattern", "nodata"}
_LABEL_KEYS = {
    "kind",
    "pattern",
    "ignore",
    "background",
    "nodata",
    "property",
    "crs",
    "unlabelled",
    "all_touched",
}
_CLASS_KEYS = {"name", "colour", "color", "value", "values", "code"}
_BAND_KEYS = {"name", "wavelength", "file"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEX = re.compile(r"^#?[0-9A-Fa-f]{6}$")
BAND_PLACEHOLDER = "band"


@dataclass(frozen=True)
class BandSpec:
    """One band: its name, centre wavelength in nm (NaN if unknown), and file key (per-band files)."""

    name: str
    wavelength: float = math.nan
    file: str | None = None


@dataclass(frozen=True)
class ClassSpec:
    """One class: name, display colour and the mask values (colours as ints or codes) meaning it."""

    name: str
    colour: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class LabelSpec:
    kind: str
    pattern: str
    ignore: tuple[Any, ...] = ()
    background: tuple[Any, ...] = ()
    nodata: int | None = None
    property: str = "class"
    crs: str | None = None
    unlabelled: str = "background"
    all_touched: bool = False


@dataclass(frozen=True)
class Manifest:
    """A validated manifest. ``path`` is the file it came from."""

    path: Path
    name: str
    bands: tuple[BandSpec, ...]
    image_pattern: str
    image_nodata: float | None
    labels: LabelSpec | None
    classes: tuple[ClassSpec, ...]
    sensor: str | None = None
    root: Path | None = None  # data folder named by the manifest (relative to the manifest)

    @property
    def per_band_files(self) -> bool:
        return "{" + BAND_PLACEHOLDER + "}" in self.image_pattern


def _fail(path: Path, where: str, rule: str) -> ManifestError:
    return ManifestError(f"{path}: {where}: {rule} (see docs/manifest.md)")


def _relative_pattern(pattern: str, path: Path, where: str) -> None:
    """Patterns are globbed below the data folder: an absolute one cannot work (pathlib refuses
    absolute globs), so say how to write it instead."""
    drive = re.match(r"^[A-Za-z]:[\\/]", pattern)
    if Path(pattern).is_absolute() or pattern.startswith("~") or drive:
        raise _fail(
            path,
            where,
            f"{pattern!r} is an absolute path; patterns are relative to the data folder: "
            "set 'root:' to that folder and write the pattern below it, e.g. 'images/{name}.tif'",
        )


def colour_to_int(value: Any, path: Path, where: str) -> int:
    """``"#rrggbb"`` (or ``[r, g, b]``) -> ``0xRRGGBB``."""
    if (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and all(isinstance(v, int) for v in value)
    ):
        r, g, b = value
        return (int(r) << 16) | (int(g) << 8) | int(b)
    if isinstance(value, str) and _HEX.match(value.strip()):
        return int(value.strip().lstrip("#"), 16)
    raise _fail(path, where, f'{value!r} is not a colour; write it as "#rrggbb" or [r, g, b]')


def int_to_colour(value: int) -> str:
    return f"#{value:06x}"


def _keys(d: Any, allowed: set[str], path: Path, where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise _fail(path, where, f"expected a mapping, got {type(d).__name__}")
    unknown = sorted(set(map(str, d)) - allowed)
    if unknown:
        raise _fail(path, where, f"unknown key(s) {unknown}; valid keys: {sorted(allowed)}")
    return d


def placeholders(pattern: str) -> list[str]:
    """Placeholder names of ``pattern`` in order of first appearance."""
    seen: list[str] = []
    for name in _PLACEHOLDER.findall(pattern):
        if name not in seen:
            seen.append(name)
    return seen


def _bands(raw: dict[str, Any], path: Path) -> tuple[tuple[BandSpec, ...], str | None]:
    sensor = raw.get("sensor")
    bands_raw = raw.get("bands")
    out: list[BandSpec] = []
    if bands_raw is not None:
        if not isinstance(bands_raw, list) or not bands_raw:
            raise _fail(path, "bands", "must be a non-empty list of names or {name, wavelength}")
        for i, b in enumerate(bands_raw):
            if isinstance(b, str):
                out.append(BandSpec(b))
                continue
            b = _keys(b, _BAND_KEYS, path, f"bands[{i}]")
            if "name" not in b:
                raise _fail(path, f"bands[{i}]", "a band needs a name")
            wl = b.get("wavelength")
            try:
                wl = math.nan if wl is None else float(wl)
            except (TypeError, ValueError):
                raise _fail(
                    path, f"bands[{i}].wavelength", f"{wl!r} is not a number in nm"
                ) from None
            f = b.get("file")
            out.append(BandSpec(str(b["name"]), wl, None if f is None else str(f)))
    elif sensor is not None:
        out = list(sensor_bands(str(sensor), path))
    names = [b.name for b in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _fail(path, "bands", f"band names must be unique; repeated: {dupes}")
    return tuple(out), None if sensor is None else str(sensor)


def sensor_bands(sensor: str, path: Path) -> tuple[BandSpec, ...]:
    """Band names and wavelengths of a named sensor from :mod:`satseg.bands.sensors`."""
    import importlib

    try:
        sensors_mod = importlib.import_module("satseg.bands.sensors")
    except ImportError:
        raise _fail(
            path,
            "sensor",
            f"sensor specs (satseg.bands.sensors) are not available to resolve "
            f"{sensor!r}; list the bands explicitly under 'bands:'",
        ) from None
    getter = getattr(sensors_mod, "get_sensor", None)
    try:
        spec = getter(sensor) if getter else sensors_mod.SENSORS[sensor]
    except (KeyError, ValueError, LookupError) as exc:
        raise _fail(path, "sensor", f"unknown sensor {sensor!r}: {exc}") from None
    bands = getattr(spec, "bands", spec)
    out = []
    for b in bands:
        name = getattr(b, "name", None) or (b.get("name") if isinstance(b, dict) else str(b))
        wl = getattr(b, "wavelength", None)
        if wl is None and isinstance(b, dict):
            wl = b.get("wavelength")
        if isinstance(wl, (tuple, list)):  # a (low, high) range: its centre
            wl = (float(wl[0]) + float(wl[1])) / 2
        out.append(BandSpec(str(name), math.nan if wl is None else float(wl)))
    return tuple(out)


def _label_values(kind: str, values: Any, path: Path, where: str) -> tuple[Any, ...]:
    if values is None:
        return ()
    if not isinstance(values, list) or (
        kind == "colour" and len(values) == 3 and all(isinstance(v, int) for v in values)
    ):
        values = [values]
    if kind == "colour":
        return tuple(colour_to_int(v, path, where) for v in values)
    if kind == "code":
        out = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int):
                raise _fail(path, where, f"{v!r} is not an integer code")
            out.append(int(v))
        return tuple(out)
    return tuple(values)  # geojson: property values (names or numbers)


def _labels(raw: Any, path: Path, image_vars: list[str]) -> LabelSpec | None:
    if raw is None:
        return None
    raw = _keys(raw, _LABEL_KEYS, path, "labels")
    kind = str(raw.get("kind", "")).lower()
    kind = _KIND_ALIASES.get(kind, kind)
    if kind not in LABEL_KINDS:
        raise _fail(path, "labels.kind", f"{raw.get('kind')!r} is not one of {list(LABEL_KINDS)}")
    pattern = raw.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise _fail(path, "labels.pattern", "give the path pattern of the label files")
    _relative_pattern(pattern, path, "labels.pattern")
    extra = [p for p in placeholders(pattern) if p not in image_vars or p == BAND_PLACEHOLDER]
    if extra:
        raise _fail(
            path,
            "labels.pattern",
            f"placeholders {extra} do not occur in images.pattern; "
            f"use only {[v for v in image_vars if v != BAND_PLACEHOLDER]}",
        )
    unl = str(raw.get("unlabelled", "background"))
    if unl not in ("background", "ignore"):
        raise _fail(path, "labels.unlabelled", f"{unl!r} must be 'background' or 'ignore'")
    nodata = raw.get("nodata")
    if nodata is not None and (isinstance(nodata, bool) or not isinstance(nodata, int)):
        raise _fail(path, "labels.nodata", f"{nodata!r} must be an integer code")
    return LabelSpec(
        kind=kind,
        pattern=pattern,
        ignore=_label_values(kind, raw.get("ignore"), path, "labels.ignore"),
        background=_label_values(kind, raw.get("background"), path, "labels.background"),
        nodata=nodata,
        property=str(raw.get("property", "class")),
        crs=None if raw.get("crs") is None else str(raw["crs"]),
        unlabelled=unl,
        all_touched=bool(raw.get("all_touched", False)),
    )


def _classes(raw: Any, path: Path, kind: str | None) -> tuple[ClassSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "classes", "give a non-empty list of classes ({name, colour, value})")
    out = []
    for i, c in enumerate(raw):
        where = f"classes[{i}]"
        c = _keys(c, _CLASS_KEYS, path, where)
        if "name" not in c:
            raise _fail(path, where, "a class needs a name")
        colour_raw = c.get("colour", c.get("color"))
        colour = (
            None if colour_raw is None else int_to_colour(colour_to_int(colour_raw, path, where))
        )
        value = c.get("values", c.get("value", c.get("code")))
        if value is None:
            if kind == "colour" and colour is not None:
                value = colour
            elif kind == "geojson":
                value = c["name"]
            elif kind == "code":
                raise _fail(
                    path, where, f"class {c['name']!r} needs its integer 'code' in the masks"
                )
        values = _label_values(kind, value, path, where + ".value") if kind else ()
        if colour is None:
            colour = int_to_colour(values[0]) if kind == "colour" else _DEFAULT_COLOURS[i % 10]
        out.append(ClassSpec(str(c["name"]), colour, values))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise _fail(path, "classes", f"class names must be unique: {names}")
    return tuple(out)


# matplotlib's tab10, for classes without a colour
_DEFAULT_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def parse_manifest(raw: Any, path: Path) -> Manifest:
    """Validate a loaded YAML document; ``path`` is used in messages."""
    raw = _keys(raw, _TOP_KEYS, path, "top level")
    bands, sensor = _bands(raw, path)
    images = raw.get("images")
    if isinstance(images, str):
        images = {"pattern": images}
    images = _keys(images if images is not None else {}, _IMAGE_KEYS, path, "images")
    pattern = images.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise _fail(
            path,
            "images.pattern",
            "give the path pattern of the images, e.g. "
            "'{tile}/images/{name}.jpg' (placeholders become the image id)",
        )
    _relative_pattern(pattern, path, "images.pattern")
    names = placeholders(pattern)
    if not [n for n in names if n != BAND_PLACEHOLDER]:
        raise _fail(
            path,
            "images.pattern",
            f"{pattern!r} has no {{placeholder}}; mark the parts "
            "that name an image, e.g. 'images/{name}.tif'",
        )
    if BAND_PLACEHOLDER in names and not bands:
        raise _fail(path, "bands", "per-band files ({band} in images.pattern) need the band list")
    nodata = as_number(images.get("nodata"))
    if nodata is not None and (isinstance(nodata, bool) or not isinstance(nodata, (int, float))):
        raise _fail(path, "images.nodata", f"{nodata!r} must be a number")
    labels = _labels(raw.get("labels"), path, names)
    classes = _classes(raw.get("classes"), path, labels.kind if labels else None)
    if labels is not None and labels.kind != "geojson":
        seen: dict[Any, str] = {}
        for c in classes:
            for v in c.values:
                if v in seen:
                    raise _fail(
                        path,
                        "classes",
                        f"value {v!r} is used by both {seen[v]!r} and "
                        f"{c.name!r}; masks of this kind hold one class per pixel",
                    )
                seen[v] = c.name
        clash = sorted(set(seen) & set(labels.ignore + labels.background))
        if clash:
            raise _fail(path, "labels", f"values {clash} are both a class and ignore/background")
    root = raw.get("root")
    if root is not None:
        if not isinstance(root, str) or not root.strip():
            raise _fail(path, "root", f"{root!r} must be a folder path (relative to the manifest)")
        root = (path.parent / Path(root).expanduser()).resolve()
        if not root.is_dir():
            raise _fail(path, "root", f"the data folder {root} does not exist; fix the path "
                        "(relative paths start at the manifest's folder)")
    return Manifest(
        path=path,
        root=root,
        name=str(raw.get("name") or (root or path.parent).name),
        bands=bands,
        image_pattern=pattern,
        image_nodata=None if nodata is None else float(nodata),
        labels=labels,
        classes=classes,
        sensor=sensor,
    )


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ManifestError(
            f"manifest {path} does not exist; write one (see docs/manifest.md) "
            "or pass --manifest FILE"
        )
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ManifestError(
            f"manifest {path}: invalid YAML at {yaml_error_text(exc)}; fix the syntax there"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from None
    return parse_manifest(raw, path)
