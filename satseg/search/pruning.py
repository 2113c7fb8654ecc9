"""Per-epoch pruning of hopeless trials: the median stopping rule.

A running trial is stopped when, at some epoch (after ``warmup`` epochs), its metric is worse
than the median of the finished trials' metric at the same epoch, provided at least
``min_trials`` finished trials reached that epoch (Golovin et al. 2017, "Google Vizier: a
service for black-box optimization", the median stopping rule). One-vs-all histories restart
their epochs per class: values are compared per (unit, epoch).
"""

from __future__ import annotations

import statistics
from typing import Any


class MedianPruner:
    """Reference curves of finished trials and the median rule on new epoch rows."""

    def __init__(self, metric: str = "val_jaccard", warmup: int = 1, min_trials: int = 4,
                 maximize: bool = True):
        self.metric, self.warmup, self.min_trials = metric, warmup, min_trials
        self.sign = 1.0 if maximize else -1.0
        self.curves: dict[int, dict[tuple, float]] = {}

    def curve(self, history: list[dict[str, Any]]) -> dict[tuple, float]:
        m = self.metric
        return {(r.get("unit"), int(r["epoch"])): float(r[m]) for r in history
                if r.get(m) is not None and "epoch" in r}

    def add(self, trial_id: int, history: list[dict[str, Any]]) -> None:
        """Use a finished trial's history as a reference."""
        self.curves[trial_id] = self.curve(history)

    def should_prune(self, row: dict[str, Any]) -> tuple[bool, float | None, int]:
        """``(prune, median, n_references)`` for one epoch row of a running trial."""
        if row.get(self.metric) is None or "epoch" not in row:
            return False, None, 0
        epoch = int(row["epoch"])
        if epoch < max(1, self.warmup):
            return False, None, 0
        key = (row.get("unit"), epoch)
        refs = [c[key] for c in self.curves.values() if key in c]
        if len(refs) < max(1, self.min_trials):
            return False, None, len(refs)
        med = statistics.median(refs)
        return self.sign * float(row[self.metric]) < self.sign * med, med, len(refs)
