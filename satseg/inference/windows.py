"""Blending windows, the dihedral views of test-time augmentation, and reflect indexing.

The weight window is the squared spline of the 2017 smooth-blending module (DOMAIN.md section 6),
written from its description: along one axis, with ``r`` the triangle that rises from the edges to
1 at the centre, ``w = 2 r^2`` in the outer quarters and ``w = 1 - 2 (1 - r)^2`` in the middle
half (piecewise quadratic, continuous value and slope at ``r = 1/2``). The 2-D window is the outer
product of two 1-D windows. It is strictly positive (``r`` is sampled at pixel centres), so every
pixel that a window touches gets a positive accumulated weight and the weighted sum divided by
the accumulated weight is exact for any tiling.
"""

from __future__ import annotations

import numpy as np

from satseg.errors import ConfigError

# The dihedral group D4 as (flip y, flip x, transpose): view(A) = T^t(Fy^fy(Fx^fx(A))). Every
# element is one of the 8 flag combinations; in rotation terms (numpy.rot90 by k quarter turns,
# after an optional left-right mirror): (0,0,0) identity, (0,1,1) k=1, (1,1,0) k=2, (1,0,1) k=3,
# (0,1,0) mirror, (0,0,1) mirror+k=1 (transpose), (1,0,0) mirror+k=2, (1,1,1) mirror+k=3.
# tta=4 uses the four rotations, tta=2 the identity and the left-right mirror.
View = tuple[int, int, int]
VIEWS: dict[int, tuple[View, ...]] = {
    1: ((0, 0, 0),),
    2: ((0, 0, 0), (0, 1, 0)),
    4: ((0, 0, 0), (0, 1, 1), (1, 1, 0), (1, 0, 1)),
    8: ((0, 0, 0), (0, 1, 1), (1, 1, 0), (1, 0, 1), (0, 1, 0), (0, 0, 1), (1, 0, 0), (1, 1, 1)),
}


def spline_window_1d(size: int, power: int = 2) -> np.ndarray:
    """1-D squared-spline (power 2) weights of length ``size``, float64, mean 1, all > 0."""
    if size < 1:
        raise ConfigError(f"window size must be >= 1, got {size}")
    t = (np.arange(size, dtype=np.float64) + 0.5) / size
    r = 1.0 - np.abs(2.0 * t - 1.0)  # triangle in (0, 1], 1 at the centre
    outer = (2.0 * r) ** power / 2.0
    inner = 1.0 - (2.0 * (1.0 - r)) ** power / 2.0
    w = np.where(r <= 0.5, outer, inner)
    return w / w.mean()


def spline_window_2d(size: int, power: int = 2) -> np.ndarray:
    """2-D window ``(size, size)`` float32: the outer product of :func:`spline_window_1d`."""
    w = spline_window_1d(size, power)
    return np.outer(w, w).astype(np.float32)


def views(tta: int) -> tuple[View, ...]:
    """The dihedral views for ``tta`` in 1, 2, 4, 8; ConfigError otherwise."""
    if tta not in VIEWS:
        raise ConfigError(
            f"tta must be one of {sorted(VIEWS)} (number of dihedral views), got {tta}"
        )
    return VIEWS[tta]


def flips(batch: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Flip an NHWC batch along y and/or x (a view)."""
    return batch[:, :: -1 if fy else 1, :: -1 if fx else 1]


def view_forward(batch: np.ndarray, view: View) -> np.ndarray:
    """Apply a dihedral view to an NHWC batch (a strided view, no copy)."""
    fy, fx, t = view
    out = flips(batch, fy, fx)
    return out.transpose(0, 2, 1, 3) if t else out


def view_inverse(batch: np.ndarray, view: View) -> np.ndarray:
    """Undo :func:`view_forward` on an NHWC batch (a strided view, no copy)."""
    fy, fx, t = view
    out = batch.transpose(0, 2, 1, 3) if t else batch
    return flips(out, fy, fx)


def reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Map integer positions (any range) into ``[0, n)`` by mirror reflection without repeating
    the edge pixel, as ``numpy.pad(mode="reflect")`` does (repeated reflection for large pads)."""
    idx = np.asarray(idx, dtype=np.int64)
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    j = np.mod(idx, period)
    return np.where(j >= n, period - j, j)


def tile_starts(size: int, out_window: int, stride: int) -> tuple[np.ndarray, int]:
    """Start positions (image coordinates, may be negative) of the output windows along one axis.

    The grid starts ``out_window - stride`` before the image so that the first and last image
    pixels are covered by as many windows as interior ones; it ends once the image plus the same
    margin is covered. Returns ``(starts, pad)`` with ``pad = out_window - stride``.
    """
    pad = out_window - stride
    span = size + 2 * pad
    n = max(1, -(-(span - out_window) // stride) + 1)
    return -pad + stride * np.arange(n, dtype=np.int64), pad


def accumulated_weight(size: int, starts: np.ndarray, w1d: np.ndarray) -> np.ndarray:
    """Sum over windows of the 1-D weight at each of ``size`` image positions (float64).

    The 2-D window is separable and the grid is a product grid, so the 2-D accumulated weight is
    the outer product of the two 1-D sums: no weight canvas is accumulated.
    """
    acc = np.zeros(size, dtype=np.float64)
    n = len(w1d)
    for s in starts:
        a, b = max(int(s), 0), min(int(s) + n, size)
        if a < b:
            acc[a:b] += w1d[a - int(s) : b - int(s)]
    return acc
