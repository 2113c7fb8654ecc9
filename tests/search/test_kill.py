"""Kill test: SIGKILL the driver of a real `satseg search` (its own local dask cluster) in the
middle of a trial. The study then reads `interrupted`, `satseg study stop` ends it at once, and
`--resume` finishes it with every finished trial intact. `study show` and `study list` are
called over and over during the live search and never fail."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from satseg.cli import main
from satseg.search import StudyStore
from tests.search.tiny_space import TINY

pytestmark = pytest.mark.slow



def _search(tmp: Path, *extra: str) -> subprocess.Popen:
    """`satseg search` in its own process group (its dask workers can be cleaned up)."""
    argv = [sys.executable, "-m", "satseg", "search", "--study", "k", "--trials", "2",
            "--space", str(tmp / "tiny.yaml"), "--store", str(tmp / "study.db"),
            "--parallel", "1", "--trial-threads", "1", "--no-progress", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _trial(store: StudyStore, tid: int) -> dict:
    t = store.trial("k", tid)
    model = Path(t["artifacts"]["run_dir"]) / "model.keras"
    return {"objective": t["objective"], "per_class": t["per_class"], "history": t["history"],
            "run_dir": t["artifacts"]["run_dir"], "status": t["status"],
            "model_sha": hashlib.sha256(model.read_bytes()).hexdigest()}


def test_killed_driver_is_interrupted_stopped_and_resumed(tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    db = tmp_path / "study.db"
    proc = _search(tmp_path)
    calls = 0
    try:
        # Hammer the read-only commands while the search runs; kill once trial 0 is finished
        # and trial 1 is running.
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "trial 1 never started"
            if db.exists():
                for argv in (["study", "list"], ["study", "show", "k"]):
                    rc = main([*argv, "--store", str(db)])
                    err = capsys.readouterr().err
                    assert rc == 0 or "no study 'k'" in err, err  # the study may not exist yet
                    calls += 1
                store = StudyStore(db, read_only=True)
                if "k" in store.study_names():
                    status = {r["trial_id"]: r["status"] for r in store.trial_rows("k")}
                    if status.get(0) == "ok" and status.get(1) == "running":
                        break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its dask nanny, worker and trial processes
        except ProcessLookupError:
            pass
    assert calls >= 10
    store = StudyStore(db, read_only=True)
    before = _trial(store, 0)
    assert before["status"] == "ok" and set(before["per_class"]) >= {"Road", "Water"}

    assert main(["study", "list", "--store", str(db)]) == 0
    row = [ln for ln in capsys.readouterr().out.splitlines() if ln.split()[:1] == ["k"]]
    assert row and row[0].split()[1] == "interrupted", row
    assert store.trials("k").set_index("trial_id").loc[1, "status"] == "interrupted"

    # What a driver killed while writing a run leaves: a hidden temporary folder and a trial
    # folder that no trial record names. The resume removes both (and only those).
    runs = Path(before["run_dir"]).parent
    for debris in (runs / ".trial-0001.tmp-deadbeef", runs / "trial-0001"):
        debris.mkdir()
        (debris / "model.keras").write_bytes(b"partial")

    assert main(["study", "stop", "k", "--store", str(db)]) == 0
    assert capsys.readouterr().out.strip() == "study k: stopped"
    assert store.trial("k", 1)["status"] == "stopped"

    proc = _search(tmp_path, "--resume")
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, out
    assert "study k: finished; 2 ok" in out, out
    assert store.study_state("k") == "finished" and store.study("k")["driver"]["alive"] is False
    assert _trial(store, 0) == before  # the finished trial is intact, model included
    statuses = {r["trial_id"]: r["status"] for r in store.trial_rows("k")}
    assert statuses == {0: "ok", 1: "stopped", 2: "ok"}
    assert not (runs / ".trial-0001.tmp-deadbeef").exists() and not (runs / "trial-0001").exists()
    assert Path(store.trial("k", 2)["artifacts"]["run_dir"]).parent == runs
