"""`satseg study` and `satseg search` on awkward stores: trials that have not finished, a study
whose driver was killed, ids and classes that the data set does not have (no study is made)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from satseg.cli import main
from satseg.errors import ConfigError
from satseg.search import SearchSettings, StudyStore, run_search

SPACE = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}}}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "s.db"
    st = StudyStore(path)
    st.create_study("s1", SPACE, settings={"check_fields": False})
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_show_while_no_trial_has_finished(db, capsys):
    st = StudyStore(db)
    assert main(["study", "show", "s1", "--store", str(db)]) == 0  # no trial at all
    st.add_trial("s1", 0, {"x": 0.1})  # queued: no start, duration or objective yet
    st.add_trial("s1", 1, {"x": 0.2})
    st.update_trial("s1", 1, status="running", started=1.7e9, worker="tcp://w:1")
    for argv in (["study", "show", "s1"], ["study", "list"], ["study", "show", "s1", "--trial", "1"]):
        assert main([*argv, "--store", str(db)]) == 0, capsys.readouterr().err
    st.finish_trial("s1", 1, status="ok", objective=0.5, duration=12.4, finished=1.7e9 + 12)
    capsys.readouterr()
    assert main(["study", "show", "s1", "--store", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "study s1: created, maximize, 2 trial(s), space version 1"
    assert lines[1].split()[:4] == ["trial_id", "status", "objective", "duration"]
    assert lines[2].split()[:4] == ["1", "ok", "0.5", "12.0"]  # best first, whole seconds
    assert lines[3].split()[:4] == ["0", "queued", "NaN", "NaN"]


def test_interrupted_study_is_shown_and_stopped(db, capsys):
    code = ("import sys, time; from satseg.search import StudyStore; s = StudyStore(sys.argv[1]);"
            " s.claim_driver('s1'); s.set_study_state('s1', 'running');"
            " s.add_trial('s1', 0, {'x': 0.3}, status='running'); print('up', flush=True);"
            " time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        assert main(["study", "pause", "s1", "--store", str(db)]) == 0  # alive: control works
        capsys.readouterr()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
    assert main(["study", "list", "--store", str(db)]) == 0
    assert "interrupted" in capsys.readouterr().out
    assert main(["study", "show", "s1", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("study s1: interrupted") and "--resume" in out
    assert main(["study", "resume", "s1", "--store", str(db)]) == 2
    assert "interrupted" in _one_line_error(capsys)
    assert main(["study", "stop", "s1", "--store", str(db)]) == 0
    assert capsys.readouterr().out.strip() == "study s1: stopped"
    assert StudyStore(db).trial("s1", 0)["status"] == "stopped"


@pytest.mark.parametrize("option, value, message", [
    ("--val-ids", "nope,tile_1/image_part_009",
     "search setting val_ids (--val-ids): no image 'nope' in data set 'dubai-sample'; its "
     "labelled image ids include 'tile_1/image_part_009'"),
    ("--exclude-ids", "tile_9/none",
     "search setting exclude_ids (--exclude-ids): no image 'tile_9/none' in data set"),
    ("--classes", "Road,Roads", "search setting classes (--classes): unknown class(es) 'Roads'; "
     "data set 'dubai-sample' has 'Building', 'Land', 'Road', 'Vegetation', 'Water'"),
])
def test_search_checks_ids_and_classes_before_the_study_exists(tmp_path, capsys, option, value,
                                                               message):
    fresh = tmp_path / "new.db"
    argv = ["search", "--data", "sample", "--study", "bad", option, value, "--no-progress"]
    assert main([*argv, "--store", str(fresh)]) == 2
    assert message in _one_line_error(capsys)
    assert not fresh.exists()  # no store file either
    old = tmp_path / "old.db"
    StudyStore(old).create_study("keep", SPACE, settings={"check_fields": False})
    assert main([*argv, "--store", str(old)]) == 2
    assert message in _one_line_error(capsys)
    assert StudyStore(old).study_names() == ["keep"]


def test_library_checks_ids_too(tmp_path):
    s = SearchSettings(store=str(tmp_path / "s.db"), study="lib", val_ids=("tile_1/image_part_009",),
                       exclude_ids=("tile_1/image_part_009",))
    with pytest.raises(ConfigError, match="val_ids and exclude_ids .* both name"):
        run_search(s)
    assert not (tmp_path / "s.db").exists()
    with pytest.raises(ConfigError, match="must be a list of non-empty names"):
        SearchSettings(val_ids=("",))
