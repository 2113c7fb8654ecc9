"""Validation crops of one output tile are predicted in batches across crops, with the same
counts as tile by tile; crops cover the classes present."""

from __future__ import annotations

import numpy as np

from satseg.data.arrays import ImageArrays
from satseg.evaluation import confusion_counts
from satseg.training.validate import ValItem, predict_tiles, val_items, validation_counts


def _predict(x: np.ndarray) -> np.ndarray:
    """A fixed 'model': 16 px input -> 8 px output (margin 4), two classes from channel 0."""
    core = x[:, 4:-4, 4:-4, :1]
    return np.concatenate([1 / (1 + np.exp(-core)), 1 / (1 + np.exp(core))], axis=-1)


def test_batched_crops_count_like_tile_by_tile():
    rng = np.random.default_rng(0)
    items = [
        ValItem(f"c{k}", rng.normal(size=(8, 8, 2)).astype(np.float32),
                rng.integers(-1, 2, size=(8, 8, 2)).astype(np.int8))
        for k in range(11)
    ]  # fmt: skip
    fast = validation_counts(_predict, items, 16, 8, batch_size=4)
    slow = sum(
        confusion_counts(predict_tiles(_predict, it.image, 16, 8), it.target, threshold=0.5,
                         channel_axis=-1)
        for it in items
    )  # fmt: skip
    assert np.array_equal(fast, slow)


def test_val_crops_cover_a_rare_class():
    target = np.zeros((200, 200, 3), np.int8)
    target[..., 0] = 1
    target[160:, 160:, 0] = 0
    target[160:, 160:, 2] = 1  # a rarer class in one corner
    im = ImageArrays("a", np.zeros((200, 200, 1), np.float32), target)
    items = val_items([im], 20, 12, seed=0)
    assert len(items) == 12 and all(it.image.shape[:2] == (20, 20) for it in items)
    present = np.any([(it.target == 1).any(axis=(0, 1)) for it in items], axis=0)
    assert present[0] and not present[1] and present[2]  # seeded: the same crops every time
    assert items[0].name == "a#0" and val_items([im], 20, 12, seed=0)[5].name == items[5].name
