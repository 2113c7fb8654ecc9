"""The study store: tables, states, concurrent reads, export and hyperopt import."""

from __future__ import annotations

import json
import pickle
import sqlite3
import threading

import numpy as np
import pandas as pd
import pytest
from hyperopt import Trials, fmin, hp, tpe

from satseg.errors import StoreError
from satseg.search import StudyStore, export_study, import_hyperopt_trials, load_space

SPACE = {"params": {"x": {"type": "uniform", "low": 0, "high": 1},
                    "c": {"type": "choice", "options": ["a", "b"]}}}


@pytest.fixture
def store(tmp_path):
    st = StudyStore(tmp_path / "s.db")
    st.create_study("s1", load_space(SPACE, check_fields=False), data="sample",
                    settings={"check_fields": False})
    return st


def test_store_is_wal_and_records_everything(store):
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.add_trial("s1", 0, {"x": 0.5, "c": "a"}, vals={"x": [0.5], "c": [0]}, space_version=1)
    store.update_trial("s1", 0, status="running", worker="tcp://w:1", started=1.0)
    store.add_history("s1", 0, {"epoch": 1, "val_jaccard": 0.2})
    store.finish_trial("s1", 0, status="ok", objective=0.4,
                       history=[{"epoch": 1, "val_jaccard": 0.2}, {"epoch": 2, "val_jaccard": 0.4}],
                       per_class={"Road": 0.3, "Water": float("nan")},
                       artifacts={"run_dir": "/runs/t0", "preview": "/runs/t0/preview.png"},
                       duration=3.5, finished=4.5)
    store.add_trial("s1", 1, {"x": 0.9, "c": "b"})
    store.finish_trial("s1", 1, status="fail", error="ValueError: boom")
    df = store.trials("s1")
    assert list(df["trial_id"]) == [0, 1]
    assert list(df["status"]) == ["ok", "fail"]
    assert df.loc[0, "objective"] == 0.4 and pd.isna(df.loc[1, "objective"])
    assert {"x", "c", "duration", "error", "worker", "retries"} <= set(df.columns)
    t = store.trial("s1", 0)
    assert [r["epoch"] for r in t["history"]] == [1, 2]
    assert t["per_class"]["Road"] == 0.3 and np.isnan(t["per_class"]["Water"])
    assert t["artifacts"]["preview"].endswith("preview.png") and t["worker"] == "tcp://w:1"
    studies = store.list_studies()
    row = studies.set_index("study").loc["s1"]
    assert (row["trials"], row["ok"], row["failed"], row["best"]) == (2, 1, 1, 0.4)
    assert store.best_trial("s1")["trial_id"] == 0


def test_best_trial_of_an_asha_study_is_the_best_at_the_highest_rung(store):
    for tid, rung, obj in [(0, 2, 0.24), (1, 1, 0.26), (2, 0, 0.9), (3, 2, 0.20)]:
        store.add_trial("s1", tid, {"x": tid / 10})
        store.update_trial("s1", tid, rung=rung, budget=3 ** rung)
        store.finish_trial("s1", tid, status="ok", objective=obj)
    # 0.26 (3 epochs) and 0.9 (1 epoch) are not comparable with 0.24 after 9 epochs
    assert store.best_trial("s1")["trial_id"] == 0


def test_states_and_errors(store):
    assert store.study_state("s1") == "created"
    store.request_pause("s1")
    assert store.study_state("s1") == "paused"
    store.request_resume("s1")
    store.request_stop("s1")
    assert store.study_state("s1") == "stopping"
    store.set_study_state("s1", "finished")
    with pytest.raises(StoreError, match="'s1' is finished: only a paused study resumes"):
        store.request_resume("s1")  # a stray resume never marks a finished study running
    with pytest.raises(StoreError, match="is finished"):
        store.request_pause("s1")
    assert store.study_state("s1") == "finished"
    with pytest.raises(StoreError, match="unknown study state"):
        store.set_study_state("s1", "sleeping")
    with pytest.raises(StoreError, match="already exists"):
        store.create_study("s1", SPACE)
    with pytest.raises(StoreError, match="no study 'nope'"):
        store.trials("nope")
    with pytest.raises(StoreError, match="no trial 7"):
        store.trial("s1", 7)


def test_bad_store_paths(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        StudyStore(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        StudyStore(tmp_path / "missing" / "s.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="junk.db is not a satseg study store"):
        StudyStore(junk)


def test_space_versions(store):
    v2 = store.add_space("s1", {"params": {"x": {"type": "uniform", "low": 0, "high": 0.5}}})
    assert v2 == 2 and store.space_version("s1") == 2
    assert store.space("s1").params["x"].high == 0.5
    assert store.space("s1", 1).params["x"].high == 1.0


def test_reads_while_a_writer_writes(store):
    """A reader (the dashboard) polls while another thread writes trials."""
    errors: list[Exception] = []
    seen: list[int] = []

    def write():
        for i in range(60):
            store.add_trial("s1", i, {"x": i / 60, "c": "a"})
            store.finish_trial("s1", i, status="ok", objective=i / 60,
                               history=[{"epoch": 1, "val_jaccard": i / 60}])

    def read():
        reader = StudyStore(store.path)
        try:
            for _ in range(60):
                seen.append(len(reader.trials("s1")))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen == sorted(seen) and len(store.trials("s1")) == 60


def test_export_csv_and_json(store, tmp_path):
    store.add_trial("s1", 0, {"x": 0.25, "c": "b"})
    store.finish_trial("s1", 0, status="ok", objective=0.7, history=[{"epoch": 1, "loss": 0.3}])
    csv = export_study(store, "s1", tmp_path / "s1.csv")
    df = pd.read_csv(csv)
    assert df.loc[0, "x"] == 0.25 and df.loc[0, "objective"] == 0.7
    doc = json.loads(export_study(store, "s1", tmp_path / "s1.json").read_text())
    assert doc["trials"][0]["history"] == [{"epoch": 1, "loss": 0.3}]
    assert doc["spaces"][0]["version"] == 1 and "uniform" in doc["spaces"][0]["space"]
    with pytest.raises(StoreError, match=".csv or .json"):
        export_study(store, "s1", tmp_path / "s1.xlsx")


def test_import_hyperopt_trials_pickle(tmp_path):
    from tests.search.objectives import hyperopt_fn

    trials = Trials()
    fmin(hyperopt_fn, hp.uniform("x", 0, 1), algo=tpe.suggest, max_evals=12, trials=trials,
         rstate=np.random.default_rng(1), show_progressbar=False, catch_eval_exceptions=True)
    path = tmp_path / "trials.pkl"
    path.write_bytes(pickle.dumps(trials))
    store = StudyStore(tmp_path / "imp.db")
    n = import_hyperopt_trials(store, "old", path)
    df = store.trials("old")
    assert n == len(trials._dynamic_trials) == len(df)
    ok = df[df["status"] == "ok"]
    assert np.allclose(sorted(ok["objective"]), sorted(trials.losses()[i] for i in range(
        len(trials.trials)) if trials.trials[i]["result"].get("status") == "ok"))
    assert store.study("old")["direction"] == "minimize"
    assert (df["status"] == "fail").sum() == sum(1 for d in trials._dynamic_trials
                                                  if d["result"].get("status") != "ok")
