"""Datashader rasterisation of large images that re-runs on every pan/zoom and plot resize.

``raster_dmap(fn, streams)`` draws ``fn()`` (a full-resolution ``hv.Image`` or ``hv.RGB`` held in
server memory) through ``holoviews.operation.datashader.rasterize`` at the plot's pixel size for
the visible range only, so the browser never receives the full image. A view outside the image
(where datashader has nothing to regrid) gets an empty, transparent element instead of an error.
"""

from __future__ import annotations

import logging
import time

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
        return hv.RGB((xs, ys, z, z, z, z), kdims=el.kdims, vdims=list("RGBA"), label=EMPTY)
    return hv.Image((xs, ys, np.full((2, 2), np.nan, np.float32)), kdims=el.kdims, vdims=el.vdims,
                    label=EMPTY)


#: Label of placeholder elements: ``raster_dmap`` stretches them over the whole image, so a layer
#: that starts empty (labels still loading, no prediction yet) has the image's extent and zoom.
EMPTY = "empty"


def sample_step(x_range, y_range, shape: tuple[int, int] | None, width: int, height: int) -> int:
    """Pixel stride that still leaves at least two image pixels per screen pixel."""
    if shape is None:
        return 1
    span_x = (x_range[1] - x_range[0]) if x_range else shape[1]
    span_y = (y_range[1] - y_range[0]) if y_range else shape[0]
    return max(1, int(min(span_x / max(width, 1), span_y / max(height, 1)) // 2))


def strided(arr: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, arr)`` sampled every ``step`` pixels at block centres (a view of ``arr``).

    Zoomed out, the plot shows far fewer pixels than the image has: datashader then averages a
    ``step``-times smaller array (an image pyramid without the memory), always with two or more
    samples per screen pixel.
    """
    h, w = arr.shape[:2]
    off = step // 2
    xs = np.arange(off, w, step) + 0.5
    ys = np.arange(off, h, step) + 0.5
    return xs, ys, arr[off::step, off::step]


def strided_window(arr: np.ndarray, step: int, x_range=None, y_range=None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`strided` cut to ``x_range`` / ``y_range`` (plot coordinates, column / row) with
    one sample to spare on each side: for work per pixel (colouring a class map) on the
    visible part only when zoomed in."""
    xs, ys, sub = strided(arr, step)
    cols, rows = slice(None), slice(None)
    if x_range is not None:
        lo, hi = np.searchsorted(xs, [min(x_range) - step, max(x_range) + step])
        cols = slice(int(lo), int(hi))
    if y_range is not None:
        lo, hi = np.searchsorted(ys, [min(y_range) - step, max(y_range) + step])
        rows = slice(int(lo), int(hi))
    return xs[cols], ys[rows], sub[rows, cols]


def raster_dmap(fn, streams: list, shape=None, label: str | None = None, size=None, key=None,
                **kwargs) -> hv.DynamicMap:
    """A DynamicMap rasterising ``fn(step)`` for the current x/y range and plot size.

    ``size()``, when given, is the plot's frame ``(width, height)`` in screen pixels for the
    image drawn (a plot whose frame the app sizes itself): the raster then has that size from
    the first render, and a frame resized for another image's aspect does not render it again
    (with the browser's PlotSize stream, each image switch rendered every layer twice).
    ``key()``, when given, identifies the data ``fn`` draws: an update with the same key, range,
    size and step returns the last raster without computing it again (an overlay unchanged by
    a band change).

    ``label`` names every element it returns, placeholders included: an overlay then keeps one
    renderer per layer in a fixed order (a layer that changed label between updates got a new
    renderer drawn over the others: the ground truth vanished under an RGB composite).

    ``fn(step)`` returns the element sampled every ``step`` pixels (see :func:`strided`);
    ``shape()`` gives the full image's ``(H, W)`` to choose the step. When another image is
    shown, call :func:`reset_view` before drawing the DynamicMap in a new pane, so it starts from
    the whole new image rather than the old image's zoom.
    """
    rxy = hv.streams.RangeXY()
    last: list = [None, None]  # [what identified it, raster]

    def callback(x_range=None, y_range=None, width=None, height=None, scale=1.0, **_):
        t0 = time.perf_counter()
        if size is not None:
            width, height = size()
        w = int(width or 800)
        h = int(height or 600)
        try:
            full = shape() if shape is not None else None
        except Exception:  # noqa: BLE001 - no image yet
            full = None
        step = sample_step(x_range, y_range, full, w, h)
        ident = None if key is None else (key(), x_range, y_range, w, h, step)
        if ident is not None and last[0] == ident:
            return last[1]
        el = fn(step)
        if el.label == EMPTY:
            h_img, w_img = full if full else (2, 2)
            out = empty_like(el, x_range or (0.0, float(w_img)), y_range or (0.0, float(h_img)))
        else:
            try:
                out = rasterize(el, dynamic=False, x_range=x_range, y_range=y_range, width=w,
                                height=h, **kwargs)
            except (DataError, ValueError, IndexError):
                out = empty_like(el, x_range, y_range)
        log.debug("rasterised %s (%s) %s x %s at %dx%d px in %.3f s", type(el).__name__,
                  el.label or el.group, x_range, y_range, w, h, time.perf_counter() - t0)
        out = out.relabel(label) if label is not None else out
        last[:] = [ident, out]
        return out

    sized = [] if size is not None else [hv.streams.PlotSize()]
    dmap = hv.DynamicMap(callback, streams=[*streams, rxy, *sized])
    dmap.range_stream = rxy  # type: ignore[attr-defined]
    return dmap


def reset_view(*dmaps: hv.DynamicMap) -> None:
    """Forget the zoom of :func:`raster_dmap` DynamicMaps (without redrawing them)."""
    for d in dmaps:
        d.range_stream.reset()
