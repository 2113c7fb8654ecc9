"""Moving studies in and out of the store: CSV/JSON export, hyperopt Trials pickle import."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path
from typing import Any

from satseg.errors import StoreError
from satseg.search.store import StudyStore, _json

log = logging.getLogger("satseg.search.transfer")


def export_study(store: StudyStore, study: str, path: str | Path) -> Path:
    """Write a study to ``path``: ``.csv`` (one row per trial, a column per parameter) or
    ``.json`` (the study record, every space version, every trial with history, per-class
    Jaccard and artifacts)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        store.trials(study).to_csv(path, index=False)
    elif path.suffix.lower() == ".json":
        rec = store.study(study)
        spaces = [{"version": v, "space": store.space_yaml(study, v)}
                  for v in range(1, store.space_version(study) + 1)]
        trials = [store.trial(study, r["trial_id"]) for r in store.trial_rows(study)]
        path.write_text(_json({"study": rec, "spaces": spaces, "trials": trials}) + "\n")
    else:
        raise StoreError(f"export file {path} must end in .csv or .json")
    return path


def _flat_spec(misc: dict[str, Any]) -> dict[str, Any]:
    return {k: v[0] for k, v in misc.get("vals", {}).items() if v}


def import_hyperopt_trials(store: StudyStore, study: str, path: str | Path, *,
                           space: Any = None, direction: str = "minimize") -> int:
    """Import a pickled ``hyperopt.Trials`` (e.g. ``fmin(..., trials_save_file=...)``) as a
    study. hyperopt's ``vals`` are stored as the parameters (choice *indices*, as hyperopt
    keeps them, unless ``space`` is given: then they are decoded with it); ``loss`` becomes the
    objective (``direction`` minimize, as in hyperopt). Returns the number of trials imported.

    Only import pickles you trust: unpickling runs code."""
    from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR, STATUS_OK

    path = Path(path)
    if not path.is_file():
        raise StoreError(f"hyperopt trials pickle {path} does not exist")
    try:
        with path.open("rb") as fh:
            trials = pickle.load(fh)  # noqa: S301 - documented: trusted files only
    except Exception as exc:  # noqa: BLE001
        raise StoreError(f"{path} is not a readable hyperopt Trials pickle: {exc}") from exc
    docs = getattr(trials, "_dynamic_trials", None) or getattr(trials, "trials", None)
    if docs is None:
        raise StoreError(f"{path} holds a {type(trials).__name__}, not a hyperopt Trials")
    sp = None
    if space is not None:
        from satseg.search.space import load_space

        sp = load_space(space, check_fields=False)
    if not store.has_study(study):
        store.create_study(study, sp if sp is not None else {"params": {"imported": True}},
                           direction=direction, settings={"check_fields": False,
                                                          "imported_from": str(path)})
    n = 0
    for doc in docs:
        tid = int(doc["tid"])
        vals = {k: list(v) for k, v in doc["misc"].get("vals", {}).items()}
        params = sp.params_from_vals(vals) if sp is not None else _flat_spec(doc["misc"])
        res = doc.get("result") or {}
        ok = doc.get("state") == JOB_STATE_DONE and res.get("status") == STATUS_OK
        status = "ok" if ok else ("fail" if doc.get("state") in (JOB_STATE_DONE, JOB_STATE_ERROR)
                                  else "lost")
        store.add_trial(study, tid, params, vals=vals, space_version=1, status=status)
        err = doc["misc"].get("error")
        book, refresh = doc.get("book_time"), doc.get("refresh_time")
        started = book.timestamp() if hasattr(book, "timestamp") else None
        finished = refresh.timestamp() if hasattr(refresh, "timestamp") else None
        store.finish_trial(study, tid, status=status,
                           objective=res.get("loss") if ok else None,
                           error=json.dumps(list(err)) if err else None, started=started,
                           finished=finished,
                           duration=(finished - started) if started and finished else None)
        n += 1
    log.info("imported %d trial(s) from %s into study %s", n, path, study)
    return n
