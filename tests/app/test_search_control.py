"""The Hyperspace tab's search control on a real study store (SQLite) and a real dask cluster,
without a browser: start, pause, resume, stop, refinement advice and continuing a study.

The search runs ``satseg.search`` for real; only the objective is a plain function
(tests/app/objectives.py) instead of training a model.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("panel")

from app import search_api  # noqa: E402
from app.studies import StudyState  # noqa: E402
from app.views.hyperspace import HyperspaceView  # noqa: E402
from tests.app import objectives  # noqa: E402
from tests.app.conftest import wait_until  # noqa: E402


@pytest.fixture
def view(catalog, tmp_path):
    studies = StudyState({"s.db": str(tmp_path / "s.db")})
    v = HyperspaceView(studies, catalog)
    v.start_from = "quick"
    return v


def _counts(store, study):
    if not store.has_study(study):
        return {}
    df = store.trials(study)
    return df["status"].value_counts().to_dict() if len(df) else {}


def test_bundled_spaces_load_into_the_editor(view):
    from satseg.search import load_space

    assert search_api.bundled_spaces()[:2] == ["default", "quick"]
    assert view.error == "" and "quick" in view.message
    assert load_space(view.yaml_text) == load_space("quick")
    assert {f.name for f in view.fields} == set(load_space("quick").to_dict()["params"])
    view.start_from = "default"
    assert load_space(view.yaml_text) == load_space(None)


def test_control_needs_a_running_search(view):
    view.stop()
    assert "no search is running" in view.error
    view.pause()
    assert "no search is running" in view.error


def _sleepy_study(view, address: str, name: str, n_trials: int) -> None:
    """Point the Hyperspace view at a study of sleeping trials on the shared dask cluster."""
    view.study_name, view.n_trials = name, n_trials
    view.cluster, view.scheduler = "scheduler", address
    view.search_settings = {"objective": objectives.sleepy}


@pytest.mark.slow
def test_start_pause_resume_stop(view, dask_address):
    _sleepy_study(view, dask_address, "ctl", 60)
    job = view.start()
    assert job is not None and view.error == ""
    store = view.studies.ensure_store()
    try:
        wait_until(lambda: _counts(store, "ctl").get("ok", 0) >= 2, 90, 0.1, "two finished trials")
        view.poll()
        assert view.status.startswith("ctl: running") and "trials done" in view.status
        # Pause: nothing new starts; the running trial finishes.
        view.pause()
        assert view.message == "pause requested" and store.study_state("ctl") == "paused"
        wait_until(lambda: not ({"running", "queued"} & set(_counts(store, "ctl"))), 30, 0.1,
                   "the running trial to finish")
        n_paused = sum(_counts(store, "ctl").values())
        time.sleep(3 * objectives.SLEEP_S)
        view.poll()
        assert sum(_counts(store, "ctl").values()) == n_paused
        assert view.status.startswith("ctl: paused")
        # Resume: trials start again.
        view.resume()
        assert store.study_state("ctl") == "running"
        wait_until(lambda: sum(_counts(store, "ctl").values()) > n_paused, 30, 0.1,
                   "a trial after resume")
        # Stop: the running trial is stopped and the search ends.
        view.stop()
        assert job.wait(60), "the search did not end after Stop"
    finally:
        if not job.done:
            store.request_stop("ctl")
            job.wait(60)
    view.poll()
    counts = _counts(store, "ctl")
    assert store.study_state("ctl") == "stopped"
    assert job.status == "done" and view.error == ""
    assert view.status.startswith("finished: ctl: stopped")
    assert "running" not in counts and "queued" not in counts
    assert sum(counts.values()) < 60
    # Starting again under the same name is refused (the study has trials) ...
    assert view.start() is None and "press Resume" in view.error
    # ... and Resume continues it to its budget.
    view.n_trials = sum(counts.get(k, 0) for k in ("ok", "fail", "pruned")) + 2
    job = view.resume()
    assert job is not None and job.wait(60)
    view.poll()
    assert view.status.startswith("finished: ctl: finished"), view.status
    assert _counts(store, "ctl").get("ok", 0) >= view.n_trials - counts.get("fail", 0)


@pytest.mark.slow
def test_stop_while_the_cluster_starts_is_not_lost(view, dask_address):
    """run_search sets its study 'running' once dask is up; a Stop clicked before that must hold."""
    _sleepy_study(view, dask_address, "early", 50)
    store = view.studies.ensure_store()
    job = view.start()
    wait_until(lambda: store.has_study("early"), 30, 0.02, "the study to be created")
    view.stop()
    while not job.done:  # the page's periodic refresh
        view.poll()
        time.sleep(0.2)
        assert time.monotonic() - job.started < 60, "the search did not stop"
    assert store.study_state("early") == "stopped"
    assert sum(_counts(store, "early").values()) <= 2


def _fake_study(store, name: str, n: int = 12):
    """A finished study of the quick space whose best trials sit at the top of model.dropout."""
    from satseg.search import load_space

    space = load_space("quick")
    store.create_study(name, space, data="sample")
    base = {k: (v["options"][0] if isinstance(v, dict) and "options" in v else
                v["low"] if isinstance(v, dict) else v)
            for k, v in space.to_dict()["params"].items()}
    for tid in range(n):
        drop = 0.2 * tid / (n - 1)
        params = {**base, "model.dropout": drop}
        store.add_trial(name, tid, params, space_version=1)
        store.finish_trial(name, tid, status="ok", objective=drop, per_class={"Building": drop})


def test_advice_from_the_study_and_apply(view):
    store = view.studies.ensure_store()
    _fake_study(store, "fake")
    view.studies.poll()
    assert view.studies.study == "fake"
    view.refresh_advice()
    assert view.error == "", view.error
    widen = [a for a in view.advice if a["param"] == "model.dropout"]
    assert widen and widen[0]["kind"] == "widen_high" and widen[0]["high"] > 0.2
    assert "suggestion" in view.message
    view.apply_advice(continue_study=False)
    assert view.error == "" and view.advice == []
    assert view.field("model.dropout").high == pytest.approx(widen[0]["high"])
    from satseg.search import load_space

    assert load_space(view.yaml_text).params["model.dropout"].high == pytest.approx(widen[0]["high"])


def test_advice_without_a_study_is_a_message(view):
    view.refresh_advice()
    assert view.advice == [] and "select a study" in view.error


@pytest.mark.slow
def test_apply_advice_continues_the_study_in_a_new_space_version(view, dask_address):
    store = view.studies.ensure_store()
    _fake_study(store, "fake")
    view.studies.poll()
    view.cluster, view.scheduler = "scheduler", dask_address
    view.search_settings = {"objective": objectives.sleepy}
    view.n_trials = 2
    view.refresh_advice()
    job = view.apply_advice()
    assert job is not None and view.error == "", view.error
    assert job.wait(60) and job.status == "done", job.error
    view.poll()
    assert store.space_version("fake") == 2
    assert store.space("fake").params["model.dropout"].high > 0.2
    rows = store.trial_rows("fake")
    assert len(rows) == 14 and {r["space_version"] for r in rows[12:]} == {2}
    assert view.status.startswith("finished: fake: finished")
