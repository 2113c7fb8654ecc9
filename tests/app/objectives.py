"""Plain picklable objectives for the dashboard's search tests (imported by dask workers).

They take the flat parameters of the bundled 'quick' space, so the Hyperspace tab validates the
space as it does for a real search, and train nothing.
"""

from __future__ import annotations

import time


def sleepy(p, ctx):
    """Sleeps ``SLEEP_S`` in small steps (stopping when asked); the objective is the dropout."""
    t_end = time.monotonic() + SLEEP_S
    while time.monotonic() < t_end:
        if ctx.should_stop():
            break
        time.sleep(0.05)
    x = float(p["model.dropout"])
    return {"objective": x, "per_class": {"Building": x, "Road": 1 - x}}


SLEEP_S = 0.6
