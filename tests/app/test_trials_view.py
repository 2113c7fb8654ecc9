"""Trials tab state on a study of ~3000 trials (no browser).

The table is given to the view as ``StudyState`` holds it after reading ``StudyStore.trials``;
tests/app/test_ui.py drives a real study end to end where satseg.search is installed.
"""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("panel")

from app.studies import StudyState, param_columns  # noqa: E402
from app.views.trials import DATASHADE_ABOVE, TrialsView  # noqa: E402


def _study(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    status = rng.choice(["ok", "ok", "ok", "fail", "running"], n)
    df = pd.DataFrame({
        "trial_id": np.arange(n), "status": status, "objective": rng.uniform(0.2, 0.7, n),
        "training.learning_rate": 10 ** rng.uniform(-4, -2, n), "model.depth": rng.integers(3, 6, n),
        "model.block": rng.choice(["plain", "residual", "dense"], n), "duration": rng.uniform(5, 50, n),
        "error": np.where(status == "fail", "ModelError: out of memory", ""),
    })
    df.loc[df.status != "ok", "objective"] = np.nan
    return df


@pytest.fixture
def view(tmp_path):
    studies = StudyState({"s.db": str(tmp_path / "s.db")})
    studies.trials = _study(3000)
    studies.version += 1
    return TrialsView(studies)


def test_params_and_statuses(view):
    assert param_columns(view.trials) == ["training.learning_rate", "model.depth", "model.block"]
    assert view.statuses == ["fail", "ok", "running"]
    view.statuses = ["ok"]
    assert set(view.shown()["status"]) == {"ok"}


def test_best_so_far_is_running_max(view):
    best = view.best_so_far()
    fin = view.finished()
    assert len(best) == len(fin) and best["best"].is_monotonic_increasing
    assert best["best"].iloc[-1] == pytest.approx(fin["objective"].max())
    assert view.best_trial() == fin.loc[fin["objective"].idxmax(), "trial_id"]
    view.higher_is_better = False
    assert view.best_so_far()["best"].is_monotonic_decreasing


def test_thousands_of_trials_are_aggregated(view):
    assert len(view.finished()) > DATASHADE_ABOVE and view.aggregate()
    view.statuses = ["fail"]  # no objective: nothing to aggregate
    assert not view.aggregate()


def test_parallel_coordinates_scaled(view):
    long = view.parallel()
    n = len(view.finished())
    assert len(long) == 3 * n
    assert long["value"].between(0, 1).all()
    lr = long[long["axis"] == "training.learning_rate"]
    # log scale over two decades: the median lands near the middle
    assert 0.3 < lr["value"].median() < 0.7
    assert set(long.loc[long["axis"] == "model.block", "value"]) == {0.0, 0.5, 1.0}


def test_table_has_errors_as_text(view):
    table = view.table()
    assert list(table.columns[:5]) == ["trial_id", "status", "objective", "duration", "error"]
    assert (table.loc[table.status == "fail", "error"] != "").all()
    assert (table.loc[table.status == "ok", "error"] == "").all()


def test_plots_build_with_3000_trials(view):
    import holoviews as hv

    from app.views import trials_ui

    hv.extension("bokeh")
    for build in (trials_ui.objective_plot, trials_ui.parallel_plot, trials_ui.param_plots):
        hv.render(build(view))


def test_new_trials_keep_selection_and_add_status(view):
    view.statuses = ["ok"]
    df = _study(3100, seed=0)
    df.loc[3050, "status"] = "cancelled"
    view.studies.trials = df
    view.studies.version += 1
    assert "cancelled" in view.param.statuses.objects
    assert set(view.statuses) == {"ok", "cancelled"}  # a new status shows; a hidden one stays hidden
