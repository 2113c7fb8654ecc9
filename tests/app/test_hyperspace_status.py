"""Hyperspace status: the selected study's real state and progress, whoever runs its search (the
demo's `satseg search` in another process here), and the advice minimum. Real SQLite store."""

from __future__ import annotations

import pytest

pytest.importorskip("panel")

from app.studies import StudyState  # noqa: E402
from app.views.hyperspace import HyperspaceView  # noqa: E402


def _study(store, name: str, n_ok: int, n_running: int = 0, planned: int = 6) -> None:
    """A study as a search in another process leaves it: settings with n_trials, trials."""
    from satseg.search import load_space

    store.create_study(name, load_space("quick"), data="sample", settings={"n_trials": planned})
    store.update_study(name, state="running")
    params = {"model.dropout": 0.1}
    for tid in range(n_ok + n_running):
        store.add_trial(name, tid, params, space_version=1, status="running")
        if tid < n_ok:
            store.finish_trial(name, tid, status="ok", objective=0.1 + tid / 100,
                               per_class={"Building": 0.1})


@pytest.fixture
def view(catalog, tmp_path):
    return HyperspaceView(StudyState({"s.db": str(tmp_path / "s.db")}), catalog)


def test_status_shows_the_selected_studys_state_and_progress(view):
    assert view.study_status == "no study selected"
    store = view.studies.ensure_store()
    _study(store, "demo", n_ok=2, n_running=1)
    view.studies.poll()
    view.poll()
    assert view.studies.study == "demo"
    assert view.study_status == "demo: running, 2 / 6 trials done, 1 running, best 0.1100"
    assert view.status == ""  # no search was started from this page
    # A state change without a trial change (a pause from the terminal) shows on the next poll.
    store.request_pause("demo")
    view.studies.poll()
    view.poll()
    assert view.study_status.startswith("demo: paused")
    store.request_resume("demo")
    store.update_study("demo", state="finished")
    view.poll()
    assert view.study_status.startswith("demo: finished, 2 / 6 trials done")


def test_advice_waits_for_enough_finished_trials(view):
    from satseg.search.refine import MIN_FINISHED

    store = view.studies.ensure_store()
    _study(store, "young", n_ok=2)
    view.studies.poll()
    view.refresh_advice()
    assert view.advice == [] and view.error == ""
    assert f"at least {MIN_FINISHED} finished trials, it has 2" in view.message
