"""Tiled prediction with smooth blending, test-time augmentation and bounded memory.

:func:`blend_predict` runs any model function ``fn(batch NHWC float32) -> NHWC`` over an image of
any shape. Design (and how it differs from the 2017 module, DOMAIN.md section 6):

- Output windows of ``out_window`` pixels step by ``stride = out_window // subdivisions``; each
  model input is the output window plus ``margin = (window - out_window) / 2`` pixels of context
  on every side, read with mirror (reflect) padding beyond the image.
- Each window's prediction is multiplied by a squared-spline window and summed; the sum is divided
  by the accumulated weight (separable: the outer product of two 1-D sums), so there is no edge
  fade at any size or subdivision count, odd ones included.
- The image is walked one row of windows at a time: a strip of ``window`` rows is gathered (with
  reflect indexing, no padded copy of the image), its windows are strided views, batches of
  ``batch`` windows go to the model once per dihedral view (the views are applied to the batch and
  undone on the output, so only one batch is alive at a time), and the output rows that no later
  window touches are normalised and handed to a sink. Peak memory is a few strips plus one batch,
  independent of the image size; accumulation is float32.
- Views are averaged per window before blending: arithmetically (blending is linear, so this equals
  averaging blended views) or geometrically (``exp(mean(log p))``, for probabilities; 3rd place of the
  DSTL competition, Iglovikov et al. 2017).

The input is a numpy ``(H, W, C)`` array or a :class:`RowSource`, which reads rows on demand (a
raster on disk, a dask-backed xarray) so that images larger than memory can be predicted with a
sink that writes rows to disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from satseg.errors import ConfigError, DataError, ModelError
from satseg.inference.frames import Frames as _Frames
from satseg.inference.frames import batch_of as _batch_of
from satseg.inference.frames import window_stacks as _window_stacks
from satseg.inference.windows import (
    accumulated_weight,
    reflect_index,
    spline_window_1d,
    tile_starts,
    views,
)

log = logging.getLogger("satseg.inference.blend")

MAX_WINDOW = 4096  # px; a larger model window is almost surely a mistake (and > 1 GB per batch)
COMBINES = ("arithmetic", "geometric")

Sink = Callable[[int, np.ndarray], None]


class RowSource(Protocol):
    """Rows of an ``(H, W, C)`` float32 image, read on demand."""

    shape: tuple[int, int, int]

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """float32 ``(stop - start, W, C)``."""
        ...


class CachedRows:
    """A :class:`RowSource` wrapper reading ``block`` rows at a time from ``read(start, stop)``.

    Requests from the blending loop move down the image with overlap, so each source row is read
    about once (plus one window of overlap per block).
    """

    def __init__(
        self, shape: tuple[int, int, int], read: Callable[[int, int], Any], block: int = 1024
    ):
        self.shape = (int(shape[0]), int(shape[1]), int(shape[2]))
        self._read = read
        self.block = max(1, int(block))
        self._start, self._rows = 0, np.zeros((0, self.shape[1], self.shape[2]), np.float32)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        have_stop = self._start + len(self._rows)
        if start < self._start or stop > have_stop:
            end = min(self.shape[0], max(stop, start + self.block))
            rows = np.asarray(self._read(start, end), dtype=np.float32)
            if rows.shape != (end - start, self.shape[1], self.shape[2]):
                raise DataError(
                    f"row source returned shape {rows.shape} for rows {start}:{end}, expected "
                    f"{(end - start, self.shape[1], self.shape[2])}"
                )
            self._start, self._rows = start, rows
        return self._rows[start - self._start : stop - self._start]


def _check_args(
    shape: tuple[int, ...],
    window: int,
    out_window: int,
    subdivisions: int,
    batch: int,
    combine: str,
) -> None:
    if len(shape) != 3 or min(shape) < 1:
        raise DataError(
            f"blend_predict needs a non-empty (H, W, C) image, got shape {tuple(shape)}"
        )
    if not 1 <= window <= MAX_WINDOW:
        raise ConfigError(f"window must be in 1..{MAX_WINDOW} px, got {window}")
    if not 1 <= out_window <= window or (window - out_window) % 2:
        raise ConfigError(
            f"out_window ({out_window}) must be in 1..window ({window}) and window - out_window "
            "must be even (the same context margin on every side)"
        )
    if not 1 <= subdivisions <= out_window:
        raise ConfigError(
            f"subdivisions must be in 1..out_window ({out_window}), got {subdivisions}"
        )
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}")
    if combine not in COMBINES:
        raise ConfigError(f"combine must be one of {COMBINES}, got {combine!r}")


def blend_predict(
    fn: Callable[[np.ndarray], Any],
    image: np.ndarray | RowSource,
    *,
    window: int,
    out_window: int | None = None,
    subdivisions: int = 2,
    tta: int = 8,
    batch: int = 16,
    combine: str = "arithmetic",
    sink: Sink | None = None,
    progress: bool = False,
    eps: float = 1e-6,
    rows: tuple[int, int] | None = None,
) -> np.ndarray | None:
    """Predict ``image`` window by window with smooth blending; see the module docstring.

    Args:
        fn: model function, ``(n, window, window, C)`` float32 -> ``(n, out_window, out_window, K)``.
        image: numpy ``(H, W, C)`` (cast to float32 per strip) or a :class:`RowSource`.
        window: model input side in px. out_window: model output side (default ``window``);
            ``window - out_window`` is the context cropped by the model, split evenly.
        subdivisions: windows overlapping each pixel along each axis (stride = out / subdivisions).
        tta: dihedral views per window: 1, 2, 4 or 8. combine: "arithmetic" or "geometric".
        batch: windows per model call. sink: ``sink(y0, rows)`` receives finished float32 rows
            ``(n, W, K)`` top to bottom; without it the full ``(H, W, K)`` array is returned.
        progress: show a tqdm bar over windows. eps: floor of probabilities for "geometric".
        rows: ``(r0, r1)``: predict only image rows ``r0:r1`` (a strip of a large scene), exactly
            as they come out of the whole image: the window grid is the whole image's, only the
            windows touching the strip run, and the result (or the sink's rows) covers the strip.
    """
    shape = tuple(int(v) for v in image.shape)
    out_window = window if out_window is None else int(out_window)
    _check_args(shape, window, out_window, subdivisions, batch, combine)
    H, W, C = shape
    r0, r1 = _check_rows(rows, H)
    margin = (window - out_window) // 2
    stride = max(1, out_window // subdivisions)
    view_list = views(tta)
    ys, _ = tile_starts(H, out_window, stride)
    xs, _ = tile_starts(W, out_window, stride)
    # the window rows that touch [r0, r1): the same global grid as a whole-image run, so a strip
    # of rows is predicted exactly as in the whole image (same windows, same order of sums)
    ks = [k for k, y0 in enumerate(ys) if y0 + out_window > r0 and y0 < r1]
    w1 = spline_window_1d(out_window)
    w2 = np.outer(w1, w1).astype(np.float32)[:, :, None]
    inv_wy = (1.0 / accumulated_weight(H, ys, w1)).astype(np.float32)
    inv_wx = (1.0 / accumulated_weight(W, xs, w1)).astype(np.float32)
    x_in0 = int(xs[0]) - margin
    width_in = int(xs[-1] - xs[0]) + window
    cidx = reflect_index(x_in0 + np.arange(width_in), W)
    x_off = -int(xs[0])  # column of image x=0 in the accumulator
    offsets = (xs - xs[0]).astype(np.int64)
    nx = len(xs)
    geometric = combine == "geometric"
    w2v = w2 * np.float32(1.0 / len(view_list))  # arithmetic mean folded into the weight
    acc: _Frames | None = None
    out: np.ndarray | None = None
    xbuf = np.empty((min(batch, nx), window, window, C), np.float32)
    log.debug("blend %dx%dx%d rows %d:%d: window %d, out %d, stride %d, %d x %d windows, "
              "%d views", H, W, C, r0, r1, window, out_window, stride, len(ks), nx,
              len(view_list))  # fmt: skip

    from tqdm.auto import tqdm

    bar = tqdm(total=len(ks) * nx, disable=not progress, unit="window", desc="predict")
    try:
        for k in ks:
            y0 = int(ys[k])
            ridx = reflect_index(y0 - margin + np.arange(window), H)
            stacks = _window_stacks(_gather(image, ridx, cidx), window, stride, nx, view_list)
            for j0 in range(0, nx, batch):
                n = min(batch, nx - j0)
                outs = []  # geometric only: this batch's outputs, one per view
                for v in view_list:
                    np.copyto(xbuf[:n], _batch_of(stacks, v, j0, n))
                    p = _call(fn, xbuf[:n], out_window)
                    if acc is None:
                        acc = _Frames(out_window, stride, offsets, p.shape[-1],
                                      view_list, geometric)  # fmt: skip
                        if sink is None:
                            out = np.empty((r1 - r0, W, p.shape[-1]), np.float32)
                    if p.shape[0] != n or p.shape[-1] != acc.K:
                        raise ModelError(
                            f"model returned {p.shape} for a batch of {n} windows; expected "
                            f"({n}, {out_window}, {out_window}, {acc.K})"
                        )
                    if np.may_share_memory(p, xbuf) or not p.flags.writeable:
                        p = p.copy()  # fn returned (a view of) its input: xbuf is reused
                    if geometric:
                        outs.append((v, p))
                    else:
                        acc.add_view(p, v, j0, w2v)
                if geometric:
                    assert acc is not None
                    acc.add_geometric(outs, j0, w2, eps)
                bar.update(n)
            assert acc is not None
            # rows [y0, y0 + stride) are final unless this is the last row of windows
            last = k == len(ys) - 1
            done = out_window if last else stride
            acc.fold(done)
            _emit(acc.acc, y0, done, (r0, r1), W, x_off, inv_wy, inv_wx, sink, out)
            if not last:
                acc.shift()
    finally:
        bar.close()
    return out


def _gather(image: Any, ridx: np.ndarray, cidx: np.ndarray) -> np.ndarray:
    """float32 strip ``image[ridx][:, cidx]`` as one contiguous copy (slices where possible)."""
    a, b = int(ridx.min()), int(ridx.max()) + 1
    rows = image[a:b] if isinstance(image, np.ndarray) else image.read_rows(a, b)
    rel = ridx - a
    if not (len(rel) == b - a and np.array_equal(rel, np.arange(b - a))):
        rows = rows[rel]
    out = np.empty((len(ridx), len(cidx), rows.shape[2]), np.float32)
    # columns: a mirrored left part, the image itself, a mirrored right part
    left = int(np.argmax(cidx == 0)) if cidx[0] != 0 else 0
    W = rows.shape[1]
    mid = slice(left, left + W)
    if left + W <= len(cidx) and np.array_equal(cidx[mid], np.arange(W)):
        out[:, mid] = rows
        out[:, :left] = rows[:, cidx[:left]]
        out[:, left + W :] = rows[:, cidx[left + W :]]
    else:  # tiny images: repeated reflection
        out[:] = rows[:, cidx]
    return out


def _call(fn: Callable[[np.ndarray], Any], x: np.ndarray, out_window: int) -> np.ndarray:
    p = np.asarray(fn(x), dtype=np.float32)
    if p.ndim != 4 or p.shape[1:3] != (out_window, out_window):
        raise ModelError(
            f"model returned shape {p.shape} for input {x.shape}; expected "
            f"(n, {out_window}, {out_window}, classes): check window/out_window against the model"
        )
    return p


def _check_rows(rows: tuple[int, int] | None, H: int) -> tuple[int, int]:
    if rows is None:
        return 0, H
    r0, r1 = (int(v) for v in rows)
    if not 0 <= r0 < r1 <= H:
        raise ConfigError(f"rows must be (r0, r1) with 0 <= r0 < r1 <= {H} (image height), "
                          f"got {tuple(rows)}")  # fmt: skip
    return r0, r1


def _emit(
    acc: np.ndarray,
    y0: int,
    n_rows: int,
    rng: tuple[int, int],
    W: int,
    x_off: int,
    inv_wy: np.ndarray,
    inv_wx: np.ndarray,
    sink: Sink | None,
    out: np.ndarray | None,
) -> None:
    """Normalise the finished accumulator rows ``[y0, y0 + n_rows)`` inside ``rng`` and emit."""
    a, b = max(y0, rng[0]), min(y0 + n_rows, rng[1])
    if a >= b:
        return
    rows = acc[a - y0 : b - y0, x_off : x_off + W]
    if out is not None:
        dst = out[a - rng[0] : b - rng[0]]
        np.multiply(rows, inv_wy[a:b, None, None], out=dst)
        dst *= inv_wx[None, :, None]
    else:
        res = rows * inv_wy[a:b, None, None]
        res *= inv_wx[None, :, None]
        sink(a, res)  # type: ignore[misc]
