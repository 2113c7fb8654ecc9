"""Trials tab: the status filter drives table and plots, readable times, log axes from the space,
the learning-curve select shows the metric drawn, a rung column (no browser)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("panel")

from app.studies import StudyState  # noqa: E402
from app.views.trials import TrialsView, hms, local_time  # noqa: E402


def _trials(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    status = np.array(["ok"] * (n - 3) + ["fail", "running", "pruned"])
    started = 1_796_180_000.0 + 60 * np.arange(n)
    df = pd.DataFrame({
        "trial_id": np.arange(n), "status": status, "objective": rng.uniform(0.1, 0.4, n),
        "duration": rng.uniform(10, 4000, n), "error": "", "started": started,
        "finished": started + 30, "worker": "tcp://127.0.0.1:1", "retries": 0, "space_version": 1,
        "training.learning_rate": 10 ** rng.uniform(-3, -2, n),
        "data.class_balance": rng.uniform(0.0, 0.6, n),
        "model.block": rng.choice(["plain", "residual"], n),
    })
    df.loc[df.status != "ok", "objective"] = np.nan
    return df


@pytest.fixture
def view(tmp_path):
    studies = StudyState({"s.db": str(tmp_path / "s.db")})
    studies.trials = _trials()
    studies.searched = ["training.learning_rate", "data.class_balance", "model.block"]
    studies.log_params = {"training.learning_rate"}
    studies.version += 1
    return TrialsView(studies)


def test_times_and_durations_are_readable(view):
    table = view.table()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", table["started"].iloc[0])
    assert re.fullmatch(r"\d+:\d\d:\d\d", table["duration"].iloc[0])
    assert hms(pd.Series([65.4, 3725, np.nan])).tolist() == ["0:01:05", "1:02:05", ""]
    assert local_time(pd.Series([np.nan])).tolist() == [""]
    # bookkeeping that says little is left out; parameters are there
    assert not {"worker", "retries", "space_version"} & set(table.columns)
    assert {"training.learning_rate", "model.block"} <= set(table.columns)


def test_status_filter_drives_table_and_plots(view):
    assert view.param.statuses.objects == ["fail", "ok", "pruned", "running"]
    assert set(view.table()["status"]) == {"ok", "fail", "running", "pruned"}
    view.statuses = ["fail", "running"]
    assert set(view.table()["status"]) == {"fail", "running"}
    assert view.finished().empty  # no objective among them
    view.statuses = ["ok"]
    assert set(view.table()["status"]) == {"ok"} and len(view.finished()) == 9


def test_log_axes_only_for_log_distributed_parameters(view):
    assert view.log_axis("training.learning_rate")
    # class_balance spans 0..0.6 (a factor > 20): linear all the same, it is 'uniform'
    assert not view.log_axis("data.class_balance", view.trials["data.class_balance"] + 1e-3)
    from app.views.trials_ui import log_ticks

    ticks = log_ticks([1.2e-3, 8e-3])
    assert [t[1] for t in ticks] == ["0.001", "0.002", "0.005", "0.01"]


def test_rung_column_is_shown_when_present(view):
    import holoviews as hv

    from app.views import trials_ui

    assert "rung" not in view.table()
    view.studies.trials = _trials().assign(rung=np.nan)  # a store with the column, no ASHA
    view.studies.version += 1
    assert "rung" not in view.table()
    df = _trials().assign(rung=[0, 0, 1, 0, 2, 1, 0, 0, 1, 0, 0, 0])
    view.studies.trials = df
    view.studies.version += 1
    assert list(view.table().columns[:4]) == ["trial_id", "status", "objective", "rung"]
    hv.extension("bokeh")
    plot = trials_ui.objective_plot(view)
    assert "rung" in plot.opts.get().kwargs.get("title", "")
    hv.render(plot)


def test_parameter_importance_is_computed_in_the_background_and_drawn(view):
    import holoviews as hv

    from app.views import trials_ui

    view.studies.trials = _trials(30)
    view.studies.version += 1
    assert view.importance() is None  # started in a background job
    view._importance_job[1].wait(120)
    view.poll()
    imp = view.importance()
    assert list(imp["param"])[:1] and set(imp["param"]) == {
        "training.learning_rate", "data.class_balance", "model.block"}
    assert view.importance_version == 1
    hv.extension("bokeh")
    hv.render(trials_ui.importance_plot(view))
    view.studies.trials = _trials(4)
    view.studies.version += 1
    assert "at least 5 finished trials" in view.importance()
