"""Validation during training: exact Jaccard on whole images or on a fixed set of large crops.

Images are predicted in non-overlapping output tiles (stride = output size) with the context
margin taken from the reflect-padded image, so every pixel is predicted once with full context.
(Smooth blending and TTA belong to ``satseg.inference``; validation needs a fast, fixed rule.)
Counts are TP/FP/FN from ``satseg.evaluation.confusion_counts``, summed over all validation images
and reduced once (DOMAIN.md section 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from satseg.data.arrays import ImageArrays


@dataclass
class ValItem:
    """A validation image or crop: normalised image, int8 target (-1 ignored)."""

    name: str
    image: np.ndarray
    target: np.ndarray


def predict_tiles(
    predict: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    input_size: int,
    output_size: int,
    batch_size: int = 8,
) -> np.ndarray:
    """Probabilities ``(H, W, K)`` for a normalised ``(H, W, C)`` image, tile by tile.

    ``predict`` maps ``(N, input, input, C)`` to ``(N, output, output, K)``.
    """
    h, w = image.shape[:2]
    m = (input_size - output_size) // 2
    ny, nx = -(-h // output_size), -(-w // output_size)
    ph, pw = ny * output_size - h, nx * output_size - w
    mode: Literal["reflect", "symmetric"] = (
        "reflect" if min(h, w) > max(m + ph, m + pw) else "symmetric"
    )
    padded = np.pad(image, ((m, m + ph), (m, m + pw), (0, 0)), mode=mode)
    origins = [(i * output_size, j * output_size) for i in range(ny) for j in range(nx)]
    out: np.ndarray | None = None
    for b in range(0, len(origins), batch_size):
        chunk = origins[b : b + batch_size]
        x = np.stack([padded[y : y + input_size, x0 : x0 + input_size] for y, x0 in chunk])
        p = np.asarray(predict(x), dtype=np.float32)
        if out is None:
            out = np.empty((ny * output_size, nx * output_size, p.shape[-1]), np.float32)
        for (y, x0), tile in zip(chunk, p, strict=True):
            out[y : y + output_size, x0 : x0 + output_size] = tile
    assert out is not None
    return out[:h, :w]


def val_items(
    images: Sequence[ImageArrays],
    crop_size: int | None,
    crops_per_image: int,
    seed: int,
    class_index: int | None = None,
) -> list[ValItem]:
    """Whole images (``crop_size`` None) or a fixed, seeded, class-covering set of crops per image.

    Each crop is the best of 8 random candidates: first by the classes it adds that no crop
    chosen so far holds, then by the classes it holds. So a rare class present in the validation
    images is in the sample (a random sample can miss it, and its Jaccard then reads 0), and the
    same seed and images give the same crops in every trial of a study.
    """
    rng = np.random.default_rng([seed, 7919])
    items: list[ValItem] = []
    covered: np.ndarray | None = None
    for im in images:
        tgt = im.target if class_index is None else im.target[..., class_index : class_index + 1]
        h, w = im.shape
        if crop_size is None or (crop_size >= h and crop_size >= w):
            items.append(ValItem(im.image_id, im.image, tgt))
            continue
        ch, cw = min(crop_size, h), min(crop_size, w)
        for k in range(crops_per_image):
            best = None
            for _ in range(8):
                y, x = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
                has = (tgt[y : y + ch, x : x + cw] == 1).any(axis=(0, 1))
                new = int((has & ~covered).sum()) if covered is not None else int(has.sum())
                score = (new, int(has.sum()))
                if best is None or score > best[0]:
                    best = (score, y, x, has)
            assert best is not None
            _, y, x, has = best
            covered = has if covered is None else covered | has
            items.append(
                ValItem(
                    f"{im.image_id}#{k}",
                    im.image[y : y + ch, x : x + cw],
                    tgt[y : y + ch, x : x + cw],
                )
            )
    return items


def validation_counts(
    predict: Callable[[np.ndarray], np.ndarray],
    items: Sequence[ValItem],
    input_size: int,
    output_size: int,
    threshold: float = 0.5,
    batch_size: int = 8,
) -> np.ndarray:
    """TP/FP/FN int64 ``(K, 3)`` summed over ``items``."""
    from satseg.evaluation import confusion_counts

    total: np.ndarray | None = None
    same = [it for it in items if it.image.shape[:2] == (output_size, output_size)]
    if len(same) == len(items) and items:  # crops of one output tile each: batch across crops
        m = (input_size - output_size) // 2
        mode: Literal["reflect", "symmetric"] = "reflect" if output_size > m else "symmetric"
        for b in range(0, len(items), batch_size):
            chunk = items[b : b + batch_size]
            x = np.stack([np.pad(it.image, ((m, m), (m, m), (0, 0)), mode=mode) for it in chunk])
            p = np.asarray(predict(x), dtype=np.float32)
            c = confusion_counts(p, np.stack([it.target for it in chunk]), threshold=threshold,
                                 channel_axis=-1)  # fmt: skip
            total = c if total is None else total + c
        assert total is not None
        return total
    for item in items:
        probs = predict_tiles(predict, item.image, input_size, output_size, batch_size)
        c = confusion_counts(probs, item.target, threshold=threshold, channel_axis=-1)
        total = c if total is None else total + c
    assert total is not None
    return total
