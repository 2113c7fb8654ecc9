"""Optimisers and learning-rate schedules from the ``training`` section.

Schedules are evaluated per batch at the fractional progress ``t`` (epochs done, with the batch
fraction) and, when a time limit is set, at the larger of the epoch and wall-clock progress, so a
cosine schedule still reaches its floor when the time budget ends first:

- constant: ``lr0``
- cosine: ``min + (lr0 - min) (1 + cos(pi p)) / 2``, ``p`` = progress in [0, 1]
  (Loshchilov & Hutter 2017, SGDR, without restarts): the larger of epoch and clock progress
- cosine_time: the same curve keyed to the wall clock alone when ``time_limit_minutes`` is set:
  ``p`` = time since training began / time until the limit, so the rate reaches
  ``min_learning_rate`` exactly at the limit whatever the number of epochs (training runs to the
  limit, the last epoch cut short); without a time limit it is ``cosine``. A resumed run starts
  a new cosine over its new time limit (a warm restart).
- exponential: ``lr0 * decay_rate ** (t / decay_epochs)``
- step: ``lr0 * decay_rate ** floor(t / decay_epochs)``
- plateau: ``lr0`` times ``plateau_factor`` for every ``plateau_patience`` epochs without a better
  validation Jaccard (handled by the training callback)

Every schedule is floored at ``min_learning_rate``.
"""

from __future__ import annotations

import math
from typing import Any

from satseg.training.config import TrainingParams


def make_optimizer(p: TrainingParams) -> Any:
    """The Keras optimiser of ``p.optimizer`` at ``p.learning_rate``."""
    import keras

    lr = float(p.learning_rate)
    if p.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if p.optimizer == "nadam":
        return keras.optimizers.Nadam(learning_rate=lr)
    if p.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, momentum=p.momentum)
    return keras.optimizers.SGD(learning_rate=lr, momentum=p.momentum, nesterov=True)


def scheduled_lr(p: TrainingParams, progress: float, t_epochs: float, plateau_lr: float) -> float:
    """Learning rate at fractional epoch ``t_epochs`` and overall ``progress`` in [0, 1]."""
    lr0, floor = p.learning_rate, min(p.min_learning_rate, p.learning_rate)
    if p.schedule == "constant":
        lr = lr0
    elif p.schedule in ("cosine", "cosine_time"):
        q = min(max(progress, 0.0), 1.0)
        lr = floor + (lr0 - floor) * 0.5 * (1.0 + math.cos(math.pi * q))
    elif p.schedule == "exponential":
        lr = lr0 * p.decay_rate ** (t_epochs / p.decay_epochs)
    elif p.schedule == "step":
        lr = lr0 * p.decay_rate ** math.floor(t_epochs / p.decay_epochs)
    else:  # plateau
        lr = plateau_lr
    return max(lr, floor)
