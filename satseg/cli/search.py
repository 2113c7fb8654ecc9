"""``satseg search``: Hyperopt search of model and training settings on dask.

::

    satseg search --trials 20                                  # sample data, default space
    satseg search --data /data/dstl --space space.yaml --study dstl --trials 200 --parallel 8 \
        --scheduler tcp://head:8786                            # workers on many machines
    satseg search --study dstl --resume --trials 300           # after a crash, or to go on
    satseg search --study roads --per-class --trials 30        # one study per class
    satseg search --study dstl --resume --space refined.yaml   # continue in a refined space
    satseg search --fidelity asha --budget 30m                 # successive halving, 30 min
"""

from __future__ import annotations

import argparse

from satseg.cli._store import default_store, store_help


def _ids(text: str | None) -> tuple[str, ...] | None:
    return tuple(i for i in text.split(",") if i) if text else None


def register(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--data", default="sample", help="data set folder, or 'sample' (default)")
    a("--space", default=None, help="search space YAML, or a bundled space: 'default' (the "
      "whole U-Net family, ~1 min a trial on 2 CPU cores) or 'quick' (small nets, ~20 s a "
      "trial). Default: 'default'; on --resume: the study's latest space, or a new version "
      "if given")
    a("--store", default=default_store(), help=store_help())
    a("--study", default="study", help="study name (default 'study')")
    a("--trials", type=int, default=None, help="finished trials the study should reach "
      "(default 20; with --budget: as many as the budget allows)")
    a("--fidelity", default="none", choices=["none", "asha"], help="'asha': successive halving "
      "(rungs of 1, 3, 9 epochs; the best third of a rung continue from their checkpoint); "
      "'none' (default): every trial trains its whole configuration")
    a("--budget", default=None, help="wall-clock budget of the whole search: 90s, 30m, 2h, "
      "1h30m; no trial starts that cannot finish in time, running trials stop at the "
      "deadline and keep their best epoch")
    a("--eta", type=int, default=3, help="ASHA: keep the best 1/eta of a rung, eta x the "
      "epochs on the next (3)")
    a("--min-epochs", type=float, default=1.0, help="ASHA: epochs of the first rung (1)")
    a("--max-epochs", type=float, default=9.0, help="ASHA: epochs of the top rung at most (9)")
    a("--parallel", type=int, default=1, help="trials at once, one per dask worker (1)")
    a("--scheduler", default=None, help="dask scheduler address tcp://HOST:PORT or "
      "tls://HOST:PORT (default: $DASK_SCHEDULER_ADDRESS, else a local cluster)")
    a("--tls-ca", default=None, help="CA certificate for a tls:// scheduler")
    a("--tls-cert", default=None, help="client certificate for a tls:// scheduler")
    a("--tls-key", default=None, help="client key for a tls:// scheduler")
    a("--per-class", action="store_true", help="one study per class, named STUDY/<class>")
    a("--classes", default=None, help="comma-separated classes to search (default: all)")
    a("--resume", action="store_true", help="continue an existing study, also one whose search "
      "was killed (`interrupted`) or stopped (nothing is lost: its finished trials inform TPE)")
    a("--timeout", type=float, default=None, help="time limit per trial in seconds")
    a("--algo", default="tpe", choices=["tpe", "random", "atpe"], help="search algorithm")
    a("--startup", type=int, default=5, help="random trials before TPE (5)")
    a("--seed", type=int, default=0, help="study seed (same seed, same suggestions)")
    a("--early-stop", type=int, default=None, metavar="K",
      help="end the study after K finished trials without improvement")
    a("--prune", action="store_true", help="stop hopeless trials (median rule per epoch)")
    a("--retries", type=int, default=1, help="re-runs of a trial whose worker died (1)")
    a("--val-ids", default=None, help="comma-separated validation images (default: chosen "
      "once per study)")
    a("--exclude-ids", default=None, help="comma-separated images the search never loads "
      "(a held-out test set)")
    a("--runs-dir", default=None, help="where trial run folders are written, on the driver: a "
      "folder or an fsspec URL (s3://...); default STORE_STEM.runs/ beside the store")
    a("--keep-runs", default="all", choices=["all", "best"], help="keep every trial's run "
      "folder, or the best only (with --fidelity asha: once the study has finished)")
    a("--trial-threads", type=int, default=None, help="CPU threads per trial (default: all)")
    a("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from satseg.cli._logs import quiet_search_loggers
    from satseg.search import SearchSettings, run_search
    from satseg.search.onevsall import run_per_class

    quiet_search_loggers()
    tls = None
    if args.tls_ca or args.tls_cert or args.tls_key:
        tls = {"ca": args.tls_ca, "cert": args.tls_cert, "key": args.tls_key}
    from satseg.search.budget import parse_duration

    budget = parse_duration(args.budget) if args.budget is not None else None
    n_trials = args.trials if args.trials is not None else (20 if budget is None else 100000)
    s = SearchSettings(
        study=args.study, store=args.store, space=args.space, data=args.data,
        fidelity=args.fidelity, budget=budget, eta=args.eta, min_budget=args.min_epochs,
        max_budget=args.max_epochs, n_trials=n_trials, parallelism=args.parallel,
        scheduler=args.scheduler, tls=tls,
        algo=args.algo, startup_trials=args.startup, seed=args.seed, time_limit=args.timeout,
        retries=args.retries, early_stop=args.early_stop, prune=args.prune,
        classes=_ids(args.classes), val_ids=_ids(args.val_ids),
        exclude_ids=_ids(args.exclude_ids) or (), runs_dir=args.runs_dir,
        keep_runs=args.keep_runs, trial_threads=args.trial_threads, resume=args.resume)
    progress = not args.no_progress
    results = (run_per_class(s, progress=progress) if args.per_class
               else {None: run_search(s, progress=progress)})
    for res in results.values():
        best = res.best
        ended = ""
        if res.state == "finished" and budget is not None:
            from satseg.search import StudyStore

            rec = StudyStore(res.store, read_only=True).study(res.study)
            ended = " (budget spent)" if rec["settings"].get("ended_by") == "budget" else ""
        line = (f"study {res.study}: {res.state}{ended}; {res.n_ok} ok, {res.n_failed} failed, "
                f"{res.n_pruned} pruned")
        if best is not None:
            line += f"; best trial {best['trial_id']}: {best['objective']:.4f}"
            if best["artifacts"].get("run_dir"):
                line += f" ({best['artifacts']['run_dir']})"
        print(line)
    return 0
