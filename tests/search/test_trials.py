"""``hyperopt.fmin`` with DaskTrials on a real dask cluster; reproducible suggestions."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hyperopt import STATUS_OK, fmin, hp, tpe

from satseg.search import DaskTrials
from tests.search import objectives as obj

ROOT = Path(__file__).resolve().parents[2]


def test_fmin_runs_on_dask_and_records_failures(dask_address):
    from distributed import Client

    with Client(dask_address) as client:
        trials = DaskTrials(parallelism=2, client=client)
        best = fmin(obj.hyperopt_fn, hp.uniform("x", 0, 1), algo=tpe.suggest, max_evals=14,
                    trials=trials, rstate=np.random.default_rng(3), show_progressbar=False)
    docs = trials._dynamic_trials
    assert len(docs) == 14
    failed = [d for d in docs if d["state"] == 3]
    ok = [d for d in docs if d["state"] == 2]
    assert len(failed) + len(ok) == 14
    assert all(d["misc"]["vals"]["x"][0] > 0.9 for d in failed)
    assert all(d["misc"]["error"][0] == "ValueError" for d in failed)
    assert all(d["result"]["status"] == STATUS_OK for d in ok)
    assert 0 <= best["x"] <= 0.9
    assert trials.best_trial["result"]["loss"] == min(d["result"]["loss"] for d in ok)


def test_fmin_trial_timeout_and_early_stop(dask_address):
    from distributed import Client
    from hyperopt.early_stop import no_progress_loss

    space = {"x": hp.uniform("x", 0, 1), "sleep": 3.0}
    with Client(dask_address) as client:
        trials = DaskTrials(parallelism=2, client=client, trial_timeout=0.5)
        fmin(obj.stubborn, space, algo=tpe.suggest, max_evals=2, trials=trials,
             show_progressbar=False, return_argmin=False)
    assert [d["misc"]["error"][0] for d in trials._dynamic_trials] == ["timeout", "timeout"]
    with Client(dask_address) as client:
        trials = DaskTrials(parallelism=1, client=client)
        fmin(lambda p: 1.0, hp.uniform("x", 0, 1), algo=tpe.suggest, max_evals=50,
             trials=trials, early_stop_fn=no_progress_loss(3), show_progressbar=False)
    assert len(trials.trials) < 10


SCRIPT = textwrap.dedent("""
    import json, sys
    from satseg.search import run_search, StudyStore
    from tests.search import objectives as obj
    space = {"x": {"type": "uniform", "low": 0, "high": 1},
             "c": {"type": "choice", "options": ["a", "b", "c"]}}
    run_search(space, objective=obj.quadratic, study="d", store=sys.argv[1], n_trials=9,
               parallelism=1, scheduler=sys.argv[2], seed=int(sys.argv[3]), startup_trials=3,
               check_fields=False)
    df = StudyStore(sys.argv[1]).trials("d")
    print(json.dumps(df[["x", "c"]].values.tolist()))
""")


@pytest.mark.slow
def test_same_seed_same_trial_sequence_in_separate_processes(tmp_path, dask_address):
    def run(name, seed):
        out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / name), dask_address,
                              str(seed)], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    a, b, c = run("a.db", 7), run("b.db", 7), run("c.db", 8)
    assert a == b and len(a) == 9
    assert a != c
