"""Training images in memory: float32 ``(H, W, C)`` stacks and int8 ``(H, W, K)`` targets.

Memory: 4 bytes per pixel and channel for the image plus 1 byte per pixel and class for the
target. The bundled Dubai sample (a few megapixels, RGB, 5 classes) takes well under 100 MB; the
full Dubai set (86 Mpx) about 1.5 GB; one DSTL image with 20 bands (3349 x 3396) about 1 GB.

Targets follow the IGNORE CONTRACT of ``satseg.models``: 0/1 per class, -1 in every channel where
the labels say ignore or any band is invalid (NaN). Invalid image values become 0 after
normalisation (the training-split mean).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from satseg.errors import DataError

log = logging.getLogger("satseg.data.arrays")

IGNORE = -1


@dataclass
class ImageArrays:
    """One image held in memory (``image`` float32 (H, W, C), ``target`` int8 (H, W, K))."""

    image_id: str
    image: np.ndarray
    target: np.ndarray
    channels: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])

    def class_pixels(self) -> np.ndarray:
        """Positive labelled pixels per class, int64 (K,)."""
        return (self.target == 1).reshape(-1, self.target.shape[2]).sum(axis=0).astype(np.int64)

    @property
    def nbytes(self) -> int:
        return int(self.image.nbytes + self.target.nbytes)


def stack_to_hwc(stack: object, band_names: Sequence[str]) -> np.ndarray:
    """Select ``band_names`` (in that order) from an xarray ``(band, y, x)`` stack as float32 HWC.

    Raises BandMismatchError naming the missing bands.
    """
    from satseg.errors import BandMismatchError

    have = [str(b) for b in stack.coords["band"].values]  # type: ignore[attr-defined]
    missing = [b for b in band_names if b not in have]
    if missing:
        raise BandMismatchError(
            f"the image lacks band(s) {missing} that the model was trained on; it has {have}. "
            "Use data with the same bands (and indices) as the training data"
        )
    sel = stack.sel(band=list(band_names))  # type: ignore[attr-defined]
    arr = np.asarray(sel.values, dtype=np.float32)
    return np.ascontiguousarray(np.moveaxis(arr, 0, -1))


def load_image_arrays(
    ds: object,
    image_id: str,
    class_idx: Sequence[int],
    indices: Sequence[str] = (),
) -> ImageArrays:
    """Load one labelled image of a SegDataset, add ``indices``, keep classes ``class_idx``."""
    stack = ds.load_image(image_id)  # type: ignore[attr-defined]
    if indices:
        from satseg.bands import add_indices

        stack = add_indices(stack, list(indices))
    names = [str(b) for b in stack.coords["band"].values]
    image = stack_to_hwc(stack, names)
    valid = np.isfinite(image).all(axis=2)
    if not valid.any():  # otherwise reported later as "classes have no labelled pixels"
        source = stack.attrs.get("source") or getattr(ds, "root", "")
        raise DataError(
            f"image '{image_id}' ({source}) has no valid pixel: every pixel is NaN or nodata in "
            "at least one band; check images.nodata in the manifest, or leave the image out"
        )
    labels = ds.load_labels(image_id)  # type: ignore[attr-defined]
    if labels.shape != image.shape[:2]:
        raise DataError(
            f"image '{image_id}': labels {labels.shape} do not match the image grid "
            f"{image.shape[:2]}; the data set reader must return labels on the image grid"
        )
    target = np.moveaxis(labels.masks[list(class_idx)], 0, -1).astype(np.int8)
    bad = labels.ignore | ~valid
    target[bad] = IGNORE
    return ImageArrays(
        image_id=image_id, image=image, target=np.ascontiguousarray(target), channels=tuple(names)
    )


def channel_stats(images: Sequence[ImageArrays]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over the finite pixels of ``images`` (float64 sums).

    Call it on the training split only; the validation split is normalised with these values.
    """
    if not images:
        raise DataError("no training images to compute normalisation statistics from")
    c = images[0].image.shape[2]
    s = np.zeros(c)
    s2 = np.zeros(c)
    n = np.zeros(c)
    for item in images:
        flat = item.image.reshape(-1, c)
        for ch in range(c):
            v = flat[:, ch]
            v = v[np.isfinite(v)].astype(np.float64)
            s[ch] += v.sum()
            s2[ch] += np.square(v).sum()
            n[ch] += v.size
    n = np.maximum(n, 1)
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean**2, 0.0))
    std = np.where(std < 1e-6, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def normalise(image: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(image - mean) / std`` per channel as float32, NaN/inf set to 0 (in place if float32)."""
    out = image if image.dtype == np.float32 else image.astype(np.float32)
    out -= mean.astype(np.float32)
    out /= std.astype(np.float32)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return out
