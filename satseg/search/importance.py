"""Hyper-parameter importance for a study's objective.

Method: permutation importance of a random-forest surrogate (Breiman 2001, "Random Forests",
Machine Learning 45, section 10; the model-agnostic form of Fisher, Rudin and Dominici 2019).
A :class:`sklearn.ensemble.RandomForestRegressor` is fitted to the finished trials (parameters ->
objective); each parameter's importance is how much the surrogate's fit (R^2 on the trials)
drops when that parameter's column is shuffled, averaged over ``n_repeats`` shuffles
(:func:`sklearn.inspection.permutation_importance`). Negative drops (noise) count as 0 and the
importances are scaled to sum to 1, like optuna-dashboard's chart. Categorical parameters are
ordinal codes (trees split them fine); log-distributed ones need no transform (tree splits do not
change under a monotone map).

With few trials the surrogate is noisy: :data:`MIN_TRIALS` finished trials are needed, and the
``r2`` column says how well the surrogate explains the objective at all (near 0: the
importances mean little).

::

    from satseg.search import StudyStore
    from satseg.search.importance import param_importance
    param_importance(StudyStore("study.db").trials("demo"))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from satseg.errors import StoreError

#: Finished trials needed for an importance estimate.
MIN_TRIALS = 5
#: Columns of ``StudyStore.trials`` that are bookkeeping, not parameters.
_META = {"trial_id", "status", "objective", "duration", "error", "started", "finished", "worker",
         "retries", "space_version", "rung", "study"}


def encode(df: Any, params: Sequence[str]) -> np.ndarray:
    """The parameters of ``df`` as a float matrix: numbers as they are, anything else (choices,
    booleans) as ordinal codes of its sorted string values; missing values as -1."""
    import pandas as pd

    cols = []
    for p in params:
        s = df[p]
        num = pd.to_numeric(s, errors="coerce")
        if s.dtype != bool and num.notna().sum() == s.notna().sum() and s.notna().any():
            cols.append(num.fillna(num.min() - 1).to_numpy(dtype=float))
        else:
            codes = pd.Categorical(s.astype(str).where(s.notna(), None)).codes
            cols.append(codes.astype(float))
    return np.column_stack(cols) if cols else np.empty((len(df), 0))


def param_importance(trials: Any, params: Sequence[str] | None = None, *,
                     objective: str = "objective", n_repeats: int = 10, seed: int = 0,
                     n_estimators: int = 200):
    """Importance of each parameter for the objective of the finished (``ok``) trials.

    Args:
        trials: ``StudyStore.trials(study)`` DataFrame (or any frame with the parameter columns
            and ``objective``; a ``status`` column, when present, keeps the ``ok`` rows).
        params: parameters to rank (default: every non-bookkeeping column that varies).
        n_repeats: shuffles per parameter; seed: the forest's and the shuffles' seed.

    Returns:
        DataFrame ``param, importance, std, r2`` sorted by importance (importances >= 0, sum 1
        unless all are 0; ``std`` over the shuffles in the same units; ``r2`` the surrogate's
        fit, the same on every row). Raises :class:`StoreError` with fewer than
        :data:`MIN_TRIALS` finished trials or no varying parameter.
    """
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    df = pd.DataFrame(trials)
    if "status" in df:
        df = df[df["status"].astype(str) == "ok"]
    if objective not in df:
        raise StoreError(f"the trials have no {objective!r} column; pass StudyStore.trials(study)")
    y = pd.to_numeric(df[objective], errors="coerce")
    df, y = df[np.isfinite(y.to_numpy(dtype=float, na_value=np.nan))], y.dropna()
    if len(df) < MIN_TRIALS:
        raise StoreError(f"parameter importance needs at least {MIN_TRIALS} finished trials with "
                         f"an objective, got {len(df)}; let the study run longer")
    if params is None:
        params = [c for c in df.columns if c not in _META and not str(c).startswith("_")]
    params = [p for p in params if p in df and df[p].astype(str).nunique(dropna=False) > 1]
    if not params:
        raise StoreError("no parameter varies across the finished trials, so none can explain "
                         "the objective; search at least one parameter")
    x = encode(df, params)
    target = y.to_numpy(dtype=float)
    forest = RandomForestRegressor(n_estimators=n_estimators, min_samples_leaf=2,
                                   random_state=seed, n_jobs=1)
    forest.fit(x, target)
    r2 = float(forest.score(x, target)) if np.ptp(target) > 0 else 0.0
    if np.ptp(target) == 0:  # a constant objective: nothing explains anything
        imp, std = np.zeros(len(params)), np.zeros(len(params))
    else:
        res = permutation_importance(forest, x, target, n_repeats=n_repeats, random_state=seed,
                                     n_jobs=1)
        imp, std = np.clip(res.importances_mean, 0, None), res.importances_std
    total = imp.sum()
    if total > 0:
        imp, std = imp / total, std / total
    out = pd.DataFrame({"param": list(params), "importance": imp, "std": std, "r2": r2})
    return out.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
