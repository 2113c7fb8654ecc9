"""``satseg auto``: search, final fit, post-processing and report in one budget.

::

    from satseg.auto import run_auto, train_best
    report = run_auto("data/", "30m", "runs/auto", exclude_ids=["6120_2_2"])
    train_best("study.db", "dstl", "runs/final", minutes=10)

The pipeline is :mod:`satseg.auto.pipeline` (its contract is in docs/ARCHITECTURE.md); the final
fit of a study's best trial is :mod:`satseg.auto.final`. Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_auto", "train_best", "best_trial_config", "tune_run", "AutoPlan"]


def __getattr__(name: str) -> Any:
    if name in ("run_auto", "AutoPlan"):
        from satseg.auto import pipeline

        return getattr(pipeline, name)
    if name in ("train_best", "best_trial_config", "tune_run"):
        from satseg.auto import final

        return getattr(final, name)
    raise AttributeError(f"module 'satseg.auto' has no attribute {name!r}")
