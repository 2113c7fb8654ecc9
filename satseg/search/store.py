"""The study store: one SQLite file (WAL mode) holding studies, trials, per-epoch history,
per-class Jaccard and artifact paths. Safe to read (the dashboard) while a search writes it.

Tables::

    studies(name, direction, state, data, settings, created, updated)
    spaces(study, version, space, created)           -- every space a study used (refinement)
    trials(study, trial_id, status, objective, params, vals, space_version, started, finished,
           duration, worker, error, retries, created)
    history(study, trial_id, seq, row)               -- one JSON row per validated epoch
    per_class(study, trial_id, class, jaccard)
    artifacts(study, trial_id, kind, path)           -- run_dir, model, preview (PNG), ...:
                                                     --   a local path or an fsspec URL
    study_uids(study, uid)                           -- names the study's run folders

Trial statuses: ``queued``, ``running``, ``stopping`` (asked to stop), ``ok``, ``fail``, ``pruned``, ``stopped``, ``lost``
(the driver died while it ran). Study states: ``created``, ``running``, ``paused``,
``stopping``, ``stopped``, ``finished``, ``failed``. A paused or stopping state written by anyone
(the CLI, the dashboard) is honoured by the running search within a second.

The search driver holds a lease on its study (``studies.driver_pid``, ``driver_host``,
``driver_started``, ``heartbeat_at``; :mod:`satseg.search.lease`). A study whose driver is gone
reads as ``interrupted`` everywhere (its ``queued``/``running``/``stopping`` trials as
``interrupted``); :meth:`StudyStore.request_stop` ends it at once, ``--resume`` continues it.
``StudyStore(path, read_only=True)`` never writes (SQLite ``mode=ro``); a file that is not a
satseg store is refused untouched (:mod:`satseg.search.storedb`).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from satseg.errors import StoreError
from satseg.search import storedb
from satseg.search.lease import (
    LIVE_STATUSES,
    Heartbeat,
    driver_alive,
    effective_state,
    host_name,
    identity,
)

DEFAULT_STORE = "satseg-study.db"
STATES = ("created", "running", "paused", "stopping", "stopped", "finished", "failed")
STATUSES = ("queued", "running", "stopping", "ok", "fail", "pruned", "stopped", "lost")
DONE = ("ok", "fail", "pruned")  # finished trials: count toward the budget, known to TPE

_TRIAL_COLS = ("status", "objective", "params", "vals", "space_version", "started", "finished",
               "duration", "worker", "error", "retries")
#: multi-fidelity columns (satseg.search.asha): the highest rung a trial reached and its budget
#: (epochs); NULL for a plain search. Absent from stores older than them (read-only opens).
_FIDELITY_COLS = tuple(c for c, _ in storedb.TRIAL_COLUMNS)


def _json(value: Any) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if hasattr(v, "item") and callable(v.item):  # numpy scalars
            return clean(v.item())
        if isinstance(v, Path):
            return str(v)
        return v

    return json.dumps(clean(value))


def _num(v: Any) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


class StudyStore:
    """A study store on ``path`` (created with its tables when missing, unless ``read_only``).

    Every call opens its own short connection, so one store object is safe to share between
    threads; readers never block the writer (WAL). ``read_only=True`` opens the file with
    SQLite's ``mode=ro`` and writes nothing, not even a missing store. An existing file that is
    not a satseg store (another application's database) is refused untouched either way."""

    def __init__(self, path: str | Path = DEFAULT_STORE, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._lease_checked = 0.0
        self._heartbeats: dict[str, Heartbeat] = {}
        self._tables = storedb.check_path(self.path, read_only)
        if not read_only and not self._tables:  # a new store (or an empty database file)
            self._migrate()

    def _migrate(self) -> None:
        """Create the tables, or add what an older store lacks (writers only)."""
        if self.read_only or not storedb.needs_migration(self._tables):
            return
        try:
            with self._db() as db:
                storedb.initialise(db, self._tables)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable study store (SQLite): {exc}; "
                             "choose another --store path") from exc
        self._tables = storedb.check_path(self.path, True)

    def _has_lease(self) -> bool:
        """Whether the store has the driver-lease columns (an older store gains them when a
        search claims a study; another process may have done so since this one opened it)."""
        if "heartbeat_at" in (self._tables or {}).get("studies", set()):
            return True
        if time.monotonic() - self._lease_checked > 2.0 and self.path.is_file():
            self._lease_checked = time.monotonic()
            self._tables = storedb.inspect(self.path)
        return "heartbeat_at" in (self._tables or {}).get("studies", set())

    def _shown_status(self, study: str) -> Any:
        """A function giving the status users see: a queued/running/stopping trial of an
        interrupted study (its driver is gone) is ``interrupted``."""
        gone = self.study_state(study) == "interrupted"
        return lambda s: "interrupted" if gone and s in LIVE_STATUSES else s

    def __repr__(self) -> str:
        return f"StudyStore({str(self.path)!r})"

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            db = storedb.connect(self.path, self.read_only)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"study store {self.path} cannot be opened: {exc}") from exc
        try:
            db.execute("PRAGMA busy_timeout=30000")
            if not self.read_only:
                db.execute("PRAGMA synchronous=NORMAL")
            with db:
                yield db
        except sqlite3.DatabaseError as exc:
            if self.read_only and "readonly" in str(exc):
                raise StoreError(f"study store {self.path} was opened read-only; this action "
                                 "writes to it") from exc
            raise StoreError(f"study store {self.path}: {exc}") from exc
        finally:
            db.close()

    # ------------------------------------------------------------------ studies
    def create_study(self, name: str, space: Any, *, direction: str = "maximize",
                     data: str | None = None, settings: Mapping[str, Any] | None = None,
                     exist_ok: bool = False) -> None:
        """Create study ``name`` with its first space (a SearchSpace, mapping or YAML text)."""
        if not name or not isinstance(name, str):
            raise StoreError(f"a study needs a non-empty name, got {name!r}")
        if direction not in ("maximize", "minimize"):
            raise StoreError(f"study direction must be 'maximize' or 'minimize', got {direction!r}")
        self._migrate()  # an older store gains the lease columns before a new study
        if self.has_study(name):
            if exist_ok:
                return
            raise StoreError(f"study {name!r} already exists in {self.path}; use --resume to "
                             "continue it, or another --study name")
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO studies (name, direction, state, data, settings, created, "
                       "updated) VALUES (?,?,?,?,?,?,?)",
                       (name, direction, "created", data, _json(dict(settings or {})), now, now))
        self.add_space(name, space)

    def has_study(self, name: str) -> bool:
        with self._db() as db:
            return db.execute("SELECT 1 FROM studies WHERE name=?", (name,)).fetchone() is not None

    def study(self, name: str) -> dict[str, Any]:
        """The study's record: name, direction, state, data, settings, created, updated, and
        ``driver`` (pid, host, heartbeat_at, alive; None when no driver was recorded). ``state``
        is ``interrupted`` when the study's driver is gone (``stored_state``: as written)."""
        lease = ", driver_pid, driver_host, driver_started, heartbeat_at" if self._has_lease() \
            else ""
        with self._db() as db:
            row = db.execute("SELECT name, direction, state, data, settings, created, updated"
                             f"{lease} FROM studies WHERE name=?", (name,)).fetchone()
        if row is None:
            raise StoreError(f"no study {name!r} in {self.path}; known: {self.study_names()}")
        keys = ("name", "direction", "state", "data", "settings", "created", "updated")
        out = dict(zip(keys, row[:7], strict=True))
        out["settings"] = json.loads(out["settings"] or "{}")
        drv = dict(zip(("driver_pid", "driver_host", "driver_started", "heartbeat_at"), row[7:],
                       strict=False))
        out["stored_state"] = out["state"]
        out["state"] = effective_state(out["state"], drv)
        alive = driver_alive(drv)
        out["driver"] = None if alive is None else {
            "pid": drv["driver_pid"], "host": host_name(drv["driver_host"]),
            "heartbeat_at": drv["heartbeat_at"], "alive": alive}
        return out

    def study_names(self) -> list[str]:
        with self._db() as db:
            return [r[0] for r in db.execute("SELECT name FROM studies ORDER BY created")]

    def list_studies(self):
        """DataFrame: study, state, direction, data, trials, ok, failed, running, best, created."""
        import pandas as pd

        lease = ("s.driver_pid, s.driver_host, s.driver_started, s.heartbeat_at"
                 if self._has_lease() else "NULL, NULL, NULL, NULL")
        with self._db() as db:
            rows = db.execute(
                f"""SELECT s.name, s.state, s.direction, s.data, s.created, s.updated,
                   COUNT(t.trial_id), SUM(t.status='ok'), SUM(t.status='fail'),
                   SUM(t.status='running'),
                   CASE WHEN s.direction='maximize'
                        THEN MAX(CASE WHEN t.status='ok' THEN t.objective END)
                        ELSE MIN(CASE WHEN t.status='ok' THEN t.objective END) END, {lease}
                   FROM studies s LEFT JOIN trials t ON t.study=s.name
                   GROUP BY s.name ORDER BY s.created""").fetchall()
        cols = ["study", "state", "direction", "data", "created", "updated", "trials", "ok",
                "failed", "running", "best"]
        shown = []
        for r in rows:  # a study whose driver is gone: interrupted, nothing running
            r = list(r)
            drv = dict(zip(("driver_pid", "driver_host", "driver_started", "heartbeat_at"),
                           r[11:], strict=True))
            r[1] = effective_state(r[1], drv)
            if r[1] == "interrupted":
                r[9] = 0
            shown.append(r[:11])
        df = pd.DataFrame(shown, columns=cols)
        for c in ("ok", "failed", "running"):
            df[c] = df[c].fillna(0).astype(int)
        return df

    def update_study(self, name: str, **fields: Any) -> None:
        """Set ``state``, ``data`` or ``settings`` of a study."""
        self.study(name)
        sets, args = [], []
        for k, v in fields.items():
            if k not in ("state", "data", "settings"):
                raise StoreError(f"cannot update study field {k!r}")
            if k == "state" and v not in STATES:
                raise StoreError(f"unknown study state {v!r}; use one of {list(STATES)}")
            sets.append(f"{k}=?")
            args.append(_json(v) if k == "settings" else v)
        with self._db() as db:
            db.execute(f"UPDATE studies SET {', '.join(sets)}, updated=? WHERE name=?",
                       (*args, time.time(), name))

    def set_study_state(self, name: str, state: str) -> None:
        """Write a study state; ``paused`` and ``stopping`` control a running search."""
        self.update_study(name, state=state)

    def study_state(self, name: str) -> str:
        """The state users see (``interrupted`` when the driver is gone; see :meth:`study`)."""
        return self.study(name)["state"]

    def _request(self, name: str, state: str, allowed: tuple[str, ...], fix: str) -> None:
        """Set ``state`` only from one of ``allowed`` (atomically): a finished study is never
        marked running again by a stray resume. An interrupted study (its driver is gone) only
        takes ``stopping`` (see :meth:`request_stop`)."""
        if self.study_state(name) == "interrupted":
            raise StoreError(f"study {name!r} is interrupted (the search driving it is gone): "
                             f"continue it with `satseg search --study {name} --resume`, or "
                             f"end it with `satseg study stop {name}`")
        with self._db() as db:
            n = db.execute(
                f"UPDATE studies SET state=?, updated=? WHERE name=? AND state IN "
                f"({', '.join('?' * len(allowed))})", (state, time.time(), name, *allowed)).rowcount
        if not n:
            current = self.study_state(name)  # StoreError when the study does not exist
            if current != state:
                raise StoreError(f"study {name!r} is {current}: {fix}")

    def request_pause(self, name: str) -> None:
        """Ask the running search to start no new trial (running ones finish)."""
        self._request(name, "paused", ("created", "running"),
                      "only a created or running study can be paused")

    def request_resume(self, name: str) -> None:
        """Let a paused search go on."""
        self._request(name, "running", ("paused",),
                      "only a paused study resumes this way; to continue a finished, stopped "
                      f"or failed study run: satseg search --study {name} --resume")

    def request_stop(self, name: str) -> None:
        """Ask the running search to stop its running trials (cooperatively) and end. An
        interrupted study (its driver is gone) is ended at once: ``stopped``, its unfinished
        trials ``stopped``."""
        rec = self.study(name)
        if rec["state"] == "interrupted":
            self._end_interrupted(name)
            return
        self._request(name, "stopping", ("created", "running", "paused"),
                      "only a created, running or paused study can be stopped")

    def _end_interrupted(self, name: str) -> None:
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # against a driver resuming it meanwhile
            row = db.execute("SELECT state, driver_pid, driver_host, driver_started, "
                             "heartbeat_at FROM studies WHERE name=?", (name,)).fetchone()
            drv = dict(zip(("driver_pid", "driver_host", "driver_started", "heartbeat_at"),
                           row[1:], strict=True))
            if effective_state(row[0], drv) != "interrupted":
                raise StoreError(f"study {name!r} was resumed meanwhile; stop it again")
            db.execute("UPDATE studies SET state='stopped', updated=?, driver_pid=NULL, "
                       "driver_host=NULL, driver_started=NULL, heartbeat_at=NULL WHERE name=?",
                       (now, name))
            marks = ", ".join("?" * len(LIVE_STATUSES))
            db.execute(f"UPDATE trials SET status='stopped', error=? WHERE study=? AND status IN "
                       f"({marks})", ("the search driver was gone; the study was stopped", name,
                                      *LIVE_STATUSES))

    # ------------------------------------------------------------------ driver lease
    def claim_driver(self, name: str, *, renew: bool = True) -> None:
        """Make this process the study's driver (see :mod:`satseg.search.lease`); StoreError
        when another live process drives it. ``renew``: a thread renews the lease every few
        seconds until :meth:`release_driver`."""
        self._migrate()
        pid, host, started = identity()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # check and claim at once: two resumes, one driver
            row = db.execute("SELECT state, driver_pid, driver_host, driver_started, "
                             "heartbeat_at FROM studies WHERE name=?", (name,)).fetchone()
            if row is None:
                raise StoreError(f"no study {name!r} in {self.path}")
            drv = dict(zip(("driver_pid", "driver_host", "driver_started", "heartbeat_at"),
                           row[1:], strict=True))
            if driver_alive(drv) and (drv["driver_pid"], drv["driver_host"]) != (pid, host):
                age = time.time() - float(drv["heartbeat_at"])
                raise StoreError(
                    f"study {name!r} in {self.path} is being searched by process "
                    f"{drv['driver_pid']} on {host_name(drv['driver_host'])} (heartbeat {age:.0f} s "
                    "ago); "
                    f"wait for it, or stop it first: satseg study stop {name}")
            db.execute("UPDATE studies SET driver_pid=?, driver_host=?, driver_started=?, "
                       "heartbeat_at=? WHERE name=?", (pid, host, started, time.time(), name))
        if renew and name not in self._heartbeats:
            self._heartbeats[name] = Heartbeat(self, name).start()

    def driver_lost(self, name: str) -> bool:
        """True when this process renewed the study's lease and another process took it over."""
        hb = self._heartbeats.get(name)
        return hb is not None and hb.lost

    def beat(self, name: str) -> bool:
        """Renew this process's lease on the study; False when it is no longer the driver."""
        pid, host, _ = identity()
        with self._db() as db:
            return db.execute("UPDATE studies SET heartbeat_at=? WHERE name=? AND driver_pid=? "
                              "AND driver_host=?", (time.time(), name, pid, host)).rowcount > 0

    def release_driver(self, name: str) -> None:
        """Stop renewing and give the lease up (the search ended and wrote its final state)."""
        hb = self._heartbeats.pop(name, None)
        if hb is not None:
            hb.stop()
        if not self._has_lease():
            return
        pid, host, _ = identity()
        with self._db() as db:
            # heartbeat_at stays (the release time): a study left in a live state by a driver
            # that gave up (its cluster never started) reads as interrupted, not running
            db.execute("UPDATE studies SET driver_pid=NULL, driver_host=NULL, driver_started=NULL,"
                       " heartbeat_at=? WHERE name=? AND driver_pid=? AND driver_host=?",
                       (time.time(), name, pid, host))

    def request_trial_stop(self, name: str, trial_id: int) -> None:
        """Ask the running search to stop one running trial (recorded ``stopped``)."""
        with self._db() as db:
            n = db.execute("UPDATE trials SET status='stopping' WHERE study=? AND trial_id=? AND "
                           "status IN ('queued', 'running')", (name, int(trial_id))).rowcount
        if not n:
            raise StoreError(f"trial {trial_id} of study {name!r} is not running")

    def trial_ids(self, name: str, status: str) -> list[int]:
        """Ids of the study's trials with ``status``."""
        with self._db() as db:
            return [r[0] for r in db.execute("SELECT trial_id FROM trials WHERE study=? AND "
                                             "status=? ORDER BY trial_id", (name, status))]

    def delete_study(self, name: str) -> None:
        self.study(name)
        with self._db() as db:
            for table in ("history", "per_class", "artifacts", "trials", "spaces"):
                db.execute(f"DELETE FROM {table} WHERE study=?", (name,))
            db.execute("DELETE FROM studies WHERE name=?", (name,))
            if db.execute("SELECT 1 FROM sqlite_master WHERE name='study_uids'").fetchone():
                db.execute("DELETE FROM study_uids WHERE study=?", (name,))  # a new one: new folders

    # ------------------------------------------------------------------ spaces
    def add_space(self, name: str, space: Any) -> int:
        """Record a new space version of the study (returns the version number)."""
        if hasattr(space, "to_yaml"):
            text = space.to_yaml()
        elif isinstance(space, Mapping):
            import yaml

            text = yaml.safe_dump(dict(space), sort_keys=False)
        else:
            text = str(space)
        with self._db() as db:
            (v,) = db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM spaces WHERE study=?",
                              (name,)).fetchone()
            db.execute("INSERT INTO spaces VALUES (?,?,?,?)", (name, v, text, time.time()))
        return int(v)

    def space_version(self, name: str) -> int:
        with self._db() as db:
            (v,) = db.execute("SELECT MAX(version) FROM spaces WHERE study=?", (name,)).fetchone()
        if v is None:
            raise StoreError(f"study {name!r} has no search space in {self.path}")
        return int(v)

    def space_yaml(self, name: str, version: int | None = None) -> str:
        """The YAML text of a space version (default: the latest)."""
        version = self.space_version(name) if version is None else version
        with self._db() as db:
            row = db.execute("SELECT space FROM spaces WHERE study=? AND version=?",
                             (name, version)).fetchone()
        if row is None:
            raise StoreError(f"study {name!r} has no space version {version}")
        return row[0]

    def space(self, name: str, version: int | None = None):
        """The SearchSpace of a version (default: the latest)."""
        from satseg.search.space import load_space

        check = self.study(name)["settings"].get("check_fields", True)
        return load_space(self.space_yaml(name, version), check_fields=check)

    # ------------------------------------------------------------------ trials
    def add_trial(self, study: str, trial_id: int, params: Mapping[str, Any], *,
                  vals: Mapping[str, Any] | None = None, space_version: int | None = None,
                  status: str = "queued") -> None:
        """Record a new trial (suggested, not started)."""
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO trials (study, trial_id, status, params, vals, "
                       "space_version, retries, created) VALUES (?,?,?,?,?,?,0,?)",
                       (study, int(trial_id), status, _json(params),
                        None if vals is None else _json(vals), space_version, time.time()))

    def update_trial(self, study: str, trial_id: int, **fields: Any) -> None:
        """Set trial columns (status, objective, started, finished, duration, worker, error,
        retries, params, vals, space_version)."""
        bad = sorted(set(fields) - set(_TRIAL_COLS) - set(_FIDELITY_COLS))
        if bad:
            raise StoreError(f"unknown trial field(s) {bad}; valid: {list(_TRIAL_COLS)}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise StoreError(f"unknown trial status {fields['status']!r}")
        vals = [(_json(v) if k in ("params", "vals") else _num(v) if k == "objective" else v)
                for k, v in fields.items()]
        with self._db() as db:
            db.execute(f"UPDATE trials SET {', '.join(f'{k}=?' for k in fields)} "
                       "WHERE study=? AND trial_id=?", (*vals, study, int(trial_id)))

    def add_history(self, study: str, trial_id: int, row: Mapping[str, Any],
                    seq: int | None = None) -> None:
        """Append (or replace, with ``seq``) one per-epoch history row of a trial."""
        with self._db() as db:
            if seq is None:
                (seq,) = db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM history WHERE "
                                    "study=? AND trial_id=?", (study, int(trial_id))).fetchone()
            db.execute("INSERT OR REPLACE INTO history VALUES (?,?,?,?)",
                       (study, int(trial_id), int(seq), _json(row)))

    def finish_trial(self, study: str, trial_id: int, *, status: str,
                     objective: float | None = None, history: list[dict] | None = None,
                     per_class: Mapping[str, float] | None = None,
                     artifacts: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Record the end of a trial: status, objective and everything it produced, at once."""
        self.update_trial(study, trial_id, status=status, objective=objective, **fields)
        with self._db() as db:
            if history is not None:
                db.execute("DELETE FROM history WHERE study=? AND trial_id=?", (study, trial_id))
                db.executemany("INSERT INTO history VALUES (?,?,?,?)",
                               [(study, trial_id, i, _json(r)) for i, r in enumerate(history)])
            for cls, j in (per_class or {}).items():
                db.execute("INSERT OR REPLACE INTO per_class VALUES (?,?,?,?)",
                           (study, trial_id, str(cls), _num(j) if j is not None else None))
            for kind, path in (artifacts or {}).items():
                if path is not None:
                    db.execute("INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?)",
                               (study, trial_id, str(kind), str(path)))

    def delete_artifacts(self, study: str, trial_id: int) -> None:
        """Forget the artifact paths of a trial (its run folder was deleted)."""
        with self._db() as db:
            db.execute("DELETE FROM artifacts WHERE study=? AND trial_id=?", (study, trial_id))

    def artifact_users(self, path: str) -> list[tuple[str, int]]:
        """``(study, trial_id)`` of every trial that records ``path`` (any artifact kind)."""
        with self._db() as db:
            return [(s, int(t)) for s, t in db.execute(
                "SELECT DISTINCT study, trial_id FROM artifacts WHERE path=?", (str(path),))]

    def study_uid(self, name: str) -> str:
        """The study's random id, made on first use (its run folders are named with it, so two
        stores, or two names that sanitise alike, never share one). Kept in its own table
        ``study_uids(study, uid)``, created here: older stores gain it additively."""
        import uuid

        self.study(name)
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS study_uids (study TEXT PRIMARY KEY, "
                       "uid TEXT NOT NULL)")
            db.execute("INSERT OR IGNORE INTO study_uids VALUES (?, ?)",
                       (name, uuid.uuid4().hex[:12]))
            (uid,) = db.execute("SELECT uid FROM study_uids WHERE study=?", (name,)).fetchone()
        return str(uid)

    def _fidelity_cols(self) -> tuple[str, ...]:
        """The rung/budget columns when this store has them (a new or migrated one does)."""
        have = (self._tables or {}).get("trials")
        return _FIDELITY_COLS if have is None or set(_FIDELITY_COLS) <= have else ()

    def trial_rows(self, study: str, trial_id: int | None = None) -> list[dict[str, Any]]:
        """Every trial of a study (or the one ``trial_id``) as a plain dict (params decoded),
        ordered by id."""
        where, args = ("WHERE study=?", (study,)) if trial_id is None else (
            "WHERE study=? AND trial_id=?", (study, int(trial_id)))
        cols = _TRIAL_COLS + self._fidelity_cols()
        with self._db() as db:
            rows = db.execute(f"SELECT trial_id, {', '.join(cols)} FROM trials "
                              f"{where} ORDER BY trial_id", args).fetchall()
        out = []
        for r in rows:
            d = dict(zip(("trial_id", *cols), r, strict=True))
            for c in _FIDELITY_COLS:
                d.setdefault(c, None)
            d["params"] = json.loads(d["params"])
            d["vals"] = json.loads(d["vals"]) if d["vals"] else None
            out.append(d)
        return out

    def trials(self, study: str):
        """DataFrame: trial_id, status, objective, duration, error, started, finished, worker,
        retries, space_version, then one column per parameter (dotted names)."""
        import pandas as pd

        shown = self._shown_status(study)  # StoreError for an unknown study
        rows = self.trial_rows(study)
        meta = ["trial_id", "status", "objective", "duration", "error", "started", "finished",
                "worker", "retries", "space_version", *_FIDELITY_COLS]
        recs = []
        for r in rows:  # bookkeeping first; a parameter never hides a bookkeeping column
            rec = {k: r[k] for k in meta}
            rec["status"] = shown(rec["status"])
            rec.update({k: v for k, v in r["params"].items() if k not in rec})
            recs.append(rec)
        df = pd.DataFrame(recs, columns=None if recs else meta)
        if len(df):
            df["objective"] = pd.to_numeric(df["objective"])
        return df

    def trial(self, study: str, trial_id: int) -> dict[str, Any]:
        """One trial: its row plus ``history`` (list of dicts), ``per_class`` ({class: J}) and
        ``artifacts`` ({kind: path}, e.g. run_dir, preview)."""
        trial_id = int(trial_id)
        rows = self.trial_rows(study, trial_id)
        if not rows:
            raise StoreError(f"study {study!r} has no trial {trial_id} in {self.path}")
        out = rows[0]
        out["status"] = self._shown_status(study)(out["status"])
        with self._db() as db:
            out["history"] = [json.loads(r[0]) for r in db.execute(
                "SELECT row FROM history WHERE study=? AND trial_id=? ORDER BY seq",
                (study, trial_id))]
            out["per_class"] = {c: (float("nan") if j is None else j) for c, j in db.execute(
                "SELECT class, jaccard FROM per_class WHERE study=? AND trial_id=?",
                (study, trial_id))}
            out["artifacts"] = dict(db.execute(
                "SELECT kind, path FROM artifacts WHERE study=? AND trial_id=?",
                (study, trial_id)).fetchall())
        return out

    def next_trial_id(self, study: str) -> int:
        with self._db() as db:
            (n,) = db.execute("SELECT COALESCE(MAX(trial_id), -1) + 1 FROM trials WHERE study=?",
                              (study,)).fetchone()
        return int(n)

    def best_trial(self, study: str) -> dict[str, Any] | None:
        """The finished (ok) trial with the best objective, or None. In a multi-fidelity (ASHA)
        study, the best of those at the highest rung reached: objectives of different budgets
        are not comparable (a trial cut after 3 epochs can out-score one trained for 9 on a
        noisy validation set), and BOHB's incumbent is likewise the best at the largest budget
        (Falkner et al. 2018)."""
        direction = self.study(study)["direction"]
        ok = [r for r in self.trial_rows(study) if r["status"] == "ok"
              and r["objective"] is not None]
        if not ok:
            return None
        rungs = [int(r["rung"]) for r in ok if r.get("rung") is not None]
        if rungs:
            top = max(rungs)
            ok = [r for r in ok if r.get("rung") is not None and int(r["rung"]) == top]
        sign = 1 if direction == "maximize" else -1
        best = max(ok, key=lambda r: sign * r["objective"])
        return self.trial(study, best["trial_id"])
