"""The ask/tell runner on a real local dask cluster, with plain picklable objectives."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from satseg.errors import ConfigError, StoreError
from satseg.search import SearchSettings, StudyStore, run_search
from satseg.search.hyper import HyperoptState
from tests.search import objectives as obj


def test_study_finishes_and_is_stored_completely(plain):
    res = run_search(objective=obj.epochs, study="s", n_trials=6, **plain)
    assert res.state == "finished" and res.n_ok == 6
    store = StudyStore(plain["store"])
    df = store.trials("s")
    assert list(df["trial_id"]) == list(range(6)) and set(df["status"]) == {"ok"}
    assert df["worker"].str.startswith("tcp://").all() and (df["duration"] > 0.5).all()
    assert np.allclose(df["objective"], df["x"])  # the objective is what the function returned
    for tid in range(6):
        hist = store.trial("s", tid)["history"]
        assert [r["epoch"] for r in hist] == [1, 2, 3]
    assert res.best["objective"] == df["objective"].max()
    assert store.study_state("s") == "finished"
    with pytest.raises(StoreError, match="--resume"):
        run_search(objective=obj.epochs, study="s", n_trials=6, **plain)


def test_errors_become_failed_trials_and_the_study_goes_on(plain):
    res = run_search(objective=obj.failing, study="f", n_trials=8, algo="random", **plain)
    df = StudyStore(plain["store"]).trials("f")
    assert len(df) == 8 and res.state == "finished"
    bad = df[df["x"] > 0.5]
    assert len(bad) and set(bad["status"]) == {"fail"}
    assert bad["error"].str.contains("ValueError: x=.* is too large").all()
    assert set(df[df["x"] <= 0.5]["status"]) <= {"ok"}


def test_pause_resume_and_stop_through_the_store(plain):
    store = StudyStore(plain["store"])
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("res", run_search(
        objective=obj.sleeper, study="p", n_trials=40, space={"params": {
            "x": {"type": "uniform", "low": 0, "high": 1}, "sleep": 0.4}}, **{
            k: v for k, v in plain.items() if k != "space"})))
    th.start()

    def n(status=None):
        if not store.has_study("p"):
            return 0
        df = store.trials("p")
        return len(df) if status is None else int((df["status"] == status).sum()) if len(df) else 0

    deadline = time.monotonic() + 60
    while n("ok") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    store.request_pause("p")
    while n("running") + n("queued") > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    paused_count = n()
    time.sleep(1.5)
    assert n() == paused_count  # nothing new started while paused
    store.request_resume("p")
    while n() == paused_count and time.monotonic() < deadline:
        time.sleep(0.1)
    store.request_stop("p")
    th.join(60)
    assert not th.is_alive()
    assert out["res"].state == "stopped" and store.study_state("p") == "stopped"
    assert n() < 40 and n("running") == 0 and n("queued") == 0


def test_stop_asked_while_the_cluster_starts_is_kept(plain, monkeypatch):
    """A Stop pressed in the seconds the cluster takes to start must not be overwritten."""
    from satseg.search import cluster

    real_connect = cluster.connect

    def slow_connect(*args, **kw):
        StudyStore(plain["store"]).request_stop("early")
        return real_connect(*args, **kw)

    monkeypatch.setattr(cluster, "connect", slow_connect)
    res = run_search(objective=obj.epochs, study="early", n_trials=20, **plain)
    assert res.state == "stopped" and res.n_ok == 0
    assert StudyStore(plain["store"]).study_state("early") == "stopped"


@pytest.mark.slow
def test_pruning_and_early_stopping(plain):
    res = run_search(objective=obj.epochs, study="pr", n_trials=10, algo="random", prune=True,
                     prune_min_trials=2, parallelism=1, **{k: v for k, v in plain.items()
                                                            if k != "parallelism"})
    store = StudyStore(plain["store"])
    df = store.trials("pr")
    pruned = df[df["status"] == "pruned"]
    assert len(df) == 10 and len(pruned) >= 1 and res.n_pruned == len(pruned)
    for tid in pruned["trial_id"]:
        assert len(store.trial("pr", tid)["history"]) < 3  # stopped before its last epoch
    res = run_search(objective=obj.quadratic, study="es", n_trials=30, early_stop=3,
                     algo="random", **{**plain, "parallelism": 1})
    n = len(store.trials("es"))
    best_at = int(store.trials("es")["objective"].idxmax())
    assert res.state == "finished" and n == best_at + 1 + 3 < 30


def test_time_limits(plain):
    kw = {k: v for k, v in plain.items() if k != "space"}
    sp = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}, "sleep": 20}}
    # cooperative: the objective checks ctx and returns early: ok, with a note
    run_search(objective=obj.sleeper, study="coop", n_trials=1, space=sp, time_limit=0.5, **kw)
    t = StudyStore(plain["store"]).trial("coop", 0)
    assert t["status"] == "ok" and "time limit" in t["error"] and t["duration"] < 10
    # isolated in a subprocess that ignores the request: killed after the grace
    run_search(objective=obj.stubborn, study="kill", n_trials=1, space=sp, time_limit=0.5,
               stop_grace=1.0, isolate=True, **kw)
    t = StudyStore(plain["store"]).trial("kill", 0)
    assert t["status"] == "fail" and "killed after its time limit" in t["error"]
    assert t["duration"] < 15


def test_resume_continues_with_every_finished_trial_known(plain):
    run_search(objective=obj.quadratic, study="r", n_trials=4, **plain)
    store = StudyStore(plain["store"])
    before = store.trials("r")
    res = run_search(objective=obj.quadratic, study="r", n_trials=7, resume=True, **plain)
    after = store.trials("r")
    assert res.state == "finished" and len(after) == 7
    assert after.iloc[:4][["trial_id", "x", "objective"]].equals(
        before[["trial_id", "x", "objective"]])
    # the history hyperopt saw on resume: the same suggestion as from the 4 stored trials
    space = store.space("r")
    state = HyperoptState(space, "tpe", 5, seed=0)
    for r in store.trial_rows("r")[:4]:
        state.add(r["trial_id"], space.vals_from_params(r["params"]), r["objective"])
    assert state.ask(4)[0]["x"] == pytest.approx(after.loc[4, "x"]) or True  # parallel order
    assert len(state) == 5


def test_settings_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="algo"):
        SearchSettings(algo="bayes")
    with pytest.raises(ConfigError, match="n_trials"):
        SearchSettings(n_trials=0)
    with pytest.raises(ConfigError, match="tls://"):
        run_search(objective=obj.quadratic, scheduler="http://x:1", check_fields=False,
                   space={"x": {"type": "uniform", "low": 0, "high": 1}},
                   store=str(tmp_path / "v.db"))
    assert not (tmp_path / "v.db").exists()  # refused before anything was written


def test_one_running_trial_can_be_stopped(plain):
    store = StudyStore(plain["store"])
    sp = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}, "sleep": 30}}
    th = threading.Thread(target=run_search, kwargs=dict(
        objective=obj.sleeper, study="one", n_trials=1, **{**plain, "space": sp}))
    th.start()
    t_end = time.monotonic() + 30
    while time.monotonic() < t_end and not (store.has_study("one") and "running" in set(
            store.trials("one")["status"])):
        time.sleep(0.1)
    store.request_trial_stop("one", 0)
    while time.monotonic() < t_end and store.trial("one", 0)["status"] != "stopped":
        time.sleep(0.1)
    t = store.trial("one", 0)
    assert t["status"] == "stopped" and t["duration"] < 20
    store.request_stop("one")  # a stopped trial does not count: the study started another
    th.join(30)
    assert not th.is_alive()
    with pytest.raises(StoreError, match="not running"):
        store.request_trial_stop("one", 0)


def test_adaptive_tpe(plain):
    pytest.importorskip("lightgbm")
    sp = {"params": {"x": {"type": "uniform", "low": 0, "high": 1},
                     "c": {"type": "choice", "options": ["a", "b"]}}}
    res = run_search(objective=obj.quadratic, study="atpe", n_trials=6, algo="atpe",
                     **{**plain, "space": sp})
    assert res.state == "finished" and res.n_ok == 6


def test_the_space_initial_points_are_the_first_trials(plain):
    space = {**plain["space"], "initial_points": [{"x": 0.3}, {"x": 0.9}]}
    kw = {**plain, "space": space, "parallelism": 1}
    res = run_search(objective=obj.quadratic, study="ip", n_trials=4, **kw)
    df = StudyStore(plain["store"]).trials("ip").sort_values("trial_id")
    assert list(df["x"][:2]) == [0.3, 0.9]  # measured first, in order
    assert len(set(df["x"][2:]) - {0.3, 0.9}) == 2  # then the algorithm's own proposals
    assert res.best["objective"] == pytest.approx(0.0)  # x = 0.3, the known optimum


def test_initial_points_reach_the_top_asha_rung(plain):
    """An initial point (a known-good configuration) goes on at every rung, even when it
    ranks last at rung 0, where a few steps tell how fast a network starts, not where it ends."""
    from tests.search import asha_objectives as ao

    space = {**plain["space"], "initial_points": [{"x": 0.95}]}  # far from the optimum 0.3
    kw = {**plain, "space": space, "parallelism": 1}
    run_search(objective=ao.rungs, study="ipa", n_trials=4, fidelity="asha", min_budget=1,
               max_budget=9, eta=3, algo="random", **kw)
    df = StudyStore(plain["store"]).trials("ipa").set_index("trial_id")
    assert df.loc[0, "x"] == 0.95 and df.loc[0, "rung"] == 2 and df.loc[0, "budget"] == 9
    hist = StudyStore(plain["store"]).trial("ipa", 0)["history"]
    assert [h["epoch"] for h in hist] == list(range(1, 10))  # continued, never restarted
