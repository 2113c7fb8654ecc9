"""The search driver's lease: a study whose driver is gone reads as interrupted everywhere,
`stop` ends it at once, a second driver is refused while the first lives (real processes,
real SQLite)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from satseg.errors import StoreError
from satseg.search import StudyStore
from satseg.search.lease import LEASE_S, Heartbeat, identity

SPACE = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}}}
# A stand-in driver: claims the study, marks it running with one running trial, then waits.
DRIVER = """
import sys, time
from satseg.search import StudyStore
s = StudyStore(sys.argv[1])
s.claim_driver("s1")
s.set_study_state("s1", "running")
s.add_trial("s1", 1, {"x": 0.2}, status="running")
print("driving", flush=True)
time.sleep(120)
"""


@pytest.fixture
def store(tmp_path):
    st = StudyStore(tmp_path / "s.db")
    st.create_study("s1", SPACE, settings={"check_fields": False})
    st.add_trial("s1", 0, {"x": 0.5})
    st.finish_trial("s1", 0, status="ok", objective=0.7, per_class={"Road": 0.6}, duration=2.0)
    return st


@pytest.fixture
def driver(store):
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(store.path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "driving"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _set_lease(store, **cols):
    with sqlite3.connect(store.path) as db:
        db.execute(f"UPDATE studies SET {', '.join(f'{k}=?' for k in cols)} WHERE name='s1'",
                   tuple(cols.values()))


def test_killed_driver_reads_interrupted_and_stop_ends_it(store, driver):
    assert store.study_state("s1") == "running"
    assert store.study("s1")["driver"]["pid"] == driver.pid
    with pytest.raises(StoreError, match=f"being searched by process {driver.pid}"):
        store.claim_driver("s1", renew=False)  # one driver at a time
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert store.study_state("s1") == "interrupted"
    rec = store.study("s1")
    assert rec["stored_state"] == "running" and rec["driver"]["alive"] is False
    row = store.list_studies().set_index("study").loc["s1"]
    assert (row["state"], row["running"], row["ok"]) == ("interrupted", 0, 1)
    assert list(store.trials("s1")["status"]) == ["ok", "interrupted"]
    assert store.trial("s1", 1)["status"] == "interrupted"
    read = StudyStore(store.path, read_only=True)  # the dashboard/CLI view is the same
    assert read.study_state("s1") == "interrupted"
    with pytest.raises(StoreError, match="interrupted.*--resume"):
        store.request_pause("s1")
    store.request_stop("s1")  # at once: nobody is left to honour a 'stopping'
    assert store.study_state("s1") == "stopped"
    t1 = store.trial("s1", 1)
    assert t1["status"] == "stopped" and "driver was gone" in t1["error"]
    t0 = store.trial("s1", 0)  # the finished trial is untouched
    assert (t0["status"], t0["objective"], t0["per_class"]) == ("ok", 0.7, {"Road": 0.6})


def test_a_gone_driver_can_be_replaced(store, driver):
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    store.claim_driver("s1", renew=False)  # a resume takes over
    assert store.study_state("s1") == "running"
    store.release_driver("s1")
    assert store.study_state("s1") == "interrupted"  # released, but left running
    store.set_study_state("s1", "finished")
    assert store.study_state("s1") == "finished"


def test_heartbeat_expiry_and_pid_reuse(store):
    store.set_study_state("s1", "paused")
    assert store.study_state("s1") == "paused"  # no driver recorded: as stored
    now = time.time()
    _set_lease(store, driver_pid=1, driver_host="another-machine", driver_started=1.0,
               heartbeat_at=now)
    assert store.study_state("s1") == "paused"  # another host, fresh heartbeat: alive
    _set_lease(store, heartbeat_at=now - LEASE_S - 1)
    assert store.study_state("s1") == "interrupted"
    pid, host, started = identity()
    # on this host the process table decides: a live driver whose heartbeat is late (a
    # starved thread on a loaded machine) is still alive ...
    _set_lease(store, driver_pid=pid, driver_host=host, driver_started=started,
               heartbeat_at=now - 10 * LEASE_S)
    assert store.study_state("s1") == "paused"
    # ... and this very process, but started at another time, is a reused pid: not the driver
    _set_lease(store, driver_started=1.0, heartbeat_at=now)
    assert store.study_state("s1") == "interrupted"
    store.set_study_state("s1", "finished")
    assert store.study_state("s1") == "finished"  # ended states never read interrupted


def test_heartbeat_thread_renews_and_notices_a_takeover(store):
    store.claim_driver("s1", renew=False)
    beat = store.study("s1")["driver"]["heartbeat_at"]
    hb = Heartbeat(store, "s1", interval=0.05).start()
    try:
        time.sleep(0.4)
        assert store.study("s1")["driver"]["heartbeat_at"] > beat
        _set_lease(store, driver_pid=1, driver_host="another-machine")
        time.sleep(0.3)
        assert hb.lost
    finally:
        hb.stop()


def test_old_store_is_read_untouched_and_migrated_by_a_driver(tmp_path):
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:  # the schema before leases existed
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript("""
        CREATE TABLE studies (name TEXT PRIMARY KEY, direction TEXT NOT NULL, state TEXT NOT NULL,
          data TEXT, settings TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL,
          updated REAL NOT NULL);
        CREATE TABLE spaces (study TEXT NOT NULL, version INTEGER NOT NULL, space TEXT NOT NULL,
          created REAL NOT NULL, PRIMARY KEY (study, version));
        CREATE TABLE trials (study TEXT NOT NULL, trial_id INTEGER NOT NULL, status TEXT NOT NULL,
          objective REAL, params TEXT NOT NULL, vals TEXT, space_version INTEGER, started REAL,
          finished REAL, duration REAL, worker TEXT, error TEXT,
          retries INTEGER NOT NULL DEFAULT 0, created REAL, PRIMARY KEY (study, trial_id));
        CREATE TABLE history (study TEXT, trial_id INTEGER, seq INTEGER, row TEXT);
        CREATE TABLE per_class (study TEXT, trial_id INTEGER, class TEXT, jaccard REAL);
        CREATE TABLE artifacts (study TEXT, trial_id INTEGER, kind TEXT, path TEXT);
        INSERT INTO studies VALUES ('s1', 'maximize', 'running', NULL, '{}', 1.0, 1.0);
        INSERT INTO trials (study, trial_id, status, params) VALUES ('s1', 0, 'running', '{}');
        """)
    before = old.read_bytes()
    ro = StudyStore(old, read_only=True)
    assert ro.study_state("s1") == "running"  # no lease recorded: the stored state
    assert list(ro.list_studies()["state"]) == ["running"]
    assert old.read_bytes() == before
    rw = StudyStore(old)
    assert old.read_bytes() == before  # opening writes nothing either
    rw.claim_driver("s1", renew=False)
    with sqlite3.connect(old) as db:
        cols = {r[1] for r in db.execute("PRAGMA table_info(studies)")}
    assert {"driver_pid", "driver_host", "driver_started", "heartbeat_at"} <= cols
    assert rw.study_state("s1") == "running"
    time.sleep(2.1)  # a reader opened before the migration notices it within seconds
    assert ro.study("s1")["driver"]["alive"] is True


@pytest.mark.slow
def test_a_search_that_never_started_reads_failed(tmp_path):
    """No dask scheduler at the address (a 30 s connect timeout): the new study is `failed`,
    not left `created` (which would read interrupted), and its lease is released."""
    from satseg.errors import SatsegError
    from satseg.search import run_search
    from tests.search import objectives as obj

    db = tmp_path / "s.db"
    with pytest.raises(SatsegError, match="cannot reach the dask scheduler"):
        run_search(objective=obj.epochs, space=SPACE, study="s", n_trials=1, store=str(db),
                   scheduler="tcp://127.0.0.1:1", check_fields=False)
    rec = StudyStore(db, read_only=True).study("s")
    assert rec["state"] == "failed" and rec["driver"]["alive"] is False
