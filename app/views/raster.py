"""Datashader rasterisation of large images that re-runs on every pan/zoom and plot resize.

``raster_dmap(fn, streams)`` draws ``fn()`` (a full-resolution ``hv.Image`` or ``hv.RGB`` held in
server memory) through ``holoviews.operation.datashader.rasterize`` at the plot's pixel size for
the visible range only, so the browser never receives the full image. A view outside the image
(where datashader has nothing to regrid) gets an empty, transparent element instead of an error.
"""

from __future__ import annotations

import logging

import holoviews as hv
import numpy as np
from holoviews.core.data.interface import DataError
from holoviews.operation.datashader import rasterize

log = logging.getLogger("satseg.app.raster")


def empty_like(el: hv.Element, x_range=None, y_range=None) -> hv.Element:
    """A transparent 2x2 element of ``el``'s type inside the given ranges (or the unit square)."""
    x0, x1 = x_range if x_range else (0.0, 2.0)
    y0, y1 = y_range if y_range else (0.0, 2.0)
    xs = np.array([x0 + (x1 - x0) / 4, x0 + 3 * (x1 - x0) / 4])
    ys = np.array([y0 + (y1 - y0) / 4, y0 + 3 * (y1 - y0) / 4])
    if isinstance(el, hv.RGB):
        z = np.zeros((2, 2), np.float32)
        return hv.RGB((xs, ys, z, z, z, z), kdims=el.kdims, vdims=list("RGBA"))
    return hv.Image((xs, ys, np.full((2, 2), np.nan, np.float32)), kdims=el.kdims, vdims=el.vdims)


def raster_dmap(fn, streams: list, **kwargs) -> hv.DynamicMap:
    """A DynamicMap rasterising ``fn()`` for the current x/y range and plot size."""

    def callback(x_range=None, y_range=None, width=None, height=None, scale=1.0, **_):
        el = fn()
        w = int(width or 800)
        h = int(height or 600)
        try:
            return rasterize(el, dynamic=False, x_range=x_range, y_range=y_range, width=w,
                             height=h, **kwargs)
        except (DataError, ValueError, IndexError):
            return empty_like(el, x_range, y_range)

    return hv.DynamicMap(callback, streams=[*streams, hv.streams.RangeXY(), hv.streams.PlotSize()])
