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


def export_study(store: StudyStore, study: str, path: str | Path, *,
                 overwrite: bool = False) -> Path:
    """Write a study to ``path``: ``.csv`` (one row per trial, a column per parameter) or
    ``.json`` (the study record, every space version, every trial with history, per-class
    Jaccard and artifacts). An existing ``path`` is refused unless ``overwrite``; the file
    is written under a temporary name and renamed into place when complete."""
    from satseg.io.outputs import atomic_output, refuse_existing

    path = Path(path)
    if path.suffix.lower() not in (".csv", ".json"):
        raise StoreError(f"export file {path} must end in .csv or .json")
    refuse_existing(path, overwrite)  # before reading the store: a quick, clear refusal
    if path.suffix.lower() == ".csv":
        table = store.trials(study)
        with atomic_output(path, overwrite=overwrite) as tmp:
            table.to_csv(tmp, index=False)
    else:
        rec = store.study(study)
        spaces = [{"version": v, "space": store.space_yaml(study, v)}
                  for v in range(1, store.space_version(study) + 1)]
        trials = [store.trial(study, r["trial_id"]) for r in store.trial_rows(study)]
        text = _json({"study": rec, "spaces": spaces, "trials": trials}) + "\n"
        with atomic_output(path, overwrite=overwrite) as tmp:
            tmp.write_text(text)
    return path


def _flat_spec(misc: dict[str, Any]) -> dict[str, Any]:
    return {k: v[0] for k, v in misc.get("vals", {}).items() if v}


# What a hyperopt ``Trials`` pickle needs (protocols 0 to 5, numpy 1 and 2): the Trials class,
# plain containers, datetimes and numpy scalars/arrays. Nothing here calls arbitrary code.
_ALLOWED_GLOBALS = frozenset({
    ("hyperopt.base", "Trials"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "object"),
    ("builtins", "complex"), ("builtins", "bytearray"), ("builtins", "slice"),
    ("copyreg", "_reconstructor"),  # protocol 0/1: object.__new__ of an allowed class
    ("_codecs", "encode"),  # protocol 2 bytes
    ("collections", "OrderedDict"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"),
    ("numpy", "dtype"), ("numpy", "ndarray"),
    *((f"numpy.{core}.multiarray", n) for core in ("core", "_core") for n in ("scalar",
                                                                                "_reconstruct")),
    *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
})
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _Refused(pickle.UnpicklingError):
    """A global outside :data:`_ALLOWED_GLOBALS` (its ``module.name`` is the message)."""


class _TrialsUnpickler(pickle.Unpickler):
    """Loads only :data:`_ALLOWED_GLOBALS`; anything else (``os.system``, ``eval``, a class
    with a ``__reduce__`` payload) raises ``pickle.UnpicklingError`` before it is called."""

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        if (module, name) not in _ALLOWED_GLOBALS:
            raise _Refused(f"{module}.{name}")
        return super().find_class(module, name)


def load_trials_pickle(path: str | Path, *, trust: bool = False) -> Any:
    """The object in a hyperopt Trials pickle.

    By default the pickle is read with an unpickler restricted to hyperopt's ``Trials``, Python's
    plain types, datetimes and numpy scalars and arrays, so a crafted file cannot run code; a
    pickle that needs anything else raises :class:`StoreError` naming it. ``trust=True``
    (``--trust-pickle``) uses the plain unpickler, which **runs whatever code the file holds**:
    only for files you made yourself."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"hyperopt trials pickle {path} does not exist; check --trials")
    try:
        with path.open("rb") as fh:
            if trust:
                return pickle.load(fh)  # noqa: S301 - the user vouched for the file
            return _TrialsUnpickler(fh).load()
    except _Refused as exc:
        raise StoreError(
            f"{path} wants to load {exc}, which is not a plain hyperopt/Python/numpy type; "
            "satseg refuses it because unpickling can run code. If you wrote this file "
            "yourself, pass --trust-pickle"
        ) from None
    except Exception as exc:  # noqa: BLE001 - truncated or foreign bytes raise many types
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise StoreError(
            f"{path} is not a readable hyperopt Trials pickle ({detail}); export it again with "
            "pickle.dump(trials, f)"
        ) from None


def import_hyperopt_trials(store: StudyStore, study: str, path: str | Path, *,
                           space: Any = None, direction: str = "minimize",
                           trust: bool = False, loaded: Any = None) -> int:
    """Import a pickled ``hyperopt.Trials`` (e.g. ``fmin(..., trials_save_file=...)``) as a
    study. hyperopt's ``vals`` are stored as the parameters (choice *indices*, as hyperopt
    keeps them, unless ``space`` is given: then they are decoded with it); ``loss`` becomes the
    objective (``direction`` minimize, as in hyperopt). Returns the number of trials imported.

    The pickle is read by :func:`load_trials_pickle`: restricted to plain types unless
    ``trust`` (which runs any code the file holds); ``loaded`` is its already loaded object."""
    from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR, STATUS_OK

    path = Path(path)
    trials = loaded if loaded is not None else load_trials_pickle(path, trust=trust)
    docs = getattr(trials, "_dynamic_trials", None) or getattr(trials, "trials", None)
    if not isinstance(docs, list) or not all(
        isinstance(d, dict) and isinstance(d.get("misc"), dict) and "tid" in d for d in docs
    ):
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
