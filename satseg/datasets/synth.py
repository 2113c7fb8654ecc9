"""Synthetic scenes in the DSTL layout, for tests, demos and benchmarks.

Each scene is drawn as vector geometry in RGB pixel coordinates (fields with holes, buildings
with courtyards, roads, tracks, tree clusters, a river, ponds, vehicles), then rasterised onto
every band group's own grid: RGB and P (P 1 px smaller), M (about 1/4) and A (about 1/25),
each with a known sub-pixel offset (``registration_truth.json``). Pixel values are per-class
reflectance spectra over all 20 WorldView-3 bands, times a smooth analytic texture (so
registration has structure at every scale), plus noise, quantised to 11 bit (RGB, P, M) and
14 bit (A). Coarse grids are rendered by supersampling, so they hold area averages.

Offsets follow :mod:`satseg.bands.align`: pixel ``u`` of a group covers RGB pixel coordinate
``u * (W_rgb / w_group) + d``; ``d`` (RGB px) is what registration should recover.
"""

from __future__ import annotations

import csv
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from satseg.bands.sensors import WORLDVIEW3
from satseg.errors import ConfigError, OutputError

log = logging.getLogger("satseg.datasets.synth")

FULL_H, FULL_W = 3349, 3396
CLASS_NAMES = (
    "Buildings", "Misc. manmade structures", "Road", "Track", "Trees", "Crops",
    "Waterway", "Standing water", "Vehicle large", "Vehicle small",
)  # fmt: skip
# Paint order (later wins on the image); 0 is bare soil.
PAINT_ORDER = (6, 5, 8, 7, 4, 3, 1, 2, 9, 10)
# Reflectance anchors (nm -> 0..1) per material; 0 = soil, then DSTL class ids.
_ANCHORS: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {
    0: ((400, 700, 1000, 1600, 2300), (0.10, 0.22, 0.30, 0.38, 0.33)),
    1: ((400, 700, 1000, 1600, 2300), (0.30, 0.34, 0.36, 0.40, 0.38)),
    2: ((400, 550, 700, 1000, 1600, 2300), (0.22, 0.30, 0.26, 0.24, 0.20, 0.18)),
    3: ((400, 700, 1000, 1600, 2300), (0.10, 0.12, 0.14, 0.16, 0.15)),
    4: ((400, 700, 1000, 1600, 2300), (0.16, 0.26, 0.32, 0.36, 0.30)),
    5: ((400, 550, 670, 720, 800, 1000, 1600, 2300), (0.03, 0.08, 0.03, 0.20, 0.35, 0.33, 0.16, 0.07)),
    6: ((400, 550, 670, 720, 800, 1000, 1600, 2300), (0.05, 0.12, 0.05, 0.28, 0.50, 0.48, 0.26, 0.12)),
    7: ((400, 550, 700, 800, 1000, 2300), (0.09, 0.11, 0.07, 0.03, 0.01, 0.005)),
    8: ((400, 550, 700, 800, 1000, 2300), (0.06, 0.07, 0.03, 0.015, 0.005, 0.003)),
    9: ((400, 700, 1000, 1600, 2300), (0.55, 0.58, 0.55, 0.45, 0.40)),
    10: ((400, 700, 1000, 1600, 2300), (0.05, 0.06, 0.08, 0.07, 0.06)),
}  # fmt: skip


def spectra() -> np.ndarray:
    """``(11, 20)`` reflectance of soil + the 10 classes at the 20 band centres (R, G, B, P, M, A)."""
    out = np.zeros((11, 20), np.float64)
    for m, (wl, refl) in _ANCHORS.items():
        for j, band in enumerate(WORLDVIEW3.bands):
            if band.name == "P":  # panchromatic: the mean over its 450-800 nm range
                out[m, j] = np.interp(np.linspace(450, 800, 36), wl, refl).mean()
            else:
                out[m, j] = np.interp(band.wavelength, wl, refl)
    return out


