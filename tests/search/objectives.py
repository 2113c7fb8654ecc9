"""Plain picklable objectives for the search tests (imported by dask workers)."""

from __future__ import annotations

import os
import time


def quadratic(p):
    """Maximised at x = 0.3 (objective 0)."""
    return -((p["x"] - 0.3) ** 2)


def failing(p):
    if p["x"] > 0.5:
        raise ValueError(f"x={p['x']:.3f} is too large")
    return p["x"]


def epochs(p, ctx):
    """Three 'epochs' whose value is x; stops when the driver asks."""
    for e in range(1, 4):
        time.sleep(float(p.get("sleep", 0.2)))
        if ctx.report({"epoch": e, "val_jaccard": p["x"] * e / 3}):
            break
    return p["x"]


def sleeper(p, ctx):
    """Sleeps ``p['sleep']`` seconds in small steps, stopping when asked."""
    t_end = time.monotonic() + float(p.get("sleep", 1.0))
    while time.monotonic() < t_end:
        if ctx.should_stop():
            break
        time.sleep(0.05)
    return {"objective": p["x"], "per_class": {"a": p["x"], "b": 1 - p["x"]},
            "artifacts": {"pid": str(os.getpid())}}


def stubborn(p):
    """Ignores every stop request."""
    time.sleep(float(p.get("sleep", 5.0)))
    return p["x"]


def hyperopt_fn(x):
    """A hyperopt objective (minimised); fails above 0.9."""
    if x > 0.9:
        raise ValueError("x above 0.9")
    return (x - 0.3) ** 2
