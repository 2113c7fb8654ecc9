"""Resampling band groups onto one grid and sub-pixel registration between groups.

Geometry: every band group of a scene covers the same ground extent, normalised to ``[0, 1)``
on each axis. Pixel ``u`` (edge coordinate) of a group with ``n`` pixels and offset ``o`` covers
``e = u / n + o``. ``o`` is what registration estimates (DOMAIN.md section 5: band groups were
shot at slightly different times and are offset by a few pixels).

Resampling is separable (scale + translation only), so each axis is a sparse matrix and a band is
resampled as ``Ry @ band @ Rx.T``: Keys cubic convolution (a = -0.5; Keys 1981) when enlarging or
keeping the size, exact pixel-area averaging when shrinking. Output pixels whose centre falls
outside the source extent are flagged invalid (NaN in stacks).

Registration: :func:`register_translation` wraps ``skimage.registration.phase_cross_correlation``
(Guizar-Sicairos et al. 2008) with upsampling for sub-pixel precision, on Hann-windowed images.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from satseg.errors import DataError

log = logging.getLogger("satseg.bands.align")

KEYS_A = -0.5


def _keys(t: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel."""
    t = np.abs(t)
    a = KEYS_A
    out = np.zeros_like(t)
    m1 = t <= 1
    m2 = (t > 1) & (t < 2)
    out[m1] = (a + 2) * t[m1] ** 3 - (a + 3) * t[m1] ** 2 + 1
    out[m2] = a * t[m2] ** 3 - 5 * a * t[m2] ** 2 + 8 * a * t[m2] - 4 * a
    return out


@dataclass(frozen=True)
class AxisResampler:
    """One axis: ``matrix`` (n_dst x n_src, CSR) and ``valid`` (n_dst bool)."""

    matrix: Any
    valid: np.ndarray

    def src_range(self, start: int, stop: int) -> tuple[int, int]:
        """The source rows ``[lo, hi)`` that destination rows ``[start, stop)`` read."""
        sub = self.matrix[start:stop]
        if sub.nnz == 0:
            return 0, 0
        return int(sub.indices.min()), int(sub.indices.max()) + 1


def axis_resampler(
    n_src: int,
    n_dst: int,
    src_offset: float = 0.0,
    dst_offset: float = 0.0,
    dst_range: tuple[int, int] | None = None,
) -> AxisResampler:
    """The sparse matrix taking ``n_src`` samples to ``n_dst`` samples over the same extent.

    Offsets are fractions of the extent (group offset ``o`` above): destination pixel ``d``
    samples the source at edge coordinate ``((d + 0.5) / n_dst + dst_offset - src_offset) * n_src``.
    ``dst_range`` builds only destination pixels ``[d0, d1)`` (rows of the matrix).
    """
    from scipy import sparse

    if n_src < 1 or n_dst < 1:
        raise DataError(f"cannot resample {n_src} pixels to {n_dst}: sizes must be positive")
    d0, d1 = dst_range if dst_range is not None else (0, n_dst)
    d = np.arange(d0, d1, dtype=np.float64)
    n_out = d1 - d0
    shift = (dst_offset - src_offset) * n_src
    ratio = n_src / n_dst
    centre = (d + 0.5) * ratio + shift  # edge coordinate in the source
    valid = (centre >= 0) & (centre <= n_src)
    if ratio <= 1.0 + 1e-9:  # enlarging (or same size): cubic convolution on pixel centres
        c = centre - 0.5
        base = np.floor(c).astype(np.int64)
        taps = np.arange(-1, 3)
        cols = base[:, None] + taps[None, :]
        w = _keys(c[:, None] - cols)
        cols = np.clip(cols, 0, n_src - 1)
        rows = np.repeat(np.arange(n_out), 4)
        m = sparse.csr_matrix((w.ravel(), (rows, cols.ravel())), shape=(n_out, n_src))
    else:  # shrinking: area of each source pixel inside the destination pixel
        lo = d * ratio + shift
        hi = lo + ratio
        k0 = np.floor(lo).astype(np.int64)
        ntaps = int(np.ceil(ratio)) + 1
        cols = k0[:, None] + np.arange(ntaps)[None, :]
        w = np.clip(np.minimum(hi[:, None], cols + 1) - np.maximum(lo[:, None], cols), 0, None)
        inside = (cols >= 0) & (cols < n_src)
        w = np.where(inside, w, 0.0)
        total = w.sum(axis=1, keepdims=True)
        w = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
        cols = np.clip(cols, 0, n_src - 1)
        rows = np.repeat(np.arange(n_out), ntaps)
        m = sparse.csr_matrix((w.ravel(), (rows, cols.ravel())), shape=(n_out, n_src))
    m.sum_duplicates()
    m.data[np.abs(m.data) < 1e-12] = 0.0
    m.eliminate_zeros()
    return AxisResampler(m.astype(np.float32).tocsr(), valid)


def apply_resampler(
    band: np.ndarray, ry: AxisResampler, rx: AxisResampler, row0: int = 0
) -> np.ndarray:
    """Resample ``band`` (rows ``row0..`` of the source, all columns) with ``Ry``, ``Rx``.

    ``ry`` must already be restricted to the destination rows wanted; ``band`` holds the source
    rows it reads starting at ``row0``. Returns float32 with NaN outside the source extent.
    """
    b = np.asarray(band, dtype=np.float32)
    m = ry.matrix
    if row0 or m.shape[1] != b.shape[0]:
        m = m[:, row0 : row0 + b.shape[0]]
    out = np.asarray(m @ b)
    out = np.asarray((rx.matrix @ out.T).T, dtype=np.float32)
    bad = ~ry.valid[:, None] | ~rx.valid[None, :]
    if bad.any():
        out[bad] = np.nan
    return out


