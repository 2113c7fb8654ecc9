"""Opening a study store file safely: schema, read-only connections, migrations.

A store path may name a file that is not satseg's (another application's SQLite database, a
text file). Such a file is inspected through a read-only connection (SQLite ``mode=ro`` URI) and
refused untouched: no table is created, the journal mode is not switched, its bytes stay as they
were. Read-only stores (``satseg study list/show/export``) never write at all; writers create
a missing store and add what an older satseg store lacks (tables, the driver-lease columns).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from satseg.errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
  name TEXT PRIMARY KEY, direction TEXT NOT NULL, state TEXT NOT NULL, data TEXT,
  settings TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, updated REAL NOT NULL,
  driver_pid INTEGER, driver_host TEXT, driver_started REAL, heartbeat_at REAL);
CREATE TABLE IF NOT EXISTS spaces (
  study TEXT NOT NULL, version INTEGER NOT NULL, space TEXT NOT NULL, created REAL NOT NULL,
  PRIMARY KEY (study, version));
CREATE TABLE IF NOT EXISTS trials (
  study TEXT NOT NULL, trial_id INTEGER NOT NULL, status TEXT NOT NULL, objective REAL,
  params TEXT NOT NULL, vals TEXT, space_version INTEGER, started REAL, finished REAL,
  duration REAL, worker TEXT, error TEXT, retries INTEGER NOT NULL DEFAULT 0, created REAL,
  rung INTEGER, budget REAL, PRIMARY KEY (study, trial_id));
CREATE TABLE IF NOT EXISTS history (
  study TEXT NOT NULL, trial_id INTEGER NOT NULL, seq INTEGER NOT NULL, row TEXT NOT NULL,
  PRIMARY KEY (study, trial_id, seq));
CREATE TABLE IF NOT EXISTS per_class (
  study TEXT NOT NULL, trial_id INTEGER NOT NULL, class TEXT NOT NULL, jaccard REAL,
  PRIMARY KEY (study, trial_id, class));
CREATE TABLE IF NOT EXISTS artifacts (
  study TEXT NOT NULL, trial_id INTEGER NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL,
  PRIMARY KEY (study, trial_id, kind));
"""
#: Columns of ``studies`` added after the first release (migrated into older stores).
LEASE_COLUMNS = (("driver_pid", "INTEGER"), ("driver_host", "TEXT"),
                 ("driver_started", "REAL"), ("heartbeat_at", "REAL"))
#: Columns of ``trials`` added for multi-fidelity search (the rung reached and its budget).
TRIAL_COLUMNS = (("rung", "INTEGER"), ("budget", "REAL"))
#: What makes a file a satseg store: these tables with these columns.
_SIGNATURE = {"studies": {"name", "direction", "state", "settings"},
              "trials": {"study", "trial_id", "status", "params"}}
_FIX = "choose another --store path (a file written by `satseg search`)"


def connect(path: Path, read_only: bool) -> sqlite3.Connection:
    """A connection; read-only ones use SQLite's ``mode=ro`` URI and can write nothing."""
    if read_only:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    return sqlite3.connect(path, timeout=30.0)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def inspect(path: Path) -> dict[str, set[str]]:
    """``{table: columns}`` of an existing file, read without writing a byte; StoreError naming
    the file when it is not an SQLite database."""
    try:
        db = connect(path, read_only=True)
        try:
            names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return {n: _columns(db, n) for n in names}
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a satseg study store: it is not an SQLite database "
                         f"({exc}); it was left untouched; {_FIX}") from exc


def check_path(path: Path, read_only: bool) -> dict[str, set[str]] | None:
    """Refuse what cannot be a store at ``path``; the tables of an existing one (None: no file)."""
    if path.is_dir():
        raise StoreError(f"study store {path} is a folder; give a file path such as "
                         f"{path / 'satseg-study.db'}")
    if not path.exists():
        if read_only:
            raise StoreError(f"study store {path} does not exist; give --store (the file "
                             "`satseg search` wrote)")
        if not path.parent.exists():
            raise StoreError(f"the folder of study store {path} does not exist; create it or "
                             "choose another --store path")
        return None
    tables = inspect(path)
    if not tables and (not read_only or path.stat().st_size == 0):
        if read_only:
            raise StoreError(f"study store {path} is an empty file, not a satseg study store; "
                             f"{_FIX}")
        return tables  # an empty database: a writer makes it a store
    missing = [t for t, cols in _SIGNATURE.items() if not cols <= tables.get(t, set())]
    if missing:
        shown = ", ".join(sorted(tables)[:6]) or "none"
        raise StoreError(f"{path} is an SQLite database without satseg's tables (it has: "
                         f"{shown}), not a satseg study store; it was left untouched; {_FIX}")
    return tables


def initialise(db: sqlite3.Connection, tables: dict[str, set[str]] | None) -> None:
    """Create a new store (WAL mode, every table), or add what an older store lacks."""
    if not tables:
        db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    have = _columns(db, "studies")
    for col, kind in LEASE_COLUMNS:
        if col not in have:
            db.execute(f"ALTER TABLE studies ADD COLUMN {col} {kind}")
    have = _columns(db, "trials")
    for col, kind in TRIAL_COLUMNS:
        if col not in have:
            db.execute(f"ALTER TABLE trials ADD COLUMN {col} {kind}")


def needs_migration(tables: dict[str, set[str]] | None) -> bool:
    """Whether a writer must touch the file before using it (new, or older than this satseg)."""
    if not tables:
        return True
    expected = {"studies", "spaces", "trials", "history", "per_class", "artifacts"}
    lease = {c for c, _ in LEASE_COLUMNS}
    fidelity = {c for c, _ in TRIAL_COLUMNS}
    return (not expected <= set(tables) or not lease <= tables["studies"]
            or not fidelity <= tables["trials"])
