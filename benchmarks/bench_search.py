"""Search benchmarks: scheduling overhead, parallel speed-up, TPE against random on real data.

In one run:

1. Overhead per trial: ``run_search`` with a fixed-time objective (``--sleep`` s, default 1.5)
   on one dask worker. Overhead per trial = (time from the first trial's start to the last
   trial's end - n * sleep) / n, i.e. the driver's ask (TPE), store writes, submission and
   result round trip between consecutive trials. Target: under 2% of a 10 s trial (0.2 s).
   Also shown: the same for ``hyperopt.fmin`` with ``DaskTrials``, and the study's fixed start
   cost (store, study creation, connecting; the cluster itself is started beforehand).
2. Speed-up with 2 workers on a single-threaded CPU-bound objective (a pure-Python loop of
   about ``--cpu`` s) against sequential ``hyperopt.fmin`` with plain ``Trials`` in this
   process, same number of trials, best of 2 alternating rounds each. Target: at least 1.8x
   (needs 2 free cores; the load average is printed, as other jobs on a shared machine take
   cores away; "worker-busy time / wall" shows what the scheduling achieves regardless).
3. Real data (bundled sample): best validation Jaccard after the same small budget of trials
   (``--real-trials`` each, default 6) for TPE (3 random start-up trials) and random search,
   same seed, with a short-trial version of the default space (1 epoch of 15 steps). With so
   few trials this is a smoke comparison, not a statistically meaningful one: it is reported,
   not judged.
4. Shipping a trial's run folder to the driver (workers share no disk with it): trials of
   ``--ship-sleep`` s (default 10) that leave a model.keras of each ``--ship-mb`` size (default 8
   and 32 MB: the shipped demo model is 8 MB) on one worker process; pack + dask transfer +
   driver write (``satseg.search.artifacts.ship_report``) relative to the trial. Target: < 2%.

Usage: ``python benchmarks/bench_search.py [--trials 12] [--sleep 1.5] [--cpu 1.0]
[--real-trials 6] [--skip-real] [--ship-mb 8,32] [--ship-sleep 10]``
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import _search_objectives as objs  # noqa: E402


def overhead(address: str, tmp: Path, n: int, sleep: float) -> dict[str, float]:
    import numpy as np
    from hyperopt import fmin, hp, tpe

    from satseg.search import DaskTrials, StudyStore, run_search

    space = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}, "sleep": sleep}}
    t0 = time.perf_counter()
    run_search(space, objective=objs.sleep_for, study="overhead", store=str(tmp / "o.db"),
               n_trials=n, parallelism=1, scheduler=address, check_fields=False)
    wall = time.perf_counter() - t0
    rows = StudyStore(tmp / "o.db").trial_rows("overhead")
    span = max(r["finished"] for r in rows) - min(r["started"] for r in rows)
    per_trial = (span - n * sleep) / n
    fixed = wall - span
    from distributed import Client

    with Client(address) as client:
        trials = DaskTrials(parallelism=1, client=client)
        t0 = time.perf_counter()
        fmin(objs.sleep_hyperopt, {"x": hp.uniform("x", 0, 1), "sleep": sleep},
             algo=tpe.suggest, max_evals=n, trials=trials, show_progressbar=False,
             rstate=np.random.default_rng(0))
        wall_dt = time.perf_counter() - t0
    return {"per_trial": per_trial, "fixed": fixed, "wall": wall,
            "daskt_per_trial": (wall_dt - n * sleep) / n}


def speedup(address: str, tmp: Path, n: int, loops: int, rounds: int = 2) -> dict[str, float]:
    """Sequential fmin and run_search on 2 workers in alternating rounds; best of each (the
    machine is shared: other jobs' load changes between rounds)."""
    import numpy as np
    from distributed import Client
    from hyperopt import Trials, fmin, hp, tpe

    from satseg.search import DaskTrials, StudyStore, run_search

    space = {"x": hp.uniform("x", 0, 1), "loops": loops}
    seqs, pars, spans, durs = [], [], [], []
    for k in range(rounds):
        t0 = time.perf_counter()
        fmin(objs.cpu_hyperopt, space, algo=tpe.suggest, max_evals=n, trials=Trials(),
             show_progressbar=False, rstate=np.random.default_rng(0))
        seqs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_search({"params": {"x": {"type": "uniform", "low": 0, "high": 1}, "loops": loops}},
                   objective=objs.cpu_work, study=f"speedup-{k}", store=str(tmp / "s.db"),
                   n_trials=n, parallelism=2, scheduler=address, check_fields=False)
        pars.append(time.perf_counter() - t0)
        rows = StudyStore(tmp / "s.db").trial_rows(f"speedup-{k}")
        spans.append(max(r["finished"] for r in rows) - min(r["started"] for r in rows))
        durs.append(sum(r["duration"] for r in rows) / len(rows))
    best = int(np.argmin(pars))
    times = []
    with Client(address) as client:
        for _ in range(2):  # cold (workers import hyperopt for the Domain), then warm
            t0 = time.perf_counter()
            fmin(objs.cpu_hyperopt, space, algo=tpe.suggest, max_evals=n,
                 trials=DaskTrials(parallelism=2, client=client), show_progressbar=False,
                 rstate=np.random.default_rng(0))
            times.append(time.perf_counter() - t0)
    return {"sequential": min(seqs), "run_search": pars[best], "dasktrials": times[0],
            "dasktrials_warm": times[1], "span": spans[best], "mean_duration": durs[best],
            "rounds": rounds}


def real(tmp: Path, n: int) -> dict[str, dict]:
    from satseg.search import SearchSettings, load_space, run_search

    doc = load_space(None).to_dict()
    doc["params"].update({"training.epochs": 1, "training.steps_per_epoch": 15})
    out = {}
    for algo in ("tpe", "random"):
        s = SearchSettings(space=doc, study=f"real-{algo}", store=str(tmp / "r.db"),
                           n_trials=n, parallelism=1, algo=algo, startup_trials=3, seed=0,
                           keep_runs="best", runs_dir=str(tmp / "runs"))
        t0 = time.perf_counter()
        res = run_search(s)
        out[algo] = {"best": res.best_objective, "ok": res.n_ok, "failed": res.n_failed,
                     "minutes": (time.perf_counter() - t0) / 60}
    return out


def ship(address: str, tmp: Path, sizes: list[float], sleep: float) -> list[dict]:
    """Part 4: one trial per size; the rows of ``ship_report`` (see the module doc)."""
    from satseg.search import run_search
    from satseg.search.artifacts import ship_report

    rows = []
    for k, mb in enumerate(sizes):
        space = {"params": {"x": {"type": "uniform", "low": 0, "high": 1}, "sleep": sleep,
                            "mb": mb}}
        study = f"ship-{k}-{mb:g}"
        run_search(space=space, study=study, store=str(tmp / "ship.db"), scheduler=address,
                   objective=objs.run_folder, n_trials=1, check_fields=False)
        rows += [{**r, "mb": mb} for r in ship_report(str(tmp / "ship.db"), study)]
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--sleep", type=float, default=1.5)
    ap.add_argument("--cpu", type=float, default=1.0, help="seconds of the CPU objective")
    ap.add_argument("--real-trials", type=int, default=6)
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--ship-mb", default="8,32", help="model sizes of part 4 (MB)")
    ap.add_argument("--ship-sleep", type=float, default=10.0, help="trial length of part 4 (s)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from distributed import LocalCluster

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    loops = objs.calibrate(args.cpu)
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    ok = True
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as one:
        o = overhead(one.scheduler_address, tmp, args.trials, args.sleep)
    pct = 100 * o["per_trial"] / 10.0
    good = o["per_trial"] < 0.2
    ok &= good
    print(f"(1) overhead per trial (run_search, {args.trials} x {args.sleep:g} s, 1 worker): "
          f"{o['per_trial'] * 1000:.0f} ms = {pct:.2f}% of a 10 s trial "
          f"[{'PASS' if good else 'FAIL'}: target < 2%]")
    print(f"    DaskTrials + fmin: {o['daskt_per_trial'] * 1000:.0f} ms per trial "
          f"(includes its start-up); study start cost {o['fixed']:.2f} s once")
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as two:
        sp = speedup(two.scheduler_address, tmp, args.trials, loops)
    x_rs, x_dt = sp["sequential"] / sp["run_search"], sp["sequential"] / sp["dasktrials"]
    good = x_rs >= 1.8
    ok &= good
    print(f"(2) {args.trials} CPU-bound trials of ~{args.cpu:g} s, best of {sp['rounds']} "
          "alternating rounds: sequential fmin "
          f"{sp['sequential']:.2f} s; run_search on 2 workers {sp['run_search']:.2f} s = "
          f"{x_rs:.2f}x [{'PASS' if good else 'FAIL'}: target >= 1.8x]")
    print(f"    DaskTrials + fmin on 2 workers: {sp['dasktrials']:.2f} s = {x_dt:.2f}x on fresh "
          f"workers (they import hyperopt first), {sp['dasktrials_warm']:.2f} s = "
          f"{sp['sequential'] / sp['dasktrials_warm']:.2f}x warm")
    busy = sp["mean_duration"] * args.trials
    print(f"    run_search: first start to last end {sp['span']:.2f} s; mean trial "
          f"{sp['mean_duration']:.2f} s on a worker vs {sp['sequential'] / args.trials:.2f} s "
          f"sequential (CPU contention: 2 workers + driver + other jobs on 2 cores); "
          f"worker-busy time / wall = {busy / sp['run_search']:.2f}x; load average after: "
          f"{os.getloadavg()[0]:.2f}")
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as one:
        rows = ship(one.scheduler_address, tmp, [float(x) for x in args.ship_mb.split(",")],
                    args.ship_sleep)
    for r in rows:
        good = r["ratio"] < 0.02
        ok &= good
        print(f"(4) run folder of {r['bytes'] / 1e6:.1f} MB shipped in {r['ship_s']:.3f} s "
              f"(pack {r['pack_s']:.3f}, dask + poll {r['transfer_s']:.3f}, write "
              f"{r['write_s']:.3f}) = {100 * r['ratio']:.2f}% of a {r['duration']:.1f} s trial "
              f"[{'PASS' if good else 'FAIL'}: target < 2%]")
    if not args.skip_real:
        r = real(tmp, args.real_trials)
        for algo, v in r.items():
            best = "none" if v["best"] is None else f"{v['best']:.4f}"
            print(f"(3) {algo:6s}: best validation Jaccard {best} after {args.real_trials} "
                  f"trials ({v['ok']} ok, {v['failed']} failed) in {v['minutes']:.1f} min")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
