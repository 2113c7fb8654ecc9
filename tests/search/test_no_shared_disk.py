"""Issue 13: a search on dask workers that share no disk with the driver.

A scheduler and two workers run as separate processes; each worker has its own temporary
working directory and its own mount namespace in which a tmpfs hides the driver's folder (as
root: ``unshare -m``). The workers need only the data (the bundled sample, part of the install).
The trials' run folders travel back through dask; the driver then predicts with the best trial
from the store (``satseg predict --study``) and the dashboard's Results loader loads it.
"""

from __future__ import annotations

import json
import os
import shutil
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

DASK = str(Path(sys.executable).with_name("dask"))


def _can_hide(tmp: Path) -> str | None:
    """None when this process may hide a folder from a child with ``unshare -m``, else why."""
    if os.name != "posix" or os.geteuid() != 0:
        return "needs root to unshare a mount namespace (a worker that cannot see the driver)"
    if not shutil.which("unshare"):
        return "the unshare command is not installed"
    probe = tmp / "probe"
    probe.mkdir()
    r = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs none {probe}"],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else f"unshare -m / mount not permitted here: {r.stderr}"


@pytest.fixture
def hidden_cluster(tmp_path):
    """``(scheduler address, driver folder)``: workers that cannot see the driver folder."""
    why = _can_hide(tmp_path)
    if why:
        pytest.skip(why)
    driver = tmp_path / "driver"
    driver.mkdir()
    (driver / "marker").write_text("only the driver sees this")
    sched_file = tmp_path / "cluster" / "scheduler.json"
    sched_file.parent.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}
    logs = tmp_path / "cluster"
    procs = [subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(sched_file)], env=env,
        stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT)]
    try:
        t_end = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < t_end:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for k in range(2):
            wdir = tmp_path / f"worker{k}"
            wdir.mkdir()
            cmd = (f"mount -t tmpfs none {driver} && cd {wdir} && exec {DASK} worker {address} "
                   f"--nthreads 1 --no-dashboard --local-directory {wdir} --name w{k}")
            procs.append(subprocess.Popen(["unshare", "-m", "sh", "-c", cmd], env=env, cwd=wdir,
                                          stdout=open(logs / f"worker{k}.log", "w"),
                                          stderr=subprocess.STDOUT))
        yield address, driver
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def test_search_predict_and_results_with_no_shared_disk(hidden_cluster, capsys):
    from distributed import Client

    address, driver = hidden_cluster
    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
        seen = client.run(os.path.exists, str(driver / "marker"))
        assert len(seen) == 2 and not any(seen.values()), seen  # truly hidden from workers
        assert os.path.exists(driver / "marker")
    space = driver / "tiny.yaml"
    space.write_text(yaml.safe_dump(TINY))
    db = driver / "study.db"
    assert main(["search", "--study", "far", "--trials", "2", "--space", str(space), "--store",
                 str(db), "--parallel", "2", "--scheduler", address, "--no-progress"]) == 0
    store = StudyStore(db)
    df = store.trials("far")
    assert list(df["status"]) == ["ok", "ok"], df[["status", "error"]]
    for tid in df["trial_id"]:
        run = Path(store.trial("far", tid)["artifacts"]["run_dir"])
        assert run.parent.parent == driver / "study.runs" and (run / "model.keras").is_file()
        m = json.loads((run / "artifacts.json").read_text())
        assert not str(m["worker"]).startswith("inproc") and "model.keras" in m["files"]
    from satseg.search.artifacts import ship_report

    rows = ship_report(db, "far")
    assert len(rows) == 2
    for r in rows:
        print(f"artifacts shipped: {r['bytes'] / 1e6:.2f} MB in {r['ship_s']:.3f} s (pack "
              f"{r['pack_s']:.3f}, dask + poll {r['transfer_s']:.3f}, write {r['write_s']:.3f}) "
              f"= {100 * r['ratio']:.2f}% of a {r['duration']:.1f} s trial")
        assert r["ratio"] < 0.05  # target 2%; the driver's 0.25 s poll is in it

    # satseg predict with the best trial, loaded through the store's record.
    from satseg.io import open_dataset

    image = open_dataset("sample").ids()[0]
    out = driver / "pred"
    assert main(["predict", "--study", "far", "--store", str(db), "--data", "sample",
                 "--scenes", image, "--out", str(out), "--tta", "1", "--format", "tif",
                 "--no-progress"]) == 0
    index = json.loads((out / "predictions.json").read_text())
    best = store.best_trial("far")
    assert index["model"] == best["artifacts"]["run_dir"] and image in index["images"]

    # The dashboard's Results tab: its loader on the same store record.
    pytest.importorskip("panel")
    from app.studies import StudyState
    from app.views.results import predict_probs, run_dir_of

    state = StudyState({"driver store": str(db)})
    assert state.study == "far"
    run_dir = run_dir_of(state.trial(best["trial_id"]))
    probs, names = predict_probs(run_dir, open_dataset("sample").load_image(image), tta=1)
    assert probs.shape[0] == len(names) == 5 and probs.dtype.name == "uint8"
