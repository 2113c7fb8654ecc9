"""The search on real ``dask scheduler`` / ``dask worker`` processes started on 127.0.0.1:
by address, surviving a killed worker and a killed driver."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from satseg.search import StudyStore, run_search
from tests.search import objectives as obj

ROOT = Path(__file__).resolve().parents[2]
DASK = str(Path(sys.executable).with_name("dask"))
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout=60.0, what="condition"):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Cluster:
    """A scheduler and single-threaded workers (no nanny: a killed worker stays dead)."""

    def __init__(self, n_workers: int = 2):
        self.procs: list[subprocess.Popen] = []
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self._start([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                     "--no-dashboard"])
        self.workers: dict[str, subprocess.Popen] = {}
        for _ in range(n_workers):
            self.add_worker()
        from distributed import Client

        with Client(self.address, timeout=30) as c:
            c.wait_for_workers(n_workers, timeout=60)

    def _start(self, cmd) -> subprocess.Popen:
        p = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def add_worker(self) -> str:
        wport = free_port()
        p = self._start([DASK, "worker", self.address, "--nthreads", "1", "--no-nanny",
                         "--host", "127.0.0.1", "--worker-port", str(wport),
                         "--no-dashboard"])
        addr = f"tcp://127.0.0.1:{wport}"
        self.workers[addr] = p
        return addr

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait(10)


@pytest.fixture
def cluster():
    c = Cluster(2)
    try:
        yield c
    finally:
        c.close()


SP = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}, "sleep": 3.0}}


def test_search_by_address_survives_a_killed_worker(cluster, tmp_path):
    store_path = tmp_path / "k.db"
    out = {}

    def search():
        try:
            out["res"] = run_search(SP, objective=obj.sleeper, study="k", store=str(store_path),
                                    n_trials=4, parallelism=2, scheduler=cluster.address,
                                    check_fields=False, retries=1)
        except BaseException as exc:  # shown by the test instead of a bare timeout
            out["error"] = exc

    th = threading.Thread(target=search)
    th.start()
    store = StudyStore(store_path)

    def running():
        if not store.has_study("k"):
            return []
        df = store.trials("k")
        return [] if df.empty else list(df[df["status"] == "running"][["trial_id", "worker"]]
                                         .itertuples(index=False))

    def running_or_ended():
        if "error" in out:
            raise AssertionError(f"the search failed: {out['error']!r}")
        if not th.is_alive():
            raise AssertionError(f"the search ended before a trial was seen running: "
                                 f"{store.trials('k')[['trial_id', 'status']].to_dict('records')}")
        return len(running()) >= 1

    wait_until(running_or_ended, timeout=120, what="a running trial")
    victim_tid, victim = running()[0]
    cluster.workers[victim].kill()  # SIGKILL mid-trial
    cluster.add_worker()  # a replacement, as a real cluster would bring
    th.join(120)
    assert not th.is_alive()
    res = out["res"]
    df = store.trials("k")
    assert res.state == "finished" and len(df[df["status"].isin(["ok", "fail"])]) == 4
    t = store.trial("k", victim_tid)
    assert (t["status"] == "ok" and t["retries"] >= 1) or (
        t["status"] == "fail" and "worker" in t["error"])
    assert t["worker"] != victim or t["status"] == "fail"


DRIVER = textwrap.dedent("""
    import sys
    from satseg.search import run_search
    from tests.search import objectives as obj
    sp = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}, "sleep": 1.0}}
    run_search(sp, objective=obj.sleeper, study="d", store=sys.argv[1], n_trials=8,
               parallelism=2, scheduler=sys.argv[2], check_fields=False)
""")


def test_killed_driver_resumes_without_losing_finished_trials(cluster, tmp_path):
    store_path = tmp_path / "d.db"
    drv = subprocess.Popen([sys.executable, "-c", DRIVER, str(store_path), cluster.address],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        store = StudyStore(store_path) if store_path.exists() else None

        def n_ok():
            nonlocal store
            if store is None and store_path.exists():
                store = StudyStore(store_path)
            if store is None or not store.has_study("d"):
                return 0
            df = store.trials("d")
            return int((df["status"] == "ok").sum()) if len(df) else 0

        wait_until(lambda: n_ok() >= 3, what="3 finished trials")
        drv.send_signal(signal.SIGKILL)
        drv.wait(10)
    finally:
        if drv.poll() is None:
            drv.kill()
    before = {r["trial_id"]: r for r in store.trial_rows("d") if r["status"] == "ok"}
    assert len(before) >= 3
    res = run_search(objective=obj.sleeper, study="d", store=str(store_path), n_trials=8,
                     parallelism=2, scheduler=cluster.address, check_fields=False, resume=True)
    rows = {r["trial_id"]: r for r in store.trial_rows("d")}
    assert res.state == "finished"
    for tid, r in before.items():  # nothing finished was lost or changed
        assert json.dumps(rows[tid], sort_keys=True) == json.dumps(r, sort_keys=True)
    statuses = [r["status"] for r in rows.values()]
    assert statuses.count("ok") == 8
    assert set(statuses) <= {"ok", "lost"}  # trials running at the kill are marked lost


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl for certificates")
def test_search_over_tls(tmp_path):
    import logging

    from distributed import LocalCluster
    from distributed.security import Security

    from satseg.errors import ConfigError

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    c, k = str(cert), str(key)
    sec = Security(tls_ca_file=c, tls_scheduler_cert=c, tls_scheduler_key=k, tls_worker_cert=c,
                   tls_worker_key=k, tls_client_cert=c, tls_client_key=k, require_encryption=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, protocol="tls://", security=sec,
                      host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as cl:
        assert cl.scheduler_address.startswith("tls://")
        res = run_search({"x": {"type": "uniform", "low": 0, "high": 1}},
                         objective=obj.quadratic, store=str(tmp_path / "t.db"), n_trials=2,
                         scheduler=cl.scheduler_address, tls={"ca": c, "cert": c, "key": k},
                         check_fields=False)
        assert res.state == "finished" and res.n_ok == 2
        with pytest.raises(ConfigError, match="needs TLS certificates"):
            run_search({"x": {"type": "uniform", "low": 0, "high": 1}},
                       objective=obj.quadratic, store=str(tmp_path / "u.db"), n_trials=1,
                       scheduler=cl.scheduler_address, check_fields=False)