def resample(
    band: np.ndarray,
    shape: tuple[int, int],
    src_offset: tuple[float, float] = (0.0, 0.0),
    dst_offset: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Resample a 2-D ``band`` onto a grid of ``shape`` over the same extent (offsets in extent)."""
    h, w = band.shape
    ry = axis_resampler(h, shape[0], src_offset[0], dst_offset[0])
    rx = axis_resampler(w, shape[1], src_offset[1], dst_offset[1])
    return apply_resampler(band, ry, rx)


def _centre_crop(a: np.ndarray, size: int) -> np.ndarray:
    h, w = a.shape
    y0 = max(0, (h - size) // 2)
    x0 = max(0, (w - size) // 2)
    return a[y0 : y0 + size, x0 : x0 + size]


def register_translation(
    reference: np.ndarray, moving: np.ndarray, upsample: int = 100, max_size: int = 1024
) -> tuple[float, float]:
    """Sub-pixel ``(dy, dx)`` that registers ``moving`` onto ``reference`` (same shape, 2-D).

    Follows ``phase_cross_correlation``: ``moving`` shifted by ``(dy, dx)`` matches
    ``reference``; content of ``moving`` that sits at ``p + t`` instead of ``p`` gives ``-t``.
    Both images are centre-cropped to ``max_size``, NaNs filled with the mean, standardised and
    Hann-windowed before correlating.
    """
    from skimage.filters import window
    from skimage.registration import phase_cross_correlation

    ref = np.asarray(reference, dtype=np.float64)
    mov = np.asarray(moving, dtype=np.float64)
    if ref.shape != mov.shape or ref.ndim != 2:
        raise DataError(
            f"register_translation needs two 2-D images of one shape, got {ref.shape} and "
            f"{mov.shape}"
        )
    if min(ref.shape) < 8:
        raise DataError(f"register_translation: images {ref.shape} are too small (< 8 px)")
    ref, mov = _centre_crop(ref, max_size), _centre_crop(mov, max_size)
    prepared = []
    for a in (ref, mov):
        fin = np.isfinite(a)
        if not fin.any():
            raise DataError("register_translation: an image has no finite pixels")
        a = np.where(fin, a, a[fin].mean())
        sd = a.std()
        a = (a - a.mean()) / (sd if sd > 0 else 1.0)
        prepared.append(a * window("hann", a.shape))
    shift, _err, _phase = phase_cross_correlation(
        prepared[0], prepared[1], upsample_factor=upsample, normalization=None
    )
    return float(shift[0]), float(shift[1])


def refine_offset(
    ref_src: np.ndarray,
    ref_origin: tuple[int, int],
    ref_shape: tuple[int, int],
    ref_offset: tuple[float, float],
    moving: np.ndarray,
    mov_origin: tuple[int, int],
    mov_shape: tuple[int, int],
    start: tuple[float, float],
    margin: int = 2,
) -> tuple[float, float]:
    """Refine a group offset (extent fractions) by least squares on a window.

    Phase correlation on small grids (DSTL's A group: ~134 px) is coarse and upsampled
    correlation leans towards whole pixels. This fits ``moving ~ a * resample(ref, offset) + b``
    (gain and bias absorb the band difference) and minimises the residual over the offset
    (Powell, from ``start``). ``ref_src`` is a window of the reference band (grid ``ref_shape``,
    offset ``ref_offset``) starting at ``ref_origin``; ``moving`` a window of the moving band
    (grid ``mov_shape``) starting at ``mov_origin``; the reference window must cover it.
    """
    from scipy.optimize import minimize

    mov = np.asarray(moving, dtype=np.float64)
    h, w = mov.shape
    (y0, x0), (s0, t0) = mov_origin, ref_origin
    inner = (slice(margin, h - margin), slice(margin, w - margin))
    m = mov[inner]

    def axis(n_src: int, n_dst: int, src_off: float, dst_off: float, d0: int, s_0: int,
             nd: int, ns: int) -> AxisResampler:  # fmt: skip
        r = axis_resampler(n_src, n_dst, src_off, dst_off, (d0, d0 + nd))
        return AxisResampler(r.matrix[:, s_0 : s_0 + ns], r.valid)

    def residual(o: np.ndarray) -> float:
        oy, ox = o[0] / mov_shape[0], o[1] / mov_shape[1]  # optimise in moving pixels
        ry = axis(ref_shape[0], mov_shape[0], ref_offset[0], oy, y0, s0, h, ref_src.shape[0])
        rx = axis(ref_shape[1], mov_shape[1], ref_offset[1], ox, x0, t0, w, ref_src.shape[1])
        r = apply_resampler(ref_src, ry, rx).astype(np.float64)[inner]
        ok = np.isfinite(r) & np.isfinite(m)
        if ok.sum() < 16:
            return float("inf")
        x, y = r[ok], m[ok]
        a = np.vstack([x, np.ones_like(x)]).T
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        return float(np.mean((y - a @ coef) ** 2))

    x0_ = np.array([start[0] * mov_shape[0], start[1] * mov_shape[1]])
    simplex = x0_ + np.array([[0.0, 0.0], [0.3, 0.0], [0.0, 0.3]])
    best = minimize(
        residual,
        x0_,
        method="Nelder-Mead",
        options={"initial_simplex": simplex, "xatol": 5e-3, "fatol": 1e-12, "maxiter": 200},
    )
    if not best.success or not np.all(np.abs(best.x - x0_) < 2.0):
        log.warning("registration refinement did not converge near the phase-correlation "
                    "estimate; keeping the latter")  # fmt: skip
        return start
    return float(best.x[0] / mov_shape[0]), float(best.x[1] / mov_shape[1])
