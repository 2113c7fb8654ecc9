"""Predicting whole images with a trained run (``satseg.training.load_run``).

:func:`predict_image` returns probabilities in memory; :func:`predict_to_files` streams them: the
stack is read (and normalised by ``run.prepare``) a block of rows at a time from its lazy source,
finished probability rows go straight into a GeoTIFF, and only the thresholded masks (1 byte per
pixel and class) are kept in memory for the object-level steps (minimum areas, morphology, rules)
and the polygons. A scene larger than memory as float32 can therefore be predicted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satseg.errors import BandMismatchError, DataError
from satseg.inference.blend import CachedRows, blend_predict

log = logging.getLogger("satseg.inference.predict")

FORMATS = ("tif", "geojson", "wkt", "submission")
READ_BLOCK = 1024  # rows of the stack read and normalised at a time


def check_bands(run: Any, stack: Any, source: str = "the image") -> None:
    """BandMismatchError (before any model work) if ``stack`` lacks a band the run needs."""
    have = [str(b) for b in stack.coords["band"].values] if "band" in stack.coords else []
    missing = [b for b in run.band_names if b not in have]
    if missing:
        raise BandMismatchError(
            f"{source} lacks band(s) {missing} that model {run.run_dir} was trained on; it has "
            f"{have}. Predict with data that has the training bands {list(run.band_names)}"
        )


def georef(stack: Any) -> tuple[Any, Any]:
    """``(crs, transform)`` of a stack written by rioxarray, or ``(None, None)``."""
    if "x" not in stack.coords or "y" not in stack.coords:
        return None, None
    try:
        import rioxarray  # noqa: F401

        return stack.rio.crs, stack.rio.transform()
    except Exception:  # no usable georeference
        return None, None


def stack_source(run: Any, stack: Any) -> CachedRows:
    """A row source of ``run.prepare`` applied to blocks of rows of a lazy ``(band, y, x)`` stack."""
    H, W = int(stack.sizes["y"]), int(stack.sizes["x"])
    C = len(run.channel_names)

    def read(a: int, b: int) -> np.ndarray:
        return run.prepare(stack.isel(y=slice(a, b)))

    return CachedRows((H, W, C), read, block=READ_BLOCK)


def _model_fn(run: Any, batch: int) -> Any:
    return lambda x: run.predict_patches(x, batch_size=batch)


def predict_image(
    run: Any,
    stack: Any,
    *,
    subdivisions: int = 2,
    tta: int = 8,
    batch: int = 16,
    combine: str = "arithmetic",
    progress: bool = False,
) -> Any:
    """Probabilities as an ``xr.DataArray`` ``(class, y, x)`` float32 on the stack's grid.

    Coordinates ``y``/``x`` and the rioxarray CRS/transform of ``stack`` are kept.
    """
    import xarray as xr

    check_bands(run, stack)
    probs = blend_predict(
        _model_fn(run, batch), stack_source(run, stack), window=run.input_size,
        out_window=run.output_size, subdivisions=subdivisions, tta=tta, batch=batch,
        combine=combine, progress=progress,
    )  # fmt: skip
    assert probs is not None
    coords = {"class": list(run.class_names)}
    for c in ("y", "x"):
        if c in stack.coords:
            coords[c] = stack.coords[c].values
    out = xr.DataArray(np.moveaxis(probs, -1, 0), dims=("class", "y", "x"), coords=coords)
    crs, transform = georef(stack)
    if crs is not None:
        out = out.rio.write_crs(crs).rio.write_transform(transform)
    return out


def file_stem(image_id: str) -> str:
    """A file-name-safe form of an image id ("tile_1/image_part_001" -> "tile_1__image_part_001")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(image_id).replace("/", "__")).strip("_") or "image"


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """Validate a format list ("tif,geojson,wkt")."""
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)]
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        from satseg.errors import ConfigError

        raise ConfigError(f"unknown output format(s) {bad}; choose from {','.join(FORMATS)}")
    return tuple(dict.fromkeys(items))