def _scene_geometry(h: int, w: int, rng: np.random.Generator) -> dict[int, Any]:
    """``{class_id: MultiPolygon}`` in RGB pixel coordinates; some classes may be empty."""
    from shapely import affinity
    from shapely.geometry import LineString, MultiPolygon, Point, box
    from shapely.ops import unary_union

    s = min(h, w) / 800.0
    u = rng.uniform
    frame = box(0, 0, w, h)
    geo: dict[int, Any] = {}
    fields = []
    for _ in range(3):  # crops: large fields, each with a hole (a farm yard)
        x0, y0 = u(0, w * 0.6), u(0, h * 0.6)
        fw, fh = u(0.2, 0.4) * w, u(0.2, 0.4) * h
        outer = affinity.rotate(box(x0, y0, x0 + fw, y0 + fh), u(-20, 20))
        c = outer.centroid
        hole = box(c.x - fw * 0.12, c.y - fh * 0.12, c.x + fw * 0.12, c.y + fh * 0.1)
        fields.append(outer.difference(hole))
    geo[6] = unary_union(fields)
    trees = [Point(u(0, w), u(0, h)).buffer(u(6, 18) * s) for _ in range(40)]
    geo[5] = unary_union(trees)
    river = LineString([(0, u(0.2, 0.8) * h)] + [(w * t, u(0.1, 0.9) * h) for t in (0.35, 0.7, 1)])
    geo[7] = river.buffer(12 * s) if rng.random() < 0.7 else MultiPolygon()
    ponds = [affinity.scale(Point(u(0, w), u(0, h)).buffer(1), u(20, 45) * s, u(12, 30) * s)]
    geo[8] = unary_union(ponds)
    roads = [LineString([(0, u(0, h)), (w, u(0, h))]), LineString([(u(0, w), 0), (u(0, w), h)])]
    road = unary_union([r.buffer(7 * s, cap_style="flat") for r in roads])
    geo[3] = road
    track = LineString([(u(0, w), 0), (u(0, w), h * 0.5), (u(0, w), h)]).buffer(3 * s)
    geo[4] = track.difference(road)
    buildings: list[Any] = []
    misc: list[Any] = []
    while len(buildings) < 12:
        x0, y0 = u(0, w - 60 * s), u(0, h - 60 * s)
        bw, bh = u(20, 55) * s, u(20, 55) * s
        b = affinity.rotate(box(x0, y0, x0 + bw, y0 + bh), u(-30, 30))
        if b.intersects(road):
            continue
        if bw > 35 * s and bh > 35 * s:  # a courtyard: a polygon with a hole
            b = b.difference(b.centroid.buffer(min(bw, bh) * 0.22, cap_style="square"))
        buildings.append(b)
    for _ in range(8):
        x0, y0 = u(0, w), u(0, h)
        misc.append(box(x0, y0, x0 + u(5, 14) * s, y0 + u(5, 14) * s))
    geo[1] = unary_union(buildings)
    geo[2] = unary_union(misc).difference(geo[1])
    cars_l: list[Any] = []
    cars_s: list[Any] = []
    for line in roads:
        for t in rng.uniform(0.05, 0.95, 6):
            p = line.interpolate(t, normalized=True)
            large = rng.random() < 0.3
            half = (6.0 if large else 2.5) * s, (1.8 if large else 1.2) * s
            car = box(p.x - half[0], p.y - half[1], p.x + half[0], p.y + half[1])
            (cars_l if large else cars_s).append(car)
    geo[9] = unary_union(cars_l) if cars_l and rng.random() < 0.8 else MultiPolygon()
    geo[10] = unary_union(cars_s) if cars_s else MultiPolygon()
    from satseg.io.vectors import as_multipolygon

    return {c: as_multipolygon(g.intersection(frame)) for c, g in geo.items()}


def _texture(ys: np.ndarray, xs: np.ndarray, rng_state: int) -> np.ndarray:
    """Smooth analytic texture at RGB pixel coordinates ``ys`` x ``xs`` (outer grid), ~N(0, 1)."""
    rng = np.random.default_rng(rng_state)
    out = np.zeros((ys.size, xs.size), np.float32)
    n = 10
    for _ in range(n):
        period = rng.uniform(12, 250)
        theta = rng.uniform(0, np.pi)
        ky, kx = 2 * np.pi / period * np.sin(theta), 2 * np.pi / period * np.cos(theta)
        phi = rng.uniform(0, 2 * np.pi)
        ay, ax = ky * ys + phi, kx * xs
        out += (np.sin(ay)[:, None] * np.cos(ax)[None, :]).astype(np.float32)
        out += (np.cos(ay)[:, None] * np.sin(ax)[None, :]).astype(np.float32)
    return out * np.float32(np.sqrt(1.0 / n))


