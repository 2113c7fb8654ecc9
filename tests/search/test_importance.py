"""Parameter importance (random-forest surrogate, permutation importance) on synthetic studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from satseg.errors import StoreError
from satseg.search.importance import MIN_TRIALS, param_importance


def _study(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Trials where only the learning rate determines the objective; depth, block and dropout
    are drawn at random and do nothing."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-4, -2, n)
    df = pd.DataFrame({
        "trial_id": range(n), "status": "ok", "duration": rng.uniform(10, 20, n),
        "training.learning_rate": lr,
        "model.depth": rng.integers(2, 6, n),
        "model.block": rng.choice(["plain", "residual", "inception"], n),
        "model.dropout": rng.uniform(0, 0.5, n),
    })
    df["objective"] = -(np.log10(lr) + 3) ** 2  # best at lr = 1e-3
    return df


def test_the_parameter_that_determines_the_objective_ranks_first():
    df = _study()
    df.loc[len(df)] = {**df.iloc[0].to_dict(), "trial_id": 99, "status": "fail",
                       "objective": np.nan}  # failed trials are left out
    imp = param_importance(df)
    assert list(imp.columns) == ["param", "importance", "std", "r2"]
    assert set(imp["param"]) == {"training.learning_rate", "model.depth", "model.block",
                                 "model.dropout"}  # bookkeeping columns are not parameters
    assert imp.iloc[0]["param"] == "training.learning_rate"
    assert imp.iloc[0]["importance"] > 0.8
    assert imp["importance"].sum() == pytest.approx(1.0)
    assert (imp["importance"] >= 0).all() and imp["r2"].iloc[0] > 0.8
    # the same with a categorical parameter deciding
    df = _study(seed=1)
    df["objective"] = (df["model.block"] == "residual").astype(float) + 0.01 * df["model.dropout"]
    assert param_importance(df).iloc[0]["param"] == "model.block"


def test_too_few_trials_or_nothing_varying_is_a_clear_error():
    df = _study(MIN_TRIALS - 1)
    with pytest.raises(StoreError, match=f"at least {MIN_TRIALS} finished trials"):
        param_importance(df)
    df = _study(10).assign(**{"model.depth": 3})
    with pytest.raises(StoreError, match="no parameter varies"):
        param_importance(df, params=["model.depth"])
