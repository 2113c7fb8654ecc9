"""Objectives of bench_search.py (a module of their own so dask workers can import them)."""

from __future__ import annotations

import time


def sleep_for(p):
    time.sleep(float(p["sleep"]))
    return p["x"]


def sleep_hyperopt(p):
    time.sleep(float(p["sleep"]))
    return (p["x"] - 0.3) ** 2


def _loop(n: int) -> float:
    acc = 0.0
    for i in range(n):
        acc += (i % 7) * 0.5
    return acc


def cpu_work(p):
    """A single-threaded CPU-bound objective (pure Python: holds one core)."""
    _loop(int(p["loops"]))
    return -((p["x"] - 0.3) ** 2)


def cpu_hyperopt(p):
    _loop(int(p["loops"]))
    return (p["x"] - 0.3) ** 2


def calibrate(seconds: float) -> int:
    """Loop count that takes about ``seconds`` on this machine."""
    n = 200_000
    t0 = time.perf_counter()
    _loop(n)
    dt = time.perf_counter() - t0
    return max(1, int(n * seconds / max(dt, 1e-6)))


def run_folder(p, ctx):
    """Sleeps ``p['sleep']`` s, then leaves a run folder with a ``p['mb']`` MB model.keras in
    its private ``ctx.run_dir`` (shipped to the driver like a trained trial's)."""
    import json
    import os
    from pathlib import Path

    time.sleep(float(p["sleep"]))
    run = Path(ctx.run_dir)
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(os.urandom(int(float(p["mb"]) * 1e6)))
    (run / "meta.json").write_text(json.dumps({"x": p["x"]}))
    return {"objective": p["x"], "artifacts": {"run_dir": str(run)}}
