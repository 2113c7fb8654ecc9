"""SATSEG_STORE names the default study store of the CLI (make demo's .satseg-demo/study.db)."""

from __future__ import annotations

import os
import subprocess
import sys

from satseg.search import StudyStore, load_space


def test_study_list_finds_the_store_named_by_satseg_store(tmp_path):
    store_path = tmp_path / "demo" / "study.db"
    store_path.parent.mkdir()
    StudyStore(store_path).create_study("demo", load_space("quick"), data="sample")
    env_run = [sys.executable, "-m", "satseg", "study", "list"]

    env = {**os.environ, "SATSEG_STORE": str(store_path)}
    out = subprocess.run(env_run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "demo" in out.stdout
    # --store still wins over the variable
    other = subprocess.run([*env_run, "--store", str(tmp_path / "none.db")], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert "demo" not in other.stdout
    assert not (tmp_path / "satseg-study.db").exists()  # nothing created in the current folder
