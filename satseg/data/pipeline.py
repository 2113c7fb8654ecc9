"""The training input pipeline: batches of sampled + augmented patches as a ``tf.data`` stream.

Batch ``b`` is drawn with ``numpy.random.default_rng([seed, b])``, so the stream is identical
whatever the number of parallel workers, and a resumed run continues the same stream from its
first batch index (``start = epoch * steps_per_epoch``). ``tf.data`` runs the numpy batch builder
in parallel (``num_parallel_calls``, ordered) and prefetches, so patch cutting and augmentation
overlap the training step (numpy and scipy release the GIL in their inner loops).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from satseg.data.augment import AugmentConfig, augment_into
from satseg.data.sampling import PatchSampler


class PatchStream:
    """Builds training batches ``(x, y)``: x float32 ``(B, S, S, C)``, y float32 ``(B, o, o, K)``.

    ``y`` follows the IGNORE CONTRACT (0/1, -1 where ignored), cropped to the model's output
    (``margin`` px cut from every side). ``class_index`` keeps one class (one-vs-all training).
    """

    def __init__(
        self,
        sampler: PatchSampler,
        augment: AugmentConfig,
        *,
        batch_size: int,
        margin: int = 0,
        seed: int = 0,
        class_index: int | None = None,
    ):
        self.sampler = sampler
        self.augment = augment
        self.batch_size = int(batch_size)
        self.margin = int(margin)
        self.seed = int(seed)
        self.class_index = class_index

    @property
    def channels(self) -> int:
        return int(self.sampler.images[0].image.shape[2])

    @property
    def n_classes(self) -> int:
        return 1 if self.class_index is not None else self.sampler.n_classes

    @property
    def out_size(self) -> int:
        return self.sampler.size - 2 * self.margin

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch number ``index`` of the stream (pure function of seed and index)."""
        rng = np.random.default_rng([self.seed, int(index)])
        s, m, o = self.sampler.size, self.margin, self.out_size
        x = np.empty((self.batch_size, s, s, self.channels), np.float32)
        y = np.empty((self.batch_size, o, o, self.n_classes), np.float32)
        for j in range(self.batch_size):
            img, tgt = self.sampler.cut(*self.sampler.draw(rng))
            if self.class_index is not None:
                tgt = tgt[:, :, self.class_index : self.class_index + 1]
            augment_into(rng, img, tgt, self.augment, x[j], y[j], m)
        return x, y

    def dataset(self, start: int = 0, parallel: int = 2, prefetch: int = 2) -> Any:
        """An endless ``tf.data.Dataset`` of batches ``start, start + 1, ...``."""
        import tensorflow as tf

        s, o = self.sampler.size, self.out_size
        shapes = ((self.batch_size, s, s, self.channels), (self.batch_size, o, o, self.n_classes))

        def build(i: Any) -> tuple[Any, Any]:
            x, y = tf.numpy_function(
                lambda k: self.batch(int(k)), [i], (tf.float32, tf.float32), stateful=False
            )
            x.set_shape(shapes[0])
            y.set_shape(shapes[1])
            return x, y

        ds = tf.data.Dataset.range(int(start), 2**62)
        ds = ds.map(build, num_parallel_calls=max(1, parallel), deterministic=True)
        options = tf.data.Options()
        options.deterministic = True
        return ds.with_options(options).prefetch(prefetch)

    def materialise(self, n_batches: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``n_batches`` batches stacked in memory (benchmarks: the pipeline-free baseline)."""
        xs, ys = zip(*(self.batch(start + b) for b in range(n_batches)), strict=True)
        return np.concatenate(xs), np.concatenate(ys)
