"""Cheap picklable objectives for the ASHA and budget tests (imported by dask workers)."""

from __future__ import annotations

import json
import time
from pathlib import Path


def rungs(p, ctx):
    """A 'training' of ``ctx.budget`` epochs (0.05 s each) whose score rises with the epochs and
    is best at x = 0.3. It keeps its epoch counter in ``checkpoints/state.json`` of its run
    folder and, when promoted, continues from the shipped checkpoint (``fidelity['resume']``)."""
    run = Path(ctx.run_dir)
    start = 0
    bundle = ctx.fidelity.get("resume")
    if bundle is not None:
        start = json.loads(bundle.files["checkpoints/state.json"])["epoch"]
    history = [] if bundle is None else json.loads(bundle.files["history.json"])
    budget = int(ctx.budget or 3)
    quality = 1.0 - (p["x"] - 0.3) ** 2
    val = 0.0
    for e in range(start + 1, budget + 1):
        time.sleep(float(p.get("sleep", 0.05)))
        val = quality * (1 - 0.5 / e)
        row = {"epoch": e, "val_jaccard": val, "resumed_from": start}
        history.append(row)
        if ctx.report(row):
            break
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "checkpoints" / "state.json").write_text(json.dumps({"epoch": history[-1]["epoch"]}))
    (run / "history.json").write_text(json.dumps(history))
    return {"objective": max(r["val_jaccard"] for r in history), "history": history,
            "artifacts": {"run_dir": str(run)}, "ship_checkpoints": True}


def slow(p, ctx):
    """Runs ``p['sleep']`` seconds in 'epochs' of 0.2 s, reporting each; stops when asked and
    returns its best epoch so far."""
    best, e = None, 0
    t_end = time.monotonic() + float(p.get("sleep", 3.0))
    while time.monotonic() < t_end:
        time.sleep(0.2)
        e += 1
        best = p["x"] * min(1.0, e / 10)
        if ctx.report({"epoch": e, "val_jaccard": best}):
            break
    return {"objective": best} if best is not None else {"objective": None, "status": "fail"}
