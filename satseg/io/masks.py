"""Decoding raster masks into per-class 0/1 planes: integer-coded and colour-coded masks.

Every pixel value must be a class value, an ignore value, or a background value (labelled, no
class); anything else is an error naming the file, the values and their pixel counts, since a
silently dropped colour is a silently wrong training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from satseg.errors import LabelError
from satseg.io.manifest import ClassSpec, int_to_colour


def _planes(
    codes: np.ndarray,
    classes: Sequence[ClassSpec],
    ignore_values: Sequence[int],
    background: Sequence[int],
    path: Path,
    show,
) -> tuple[np.ndarray, np.ndarray]:
    masks = np.zeros((len(classes), *codes.shape), dtype=np.uint8)
    known = np.zeros(codes.shape, dtype=bool)
    for i, c in enumerate(classes):
        hit = (
            np.isin(codes, np.asarray(c.values, dtype=codes.dtype))
            if c.values
            else np.zeros_like(known)
        )
        masks[i] = hit
        known |= hit
    ignore = np.isin(codes, np.asarray(list(ignore_values), dtype=codes.dtype))
    known |= ignore | np.isin(codes, np.asarray(list(background), dtype=codes.dtype))
    if not known.all():
        vals, counts = np.unique(codes[~known], return_counts=True)
        order = np.argsort(counts)[::-1][:6]
        listed = ", ".join(f"{show(int(vals[k]))} ({int(counts[k])} px)" for k in order)
        more = f" and {len(vals) - len(order)} more" if len(vals) > len(order) else ""
        raise LabelError(
            f"mask {path} holds values no class, ignore or background entry names: {listed}{more}; "
            "add them to 'classes', 'labels.ignore' or 'labels.background' in satseg.yaml"
        )
    return masks, ignore


def decode_colour_mask(
    arr: np.ndarray,
    classes: Sequence[ClassSpec],
    ignore_values: Sequence[int],
    background: Sequence[int],
    path: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """``arr`` (3 or 4, H, W) uint8 RGB(A) -> (masks uint8 (K, H, W), ignore bool (H, W)).

    Colours are compared as ``0xRRGGBB`` integers; fully transparent pixels are ignored.
    """
    if arr.ndim != 3 or arr.shape[0] not in (3, 4):
        raise LabelError(
            f"colour mask {path} has {arr.shape[0] if arr.ndim == 3 else 1} band(s); a colour mask "
            "needs RGB (3 bands); for integer masks set labels.kind: code in satseg.yaml"
        )
    rgb = arr[:3].astype(np.int32)
    codes = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]
    if arr.shape[0] == 4:
        transparent = arr[3] == 0
        codes = np.where(transparent, -1, codes)
        ignore_values = [*ignore_values, -1]
    return _planes(codes, classes, ignore_values, background, path, int_to_colour)


def decode_code_mask(
    arr: np.ndarray,
    classes: Sequence[ClassSpec],
    ignore_values: Sequence[int],
    background: Sequence[int],
    nodata: int | float | None,
    path: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """``arr`` (1, H, W) integer codes -> (masks, ignore); ``nodata`` pixels are ignored."""
    if arr.ndim != 3 or arr.shape[0] != 1:
        raise LabelError(
            f"integer mask {path} has {arr.shape[0] if arr.ndim == 3 else '?'} bands; it needs one "
            "band of class codes; for RGB masks set labels.kind: colour in satseg.yaml"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        plane = arr[0]
        if not np.all(np.isfinite(plane)) or not np.all(plane == np.round(plane)):
            raise LabelError(
                f"integer mask {path} holds non-integer values ({arr.dtype}); save the class codes "
                "as an integer raster"
            )
    codes = arr[0].astype(np.int64)
    ignore_values = list(ignore_values)
    if nodata is not None and float(nodata).is_integer():
        ignore_values.append(int(nodata))
    return _planes(codes, classes, ignore_values, background, path, str)