def predict_to_files(
    run: Any,
    stack: Any,
    out_dir: str | Path,
    image_id: str,
    *,
    formats: Sequence[str] = ("tif", "geojson"),
    postprocess: Any = None,
    subdivisions: int = 2,
    tta: int = 8,
    batch: int = 16,
    combine: str = "arithmetic",
    simplify: float = 0.0,
    progress: bool = False,
    dstl_grid: tuple[float, float] | None = None,
    submission: dict[str, dict[int, str]] | None = None,
    rows_source: Any = None,
) -> dict[str, Path]:
    """Predict one image and write its outputs into ``out_dir``; returns ``{kind: path}``.

    Kinds: ``probs`` (float32 GeoTIFF, one band per class), ``mask`` (uint8 0/1 GeoTIFF),
    ``geojson``, ``wkt`` (CSV ImageId,Class,MultipolygonWKT). With "submission" in ``formats``,
    the image's DSTL WKTs (``dstl_grid`` = its ``(Xmax, Ymin)``) are added to ``submission``
    for :func:`satseg.inference.export.write_dstl_submission`. ``postprocess`` is a PostProcess
    (default: the run's ``postprocess.json`` or thresholds 0.5 and the default rules).
    ``rows_source(sink)``, when given, produces the probability rows instead of blending here
    (the strips of a scene predicted on a cluster, satseg.inference.distributed).
    """
    from satseg.inference.export import (
        GeoTiffWriter,
        masks_to_geojson,
        masks_to_wkt,
        write_geojson,
        write_geotiff,
        write_wkt_csv,
    )
    from satseg.inference.postprocess import PostProcess, clean_masks, threshold_rows

    formats = parse_formats(formats)
    if "submission" in formats and (dstl_grid is None or submission is None):
        raise DataError("the submission format needs the image's DSTL grid size (Xmax, Ymin)")
    check_bands(run, stack, f"image {image_id!r}")
    pp = postprocess or PostProcess.load(run.run_dir, run.class_names)
    if tuple(pp.class_names) != tuple(run.class_names):
        raise DataError(
            f"post-processing classes {pp.class_names} differ from the run's {run.class_names}"
        )
    out = Path(out_dir)
    stem = file_stem(image_id)
    crs, transform = georef(stack)
    H, W = int(stack.sizes["y"]), int(stack.sizes["x"])
    K = len(run.class_names)
    names = list(run.class_names)
    masks = np.zeros((H, W, K), bool)
    paths: dict[str, Path] = {}
    writer = None
    if "tif" in formats:
        paths["probs"] = out / f"{stem}_probs.tif"
        writer = GeoTiffWriter(
            paths["probs"], height=H, width=W, count=K, dtype="float32", crs=crs,
            transform=transform, descriptions=names,
        )  # fmt: skip

    exclusive = getattr(run, "mode", None) == "softmax"

    def sink(y0: int, rows: np.ndarray) -> None:
        m = threshold_rows(rows, pp)
        if exclusive:  # softmax run: one class per pixel, also where blended scores tie
            from satseg.data.exclusive import argmax_masks

            m &= argmax_masks(rows)
        masks[y0 : y0 + len(rows)] = m
        if writer is not None:
            writer.write_rows(y0, rows)

    kwargs = dict(
        window=run.input_size, out_window=run.output_size, subdivisions=subdivisions, tta=tta,
        batch=batch, combine=combine, sink=sink, progress=progress,
    )  # fmt: skip

    def produce() -> None:
        if rows_source is not None:
            rows_source(sink)
        else:
            blend_predict(_model_fn(run, batch), stack_source(run, stack), **kwargs)  # type: ignore[arg-type]

    if writer is not None:
        with writer:
            produce()
    else:
        produce()
    mk = clean_masks(np.ascontiguousarray(np.moveaxis(masks, -1, 0)), pp).astype(np.uint8)
    if "tif" in formats:
        paths["mask"] = write_geotiff(
            out / f"{stem}_mask.tif", np.moveaxis(mk, 0, -1), crs=crs, transform=transform,
            descriptions=names,
        )  # fmt: skip
    areas = [pp.min_area.get(n, 0) for n in names]
    if "geojson" in formats:
        doc = masks_to_geojson(
            mk, names, colours=[c.colour for c in run.classes], transform=transform, crs=crs,
            min_area=areas, simplify=simplify, image_id=str(image_id),
        )  # fmt: skip
        paths["geojson"] = write_geojson(out / f"{stem}.geojson", doc)
    if "wkt" in formats:
        wkts = masks_to_wkt(mk, names, transform=transform, min_area=areas, simplify=simplify)
        paths["wkt"] = write_wkt_csv(out / f"{stem}_wkt.csv", str(image_id), wkts)
    if "submission" in formats:
        from satseg.inference.export import dstl_wkts

        codes = [c.code for c in run.classes]
        submission[str(image_id)] = dstl_wkts(  # type: ignore[index]
            mk,
            codes,
            *dstl_grid,
            min_area=areas,
            simplify=simplify,  # type: ignore[misc]
        )
    log.info("predicted %s -> %s", image_id, ", ".join(str(p.name) for p in paths.values()))
    return paths
