"""Confusion counts and Jaccard: the one implementation (DOMAIN.md section 2).

The competition score is computed in two steps (as in segmentation_models.pytorch's metrics):

1. per tile (image, patch, dask chunk, batch) count TP, FP, FN per class;
2. sum the counts over everything scored, then J_c = TP_c / (TP_c + FP_c + FN_c) and the score is
   the mean of J_c over classes.

Counts are additive, so the result is exact across tiles, images and chunks. The two kernels
:func:`count_terms` and :func:`jaccard_terms` are written against an array namespace ``xp``
(numpy, dask.array or ``keras.ops``) so that the Keras metric uses the same arithmetic.

A class with TP + FP + FN = 0 (absent from the truth and never predicted) has no defined J: it
is reported as NaN and left out of the mean. A class absent from the truth but predicted gets
J = 0; a class present but predicted empty gets J = 0 (it costs its FN area).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from satseg.errors import DataError

TP, FP, FN = 0, 1, 2


def count_terms(pred: Any, true: Any, valid: Any, axis: Any, xp: Any = np) -> tuple[Any, Any, Any]:
    """TP, FP, FN summed over ``axis`` from 0/1 arrays ``pred``, ``true`` and ``valid``.

    All three must be 0/1 arrays of one dtype (bool for numpy/dask, int for keras.ops),
    broadcastable; ``valid`` is 0 on ignored elements. Works for numpy, dask.array and keras.ops.
    """
    pv = pred * valid
    tp = xp.sum(pv * true, axis=axis)
    fp = xp.sum(pv, axis=axis) - tp
    fn = xp.sum(true * valid, axis=axis) - tp
    return tp, fp, fn


def jaccard_terms(tp: Any, fp: Any, fn: Any, xp: Any = np) -> tuple[Any, Any]:
    """Per-class Jaccard and the mean over classes with TP+FP+FN > 0 (last axis = classes).

    Returns ``(per_class, mean)``; per-class values with an empty denominator are NaN, and the
    mean is NaN when every class is empty.
    """
    denom = tp + fp + fn
    present = denom > 0
    safe = xp.where(present, denom, xp.ones_like(denom))
    per_class = xp.where(present, tp / safe, xp.full_like(tp, np.nan))
    n_present = xp.sum(xp.where(present, xp.ones_like(tp), xp.zeros_like(tp)), axis=-1)
    total = xp.sum(xp.where(present, per_class, xp.zeros_like(tp)), axis=-1)
    mean = xp.where(
        n_present > 0, total / xp.maximum(n_present, 1), xp.full_like(n_present, np.nan)
    )
    return per_class, mean


def _as_array(a: Any) -> Any:
    """numpy array, or the dask array itself (xarray objects are unwrapped)."""
    if type(a).__name__ in ("DataArray", "Variable"):
        a = a.data
    if hasattr(a, "__dask_graph__") and a.__dask_graph__() is not None:
        return a
    return np.asarray(a)


def confusion_counts(
    pred: Any,
    true: Any,
    ignore: Any = None,
    *,
    threshold: float | None = None,
    channel_axis: int = 0,
    per_image: bool = False,
) -> np.ndarray:
    """Per-class TP, FP, FN as int64 ``(n_classes, 3)``.

    Args:
        pred: predicted masks, 0/1 (bool or int) or probabilities with ``threshold`` set; shape
            ``(C, H, W)`` or ``(N, C, H, W)`` (``channel_axis`` says where C is; use -1 for
            Keras' NHWC). numpy, dask (counted chunk by chunk) or xarray.
        true: true masks, same shape, 0/1. Negative values are treated as ignored.
        ignore: optional bool mask, True where a pixel is ignored, shaped like ``true`` without
            the class axis (``(H, W)`` or ``(N, H, W)``).
        threshold: if given, ``pred >= threshold`` is positive.
        channel_axis: axis of the classes in ``pred``/``true``.
        per_image: with a leading image axis, return ``(N, n_classes, 3)`` instead of the sum.
    """
    p, t = _as_array(pred), _as_array(true)
    if p.shape != t.shape:
        raise DataError(
            f"confusion_counts: pred shape {tuple(p.shape)} differs from true shape "
            f"{tuple(t.shape)}; crop or resample them to the same grid"
        )
    if p.ndim not in (3, 4):
        raise DataError(
            f"confusion_counts: masks must be (C, H, W) or (N, C, H, W), got shape {p.shape}"
        )
    is_dask = not isinstance(p, np.ndarray) or not isinstance(t, np.ndarray)
    xp: Any = np
    if is_dask:
        import dask.array

        xp = dask.array
    c_axis = channel_axis % p.ndim
    p = xp.moveaxis(p, c_axis, -1)
    t = xp.moveaxis(t, c_axis, -1)
    # bool arrays throughout (1 byte per element; sums of bools are int64 counts)
    valid = t >= 0
    if ignore is not None:
        ign = _as_array(ignore)
        if tuple(ign.shape) != tuple(p.shape[:-1]):
            raise DataError(
                f"confusion_counts: ignore shape {tuple(ign.shape)} must equal the mask shape "
                f"without the class axis {tuple(p.shape[:-1])}"
            )
        valid = valid & ~ign.astype(bool)[..., None]
    pb = (p >= threshold) if threshold is not None else (p > 0)
    tb = t > 0
    if per_image:
        if p.ndim != 4:
            raise DataError("confusion_counts: per_image=True needs masks shaped (N, C, H, W)")
        axis: Any = (1, 2)
    else:
        axis = tuple(range(p.ndim - 1))
    tp, fp, fn = count_terms(pb, tb, valid, axis=axis, xp=xp)
    out = xp.stack([tp, fp, fn], axis=-1)
    return np.asarray(out, dtype=np.int64)