def _render_group(
    geo: dict[int, Any],
    rgb_shape: tuple[int, int],
    shape: tuple[int, int],
    offset: tuple[float, float],
    bands: np.ndarray,
    max_value: float,
    ss: int,
    tex_seed: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Render ``bands`` (indices into :func:`spectra`) of a group onto its own grid (uint16)."""
    from affine import Affine
    from rasterio.features import rasterize

    H, W = rgb_shape
    h, w = shape
    sy, sx = H / h / ss, W / w / ss
    shapes = [(g, c) for c in PAINT_ORDER if not (g := geo[c]).is_empty]
    xs = (np.arange(w * ss) + 0.5) * sx + offset[1]
    refl = spectra()[:, bands].astype(np.float32)
    out = np.empty((len(bands), h, w), np.uint16)
    strip = max(1, (1 << 22) // (w * ss * ss))  # output rows per strip: ~4 M supersamples
    for r0 in range(0, h, strip):
        r1 = min(h, r0 + strip)
        y0 = r0 * ss * sy + offset[0]
        transform = Affine(sx, 0, offset[1], 0, sy, y0)
        cls = rasterize(
            shapes, out_shape=((r1 - r0) * ss, w * ss), transform=transform, fill=0, dtype="uint8"
        )
        ys = (np.arange(r0 * ss, r1 * ss) + 0.5) * sy + offset[0]
        tex = 1.0 + 0.12 * _texture(ys, xs, tex_seed)
        for i in range(len(bands)):
            img = (refl[cls, i] * tex).reshape(r1 - r0, ss, w, ss).mean(axis=(1, 3))
            img *= 1 + rng.normal(0, 0.01, img.shape).astype(np.float32)
            out[i, r0:r1] = np.clip(np.rint(img * max_value), 0, max_value).astype(np.uint16)
    return out


def _write_tif(path: Path, arr: np.ndarray) -> None:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            path, "w", driver="GTiff", count=arr.shape[0], height=arr.shape[1],
            width=arr.shape[2], dtype="uint16", tiled=arr.shape[1] >= 256 and arr.shape[2] >= 256,
        ) as dst:  # fmt: skip
            dst.write(arr)


def scene_id(k: int) -> str:
    """Ids like DSTL's ``6120_2_2``: scene number, tile row, tile column."""
    return f"{6010 + 10 * (k // 25)}_{k % 25 // 5}_{k % 5}"


def write_synthetic_dstl(out: str | Path, scenes: int = 1, size: int = 800, seed: int = 0) -> Path:
    """Write ``scenes`` synthetic scenes in the DSTL layout under ``out``; returns ``out``.

    ``size`` is the RGB height in px (width about ``size * 3396 / 3349``; ``size=3349`` gives
    the full DSTL size). Writes ``three_band/``, ``sixteen_band/``, ``train_wkt_v4.csv`` (all 10
    classes per image), ``grid_sizes.csv`` and ``registration_truth.json``.
    """
    from satseg.io.wkt import to_dstl

    if int(scenes) < 1 or int(size) < 32:
        raise ConfigError(f"scenes={scenes}, size={size}: need scenes >= 1 and size >= 32 px")
    out = Path(out)
    try:
        (out / "three_band").mkdir(parents=True, exist_ok=True)
        (out / "sixteen_band").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc}") from None
    rng = np.random.default_rng(seed)
    grid_rows, wkt_rows, truth = [], [], {}
    names = list(WORLDVIEW3.band_names)
    for k in range(int(scenes)):
        image_id = scene_id(k)
        H = int(size) + int(rng.integers(0, 3))
        W = int(round(size * FULL_W / FULL_H)) + int(rng.integers(-2, 3))
        shapes = {
            "RGB": (H, W),
            "P": (H - 1, W - 1),
            "M": (int(round(H / 4)) + int(rng.integers(-1, 2)), int(round(W / 4))),
            "A": (int(round(H / 25)) + int(rng.integers(0, 2)), int(round(W / 25)) + 1),
        }
        offsets = {
            "RGB": (0.0, 0.0),
            "P": tuple(rng.uniform(-0.4, 0.4, 2)),
            "M": tuple(rng.uniform(1.0, 3.0, 2) * rng.choice([-1, 1], 2)),
            "A": tuple(rng.uniform(3.0, 9.0, 2) * rng.choice([-1, 1], 2)),
        }
        geo = _scene_geometry(H, W, rng)
        tex_seed = int(rng.integers(1 << 31))
        for g in WORLDVIEW3.groups:
            idx = np.array([names.index(b.name) for b in g.bands])
            ss = {"RGB": 2, "P": 2, "M": 4, "A": 10}[g.name]
            arr = _render_group(
                geo, (H, W), shapes[g.name], offsets[g.name], idx, g.max_value, ss, tex_seed, rng
            )
            rel = g.file_pattern.format(id=image_id)
            _write_tif(out / rel, arr)
        truth[image_id] = {
            g: {
                "dy_ref_px": float(offsets[g][0]),
                "dx_ref_px": float(offsets[g][1]),
                "dy_px": float(offsets[g][0] * shapes[g][0] / H),
                "dx_px": float(offsets[g][1] * shapes[g][1] / W),
                "shape": list(shapes[g]),
            }
            for g in shapes
        }
        xmax = 0.009 + float(rng.uniform(0, 0.0003))
        ymin = -0.009 - float(rng.uniform(0, 0.0003))
        grid_rows.append((image_id, f"{xmax:.6f}", f"{ymin:.6f}"))
        xmax, ymin = float(f"{xmax:.6f}"), float(f"{ymin:.6f}")
        for c in range(1, 11):
            g = geo[c]
            wkt = "MULTIPOLYGON EMPTY" if g.is_empty else to_dstl(g, (H, W), xmax, ymin).wkt
            wkt_rows.append((image_id, c, wkt))
    _write_csvs(out, grid_rows, wkt_rows)
    (out / "registration_truth.json").write_text(
        json.dumps(
            {
                "units": "dy/dx_ref_px: RGB pixels; dy/dx_px: the group's own pixels. Group pixel "
                "u covers RGB coordinate u * (W_rgb / w_group) + d.",
                "scenes": truth,
            },
            indent=1,
        )
    )
    log.info("wrote %d synthetic DSTL scene(s) to %s", scenes, out)
    return out


def _write_csvs(out: Path, grid_rows: list[tuple], wkt_rows: list[tuple]) -> None:
    with (out / "grid_sizes.csv").open("w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(("", "Xmax", "Ymin"))
        wr.writerows(grid_rows)
    with (out / "train_wkt_v4.csv").open("w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(("ImageId", "ClassType", "MultipolygonWKT"))
        wr.writerows(wkt_rows)
