"""Seeded writers of small data sets for the io tests (GeoTIFF, JPEG/PNG, GeoJSON, manifests)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import yaml

CRS = "EPSG:32640"  # UTM 40N (Dubai)
ORIGIN = (300000.0, 2800000.0)
PIXEL = 2.0  # m


def transform():
    from rasterio.transform import from_origin

    return from_origin(ORIGIN[0], ORIGIN[1], PIXEL, PIXEL)


def write_tif(path: Path, arr: np.ndarray, *, crs: str | None = None, nodata=None) -> Path:
    """Write ``arr`` (bands, H, W) as a GeoTIFF; georeferenced when ``crs`` is given."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = arr if arr.ndim == 3 else arr[None]
    profile: dict[str, Any] = dict(
        driver="GTiff",
        count=arr.shape[0],
        height=arr.shape[1],
        width=arr.shape[2],
        dtype=arr.dtype.name,
    )
    if crs:
        profile.update(crs=crs, transform=transform())
    if nodata is not None:
        profile["nodata"] = nodata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(arr)
    return path


def write_manifest(root: Path, doc: dict[str, Any], name: str = "satseg.yaml") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    p = root / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def code_dataset(
    root: Path, *, n: int = 2, size: int = 32, bands: int = 4, seed: int = 0, crs: str | None = CRS
) -> dict[str, Any]:
    """Multi-band uint16 GeoTIFFs + uint8 code masks (0 background, 1..2 classes, 9 ignore,
    255 nodata). Returns the arrays written, by id."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        img = rng.integers(1, 2047, size=(bands, size, size), dtype=np.uint16)
        img[:, 0, 0] = 0  # the image nodata pixel
        mask = rng.choice(
            np.array([0, 1, 2, 9, 255], dtype=np.uint8),
            size=(size, size),
            p=[0.4, 0.25, 0.25, 0.05, 0.05],
        )
        write_tif(root / "images" / f"scene{i}.tif", img, crs=crs, nodata=0)
        write_tif(root / "masks" / f"scene{i}_mask.tif", mask, crs=crs, nodata=255)
        out[f"scene{i}"] = (img, mask)
    names = ["blue", "green", "red", "nir"][:bands] + [f"extra{k}" for k in range(bands - 4)]
    wl = [490, 560, 665, 842][:bands] + [None] * (bands - 4)
    write_manifest(
        root,
        {
            "name": "codes",
            "bands": [{"name": b, "wavelength": w} for b, w in zip(names, wl, strict=True)],
            "images": {"pattern": "images/{scene}.tif"},
            "labels": {
                "kind": "code",
                "pattern": "masks/{scene}_mask.tif",
                "ignore": [9],
                "background": [0],
            },
            "classes": [
                {"name": "building", "colour": "#ff0000", "code": 1},
                {"name": "water", "colour": "#0000ff", "code": 2},
            ],
        },
    )
    return out


def perband_dataset(root: Path, *, size: int = 24, seed: int = 1) -> dict[str, np.ndarray]:
    """Landsat-style ``LC08_<scene>_B<k>.TIF`` files, one band each."""
    rng = np.random.default_rng(seed)
    out = {}
    for scene in ("A", "B"):
        stack = rng.random((3, size, size), dtype=np.float32) * 0.5
        for k, b in zip(("2", "4", "5"), stack, strict=True):
            write_tif(root / scene / f"LC08_{scene}_B{k}.TIF", b[None], crs=CRS)
        out[scene] = stack
    write_manifest(
        root,
        {
            "name": "landsat-like",
            "bands": [
                {"name": "blue", "wavelength": 482, "file": "2"},
                {"name": "red", "wavelength": 655, "file": "4"},
                {"name": "nir", "wavelength": 865, "file": "5"},
            ],
            "images": {"pattern": "{scene}/LC08_{scene}_B{band}.TIF"},
            "classes": [{"name": "water"}],
        },
    )
    return out


COLOURS = {"building": "#3c1098", "road": "#6ec1e4"}
IGNORE = "#9b9b9b"


def _rgb(hexcode: str) -> list[int]:
    return [int(hexcode[i : i + 2], 16) for i in (1, 3, 5)]


def colour_dataset(
    root: Path,
    *,
    size: tuple[int, int] = (20, 30),
    seed: int = 2,
    palette: bool = False,
    fmt: str = "jpg",
) -> dict[str, Any]:
    """RGB JPEG/PNG images in nested folders + colour masks (RGB or palette PNG)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = size
    table = np.array(
        [_rgb(COLOURS["building"]), _rgb(COLOURS["road"]), _rgb(IGNORE)], dtype=np.uint8
    )
    out = {}
    for tile in ("tile_1", "tile_2"):
        idx = rng.integers(0, 3, size=(h, w))
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        (root / tile / "images").mkdir(parents=True, exist_ok=True)
        (root / tile / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / tile / "images" / f"part_1.{fmt}")
        if palette:
            m = Image.fromarray(idx.astype(np.uint8), mode="P")
            m.putpalette(table.ravel().tolist())
        else:
            m = Image.fromarray(table[idx])
        m.save(root / tile / "masks" / "part_1.png")
        out[f"{tile}/part_1"] = (img, idx)
    write_manifest(
        root,
        {
            "name": "colours",
            "bands": ["red", "green", "blue"],
            "images": f"{{tile}}/images/{{part}}.{fmt}",
            "labels": {"kind": "colour", "pattern": "{tile}/masks/{part}.png", "ignore": [IGNORE]},
            "classes": [{"name": k, "colour": v} for k, v in COLOURS.items()],
        },
    )
    return out


def geojson_dataset(root: Path, *, crs: str | None = CRS, size: int = 40) -> None:
    """One 3-band GeoTIFF + a GeoJSON with a building square, a field with a hole, and a
    cloud square to ignore. Coordinates in the image CRS (or pixels when ``crs`` is None)."""
    rng = np.random.default_rng(3)
    write_tif(
        root / "img" / "s1.tif", rng.integers(0, 255, (3, size, size), dtype=np.uint8), crs=crs
    )

    def box(c0, r0, c1, r1):
        if crs is None:
            pts = [(c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0)]
        else:
            x0, y0 = ORIGIN
            pts = [
                (x0 + c * PIXEL, y0 - r * PIXEL)
                for c, r in [(c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0)]
            ]
        return [list(p) for p in pts]

    feats = [
        {
            "type": "Feature",
            "properties": {"class": "building"},
            "geometry": {"type": "Polygon", "coordinates": [box(2, 2, 12, 12)]},
        },
        {
            "type": "Feature",
            "properties": {"class": 2},
            "geometry": {
                "type": "Polygon",
                "coordinates": [box(20, 20, 40, 40), box(25, 25, 30, 30)],
            },
        },
        {
            "type": "Feature",
            "properties": {"class": "cloud"},
            "geometry": {"type": "Polygon", "coordinates": [box(0, 30, 10, 40)]},
        },
    ]
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "s1.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats})
    )
    write_manifest(
        root,
        {
            "name": "vectors",
            "bands": ["red", "green", "blue"],
            "images": "img/{scene}.tif",
            "labels": {"kind": "geojson", "pattern": "labels/{scene}.geojson", "ignore": ["cloud"]},
            "classes": [
                {"name": "building", "colour": "#ff0000"},
                {"name": "field", "colour": "#00ff00", "value": 2},
            ],
        },
    )
