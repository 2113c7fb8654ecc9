"""Stores that are not satseg's, read-only opens and missing stores: nothing is ever written
where it should not be (bytes and folder listings compared before and after)."""

from __future__ import annotations

import sqlite3

import pytest

from satseg.cli import main
from satseg.errors import StoreError
from satseg.search import StudyStore, export_study


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def foreign(tmp_path):
    """Another application's SQLite database (rollback journal, its own tables)."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO customers (name) VALUES ('Ada')")
    return path


@pytest.mark.parametrize("read_only", [True, False])
def test_foreign_database_is_refused_untouched(tmp_path, foreign, read_only):
    before = _snapshot(tmp_path)
    with pytest.raises(StoreError, match=r"app\.db is an SQLite database without satseg's "
                                         r"tables \(it has: customers\).*left untouched"):
        StudyStore(foreign, read_only=read_only)
    assert _snapshot(tmp_path) == before  # no table, no WAL switch, no -wal/-shm file
    with sqlite3.connect(foreign) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


@pytest.mark.parametrize("content", [b"", b"name,value\na,1\n" * 50, b"SQLite format 3\x00junk"])
def test_non_database_files_are_refused_untouched(tmp_path, content):
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    before = _snapshot(tmp_path)
    with pytest.raises(StoreError, match="notes.db"):
        StudyStore(path, read_only=True)
    if content:
        with pytest.raises(StoreError, match="notes.db is not a satseg study store"):
            StudyStore(path)
    assert _snapshot(tmp_path) == before


def test_missing_store_read_only_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        StudyStore(tmp_path / "nope.db", read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_read_only_store_reads_everything_and_writes_nothing(tmp_path):
    path = tmp_path / "s.db"
    rw = StudyStore(path)
    rw.create_study("s1", {"params": {"x": {"type": "uniform", "low": 0, "high": 1}}},
                    settings={"check_fields": False})
    rw.add_trial("s1", 0, {"x": 0.5})
    rw.finish_trial("s1", 0, status="ok", objective=0.5, history=[{"epoch": 1}],
                    per_class={"Road": 0.5}, duration=1.0)
    del rw
    before = path.read_bytes()
    ro = StudyStore(path, read_only=True)
    assert ro.study_state("s1") == "created" and len(ro.list_studies()) == 1
    assert ro.trial("s1", 0)["per_class"] == {"Road": 0.5}
    assert len(ro.trials("s1")) == 1 and ro.best_trial("s1")["trial_id"] == 0
    export_study(ro, "s1", tmp_path / "s1.json")
    with pytest.raises(StoreError, match="opened read-only"):
        ro.set_study_state("s1", "paused")
    with pytest.raises(StoreError, match="opened read-only"):
        ro.add_trial("s1", 1, {"x": 0.1})
    assert path.read_bytes() == before


@pytest.mark.parametrize("argv", [["study", "list"], ["study", "show", "s1"],
                                  ["study", "export", "s1"], ["study", "stop", "s1"],
                                  ["study", "refine", "s1"], ["study", "import", "s1"],
                                  ["search", "--study", "s1", "--no-progress"]])
def test_cli_refuses_a_foreign_database_untouched(tmp_path, foreign, argv, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    assert main([*argv, "--store", str(foreign)]) == 2
    err = capsys.readouterr().err.strip()
    assert "app.db" in err and "without satseg's tables" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert _snapshot(tmp_path) == before


def test_cli_read_only_commands_leave_a_store_unchanged(tmp_path, capsys):
    path = tmp_path / "s.db"
    rw = StudyStore(path)
    rw.create_study("s1", {"params": {"x": {"type": "uniform", "low": 0, "high": 1}}},
                    settings={"check_fields": False})
    del rw
    before = path.read_bytes()
    for argv in (["study", "list"], ["study", "show", "s1"],
                 ["study", "export", "s1", "--out", str(tmp_path / "e.csv")]):
        assert main([*argv, "--store", str(path)]) == 0, capsys.readouterr().err
    assert path.read_bytes() == before
