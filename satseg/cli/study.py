"""``satseg study``: list, show, export, refine, combine and control stored studies.

::

    satseg study list
    satseg study show dstl                       # trials, best first; --trial N for one
    satseg study export dstl --out dstl.csv      # or .json (history, per-class, spaces)
    satseg study refine dstl --out refined.yaml  # advice; the refined space file
    satseg study pause|resume|stop dstl          # control a running search
                                                 # (stop ends an interrupted study at once)
    satseg study combine roads --out runs/roads  # best per-class models -> one-vs-all run
    satseg study import old --trials trials.pkl  # a pickled hyperopt Trials
    satseg study train-best dstl --minutes 10 --out runs/final   # the best trial, trained again
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from satseg.cli._store import default_store, store_help

#: Actions that only read the store: opened read-only (SQLite mode=ro), never written.
READ_ONLY = ("list", "show", "export", "refine", "train-best")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "show", "export", "refine", "pause",
                                           "resume", "stop", "combine", "import",
                                           "train-best"])
    parser.add_argument("name", nargs="?", help="study name (all but list)")
    parser.add_argument("--store", default=default_store(), help=store_help())
    parser.add_argument("--out", default=None, help="export file (.csv/.json), refined space "
                        "YAML, or the combined run folder")
    parser.add_argument("--trial", type=int, default=None, help="show one trial in full")
    parser.add_argument("--top", type=int, default=20, help="trials shown by show (20)")
    parser.add_argument("--retrain", action="store_true", help="combine: train each class's "
                        "best configuration again under one patch geometry")
    parser.add_argument("--epochs", type=int, default=None, help="combine --retrain: epochs")
    parser.add_argument("--minutes", type=float, default=None, help="train-best: minutes of "
                        "training (the learning rate decays to the deadline)")
    parser.add_argument("--no-tune", action="store_true", help="train-best: keep thresholds "
                        "0.5 (no post-processing tuned on validation)")
    parser.add_argument("--fit-on", default="train", choices=["train", "all"],
                        help="train-best: train on the study's training images, keeping the "
                        "best epoch on validation (train, default), or on every image, the "
                        "validation images included, keeping the last epoch (all; no tuning)")
    parser.add_argument("--trials", default=None, help="import: hyperopt Trials pickle (read "
                        "with an unpickler limited to hyperopt's, Python's and numpy's plain types)")
    parser.add_argument("--trust-pickle", action="store_true", help="import: read --trials with "
                        "Python's full unpickler, which RUNS ANY CODE the file holds; only for "
                        "files you made yourself")
    parser.add_argument("--overwrite", action="store_true", help="export, refine: replace an "
                        "existing --out file")
    parser.set_defaults(func=run)


def _need_name(args: argparse.Namespace) -> str:
    from satseg.errors import StoreError

    if not args.name:
        raise StoreError(f"`satseg study {args.action}` needs a study name; see "
                         "`satseg study list`")
    return args.name


def _readable(df):
    """Times as local 'YYYY-mm-dd HH:MM', durations in whole seconds, bookkeeping columns
    dropped and parameter names without their section, so a table fits a terminal."""
    import pandas as pd

    df = df.copy()
    # Columns of trials that have not finished hold None (object dtype): coerce, never crash.
    for col in ("created", "started", "finished"):
        if col in df:
            secs = pd.to_numeric(df[col], errors="coerce")
            df[col] = pd.to_datetime(secs, unit="s", utc=True).dt.tz_convert(None).dt.strftime(
                "%Y-%m-%d %H:%M").fillna("")
    for col in ("duration", "objective", "best"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    if "duration" in df:
        df["duration"] = df["duration"].round(0)
    df = df.drop(columns=[c for c in ("worker", "retries", "space_version", "finished") if c in df])
    df = df.drop(columns=[c for c in ("rung", "budget") if c in df and df[c].isna().all()])
    return df.rename(columns=lambda c: c.split(".", 1)[1] if "." in c else c)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from satseg.errors import StoreError
    from satseg.search import StudyStore

    trials = None
    if args.action == "import" and args.trials:  # a refused pickle must not create the store
        from satseg.search.transfer import load_trials_pickle

        trials = load_trials_pickle(args.trials, trust=args.trust_pickle)
    if args.action != "import" and not Path(args.store).is_file():
        raise StoreError(f"study store {args.store} does not exist; give --store")
    store = StudyStore(args.store, read_only=args.action in READ_ONLY)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 12)
    if args.action == "list":
        df = store.list_studies()
        print("no studies" if df.empty else _readable(df.drop(columns=["updated"])).to_string(index=False))
        return 0
    name = _need_name(args)
    if args.action == "show":
        if args.trial is not None:
            print(json.dumps(store.trial(name, args.trial), indent=2, default=str))
            return 0
        rec = store.study(name)
        df = store.trials(name)
        print(f"study {name}: {rec['state']}, {rec['direction']}, {len(df)} trial(s), space "
              f"version {store.space_version(name)}")
        if rec["state"] == "interrupted":
            print(f"its search is gone (killed or its machine lost); continue with: satseg search "
                  f"--study {name} --resume (same --store), or end it: satseg study stop {name}")
        if len(df):
            df = df.sort_values("objective", ascending=rec["direction"] == "minimize",
                                na_position="last")
            print(_readable(df.head(args.top)).to_string(index=False))
            print("(one trial in full: satseg study show NAME --trial ID; all: satseg study export)")
    elif args.action == "export":
        from satseg.search import export_study

        out = args.out or f"{name.replace('/', '_')}.csv"
        print(f"wrote {export_study(store, name, out, overwrite=args.overwrite)}")
    elif args.action == "refine":
        from satseg.search import refine_space

        rec = store.study(name)
        res = refine_space(store.space(name), store.trials(name), apply=True,
                           direction=rec["direction"],
                           check_fields=rec["settings"].get("check_fields", True))
        for s in res.suggestions:
            print(f"- {s['message']}")
        if not res.suggestions:
            print("no suggestion: the best trials sit inside the ranges (or too few trials)")
        out = args.out or f"{name.replace('/', '_')}-refined.yaml"
        from satseg.io.outputs import atomic_output

        # An existing file (a space the user edited) is refused without --overwrite; the new one
        # appears whole or not at all.
        with atomic_output(out, overwrite=args.overwrite) as tmp:
            tmp.write_text(res.space.to_yaml())
        print(f"wrote {out}; continue with: satseg search --study {name} --resume --space {out}")
    elif args.action in ("pause", "resume", "stop"):
        getattr(store, f"request_{args.action}")(name)
        print(f"study {name}: {store.study_state(name)}")
    elif args.action == "combine":
        from satseg.search import combine_per_class

        if not args.out:
            raise StoreError("`satseg study combine` needs --out RUN_FOLDER")
        out = combine_per_class(store, name, args.out, retrain=args.retrain, epochs=args.epochs,
                                progress=True)
        print(f"wrote one-vs-all run {out}")
    elif args.action == "import":
        from satseg.search import import_hyperopt_trials

        if not args.trials:
            raise StoreError("`satseg study import` needs --trials FILE.pkl")
        n = import_hyperopt_trials(store, name, args.trials, trust=args.trust_pickle,
                                   loaded=trials)
        print(f"imported {n} trial(s) into study {name}")
    elif args.action == "train-best":
        return _train_best(args, store, name)
    return 0


def _train_best(args: argparse.Namespace, store, name: str) -> int:
    """``satseg study train-best NAME --minutes N --out RUN [--trial ID]``."""
    from satseg.auto.final import train_best
    from satseg.errors import ConfigError, StoreError

    if not args.out or args.minutes is None:
        raise StoreError("`satseg study train-best` needs --minutes N and --out RUN_FOLDER")
    if args.minutes <= 0:
        raise ConfigError(f"--minutes {args.minutes:g}: give a positive number of minutes")
    res = train_best(store, name, args.out, args.minutes, trial_id=args.trial,
                     tune=not args.no_tune, progress=True, fit_on=args.fit_on)
    print(f"trial {res['trial_id']} trained {res['epochs']} epoch(s) into {res['run_dir']}: "
          f"validation Jaccard {res['val_jaccard']:.4f}"
          + (" (validation images trained on: a measure of fit)" if args.fit_on == "all"
             else ""))
    for cls, j in (res["per_class"] or {}).items():
        line = f"  {cls}: {j:.4f}"
        if res["postprocess"]:
            pp = res["postprocess"]
            line += (f", tuned {pp['tuned_jaccard'][cls]:.4f} (threshold "
                     f"{pp['thresholds'][cls]:.2f}, min area {pp['min_area'][cls]} px)")
        print(line)
    return 0
