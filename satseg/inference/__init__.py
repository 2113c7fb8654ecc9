"""Prediction at scene scale: smooth blended tiles, test-time augmentation, post-processing, export.

::

    from satseg.inference import blend_predict, predict_image
    probs = blend_predict(fn, image_hwc, window=160, out_window=128, subdivisions=2, tta=8, batch=16)
    probs = predict_image(run, stack)        # xr.DataArray (class, y, x) probabilities

Only numpy is imported here; TensorFlow is imported by the run that is passed in, rasterio and
shapely by the export functions when called.
"""

from __future__ import annotations

from typing import Any

from satseg.inference.blend import CachedRows, RowSource, blend_predict
from satseg.inference.windows import spline_window_1d, spline_window_2d

_LAZY = {
    "predict_image": "satseg.inference.predict",
    "predict_to_files": "satseg.inference.predict",
    "PostProcess": "satseg.inference.postprocess",
    "apply_postprocess": "satseg.inference.postprocess",
    "tune_postprocess": "satseg.inference.postprocess",
    "default_rules": "satseg.inference.postprocess",
    "WaterIndexBaseline": "satseg.inference.water",
    "write_geotiff": "satseg.inference.export",
    "masks_to_geojson": "satseg.inference.export",
    "masks_to_wkt": "satseg.inference.export",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'satseg.inference' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "CachedRows",
    "RowSource",
    "blend_predict",
    "spline_window_1d",
    "spline_window_2d",
    *_LAZY,
]
