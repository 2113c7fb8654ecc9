"""Pure array helpers behind the plots: stretches, class overlays, error maps.

They return arrays; the views turn them into HoloViews elements. Kept free of Panel so they are
tested on tiny arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Error map colours (TP, FP, FN): green, vermilion, blue; distinct also for red-green colour blindness
# (Okabe & Ito 2008 palette).
ERROR_COLOURS = {"TP": "#009E73", "FP": "#D55E00", "FN": "#0072B2"}


def hex_to_rgb(colour: str) -> tuple[float, float, float]:
    """``"#rrggbb"`` -> floats in [0, 1]."""
    c = colour.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"colour must be '#rrggbb', got {colour!r}")
    return tuple(int(c[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def overview(arr: np.ndarray, max_pixels: int = 1_000_000) -> np.ndarray:
    """A strided subsample of a 2-D array with at most about ``max_pixels`` pixels."""
    step = max(1, int(np.ceil(np.sqrt(arr.shape[-2] * arr.shape[-1] / max_pixels))))
    return arr[..., ::step, ::step]


def percentile_limits(
    arr: np.ndarray, low: float = 2.0, high: float = 98.0, max_pixels: int = 1_000_000
) -> tuple[float, float]:
    """Percentile stretch limits of the finite pixels (on an overview of large arrays).

    Returns ``(0, 1)`` for an array without finite pixels and widens a flat range by one unit so
    the stretch never divides by zero.
    """
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}")
    sub = overview(np.asarray(arr), max_pixels)
    finite = sub[np.isfinite(sub)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [low, high])
    if not hi > lo:
        lo, hi = float(lo) - 0.5, float(lo) + 0.5
    return float(lo), float(hi)


def stretch(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linear stretch of ``[lo, hi]`` to ``[0, 1]``, clipped; NaN stays NaN."""
    out = (np.asarray(arr, dtype=np.float32) - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)


def class_index(masks: np.ndarray, enabled: Sequence[bool] | None = None) -> np.ndarray:
    """uint8 ``(H, W)``: 1 + the index of the class drawn at each pixel, 0 for none.

    Classes overlap (DSTL); later enabled classes are drawn over earlier ones. A twentieth of
    the memory of an RGBA overlay and a fiftieth of its time: colour it where it is shown
    (:func:`class_lut`), on the visible or subsampled part only.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (classes, H, W), got {masks.shape}")
    if masks.shape[0] > 254:
        raise ValueError(f"at most 254 classes can be drawn, got {masks.shape[0]}")
    enabled = [True] * masks.shape[0] if enabled is None else list(enabled)
    if len(enabled) != masks.shape[0]:
        raise ValueError(f"{len(enabled)} class switches for {masks.shape[0]} masks")
    idx = np.zeros(masks.shape[1:], dtype=np.uint8)
    for i, on in enumerate(enabled):
        if on:
            m = masks[i]
            np.copyto(idx, i + 1, where=m if m.dtype == bool else m != 0)
    return idx


def class_lut(colours: Sequence[str], alpha: float = 0.5) -> np.ndarray:
    """float32 ``(n + 1, 4)`` RGBA per value of :func:`class_index` (row 0 transparent)."""
    lut = np.zeros((len(colours) + 1, 4), dtype=np.float32)
    for i, colour in enumerate(colours):
        lut[i + 1, :3] = hex_to_rgb(colour)
        lut[i + 1, 3] = alpha
    return lut


def class_overlay(
    masks: np.ndarray,
    colours: Sequence[str],
    enabled: Sequence[bool] | None = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """RGBA float32 ``(H, W, 4)`` of per-class masks ``(n, H, W)`` in class colours.

    Classes overlap (DSTL); later classes are drawn over earlier ones. Pixels of no enabled class
    are fully transparent.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[0] != len(colours):
        raise ValueError(f"masks {masks.shape} do not match {len(colours)} colours")
    return class_lut(colours, alpha)[class_index(masks, enabled)]


def error_codes(pred: np.ndarray, true: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray:
    """Per pixel 0 = TN or ignored, 1 = TP, 2 = FP, 3 = FN (one class, 2-D boolean masks)."""
    pred, true = np.asarray(pred).astype(bool), np.asarray(true).astype(bool)
    if pred.shape != true.shape:
        raise ValueError(f"prediction {pred.shape} and truth {true.shape} differ in shape")
    codes = np.zeros(pred.shape, dtype=np.uint8)
    codes[pred & true] = 1
    codes[pred & ~true] = 2
    codes[~pred & true] = 3
    if ignore is not None:
        codes[np.asarray(ignore, dtype=bool)] = 0
    return codes


def error_overlay(codes: np.ndarray, alpha: float = 0.8) -> np.ndarray:
    """RGBA float32 of :func:`error_codes`: TP, FP, FN in :data:`ERROR_COLOURS`, TN transparent."""
    out = np.zeros(codes.shape + (4,), dtype=np.float32)
    for code, key in ((1, "TP"), (2, "FP"), (3, "FN")):
        m = codes == code
        out[m, :3] = hex_to_rgb(ERROR_COLOURS[key])
        out[m, 3] = alpha
    return out


def rgb_from_channels(channels: Sequence[np.ndarray], limits: Sequence[tuple[float, float]]) -> np.ndarray:
    """Stack three stretched channels into float32 ``(H, W, 3)`` in [0, 1] (NaN -> 0)."""
    if len(channels) != 3 or len(limits) != 3:
        raise ValueError("an RGB composite needs exactly three channels and three limits")
    out = np.stack([stretch(c, lo, hi) for c, (lo, hi) in zip(channels, limits, strict=True)], -1)
    return np.nan_to_num(out, nan=0.0)
