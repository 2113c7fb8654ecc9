"""The selected study store and study, polled for new trials (read-only here).

Reads go through ``satseg.search.StudyStore`` (SQLite in WAL mode, safe to read while a search
writes). ``version`` increases whenever the trials of the selected study change, so views redraw
only then.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import param

from app.jobs import readable_error

log = logging.getLogger("satseg.app.studies")

META_COLUMNS = {
    "trial_id", "study", "status", "objective", "duration", "error", "started", "finished",
    "created", "updated", "worker", "retries", "tid", "loss", "best", "artifacts", "history",
    "per_class", "space_version", "space", "seed", "class", "classes",
    "rung", "budget",  # multi-fidelity bookkeeping (satseg.search.asha), not parameters
}


def study_column(df: pd.DataFrame) -> str | None:
    """The column of ``list_studies()`` that names the studies."""
    for col in ("study", "name", "study_name", "id"):
        if col in df.columns:
            return col
    return df.columns[0] if len(df.columns) else None


def param_columns(df: pd.DataFrame) -> list[str]:
    """The hyper-parameter columns of a trials table (everything that is not bookkeeping)."""
    return [c for c in df.columns if c not in META_COLUMNS and not str(c).startswith("_")]


def searched_params(store, study: str) -> list[str]:
    """Parameters searched (not fixed) in any space version of a study, in space order; []
    when the store cannot say."""
    out: dict[str, None] = {}
    try:
        for version in range(1, store.space_version(study) + 1):
            out.update(dict.fromkeys(store.space(study, version).params))
    except Exception:  # noqa: BLE001 - an older store or a foreign space: no filter
        log.debug("no search space for study %s", study, exc_info=True)
        return []
    return list(out)


def log_params(store, study: str) -> set[str]:
    """Parameters drawn on a log scale (``loguniform``, ``qloguniform``) in any space version of
    a study: the Trials tab draws only those on log axes."""
    out: set[str] = set()
    try:
        for version in range(1, store.space_version(study) + 1):
            out |= {n for n, p in store.space(study, version).params.items() if "log" in p.type}
    except Exception:  # noqa: BLE001 - an older store or a foreign space: linear axes
        log.debug("no search space for study %s", study, exc_info=True)
    return out


def open_store(path: str):
    """A ``StudyStore`` on ``path`` (created if missing)."""
    from satseg.search import StudyStore

    return StudyStore(path)


class StudyState(param.Parameterized):
    """Selected store and study, and the study's trials table."""

    store: Any = param.Selector(objects=[], doc="study store (found under the server's --store paths)")
    study: Any = param.Selector(objects=[], doc="study of the selected store")
    version = param.Integer(default=0, doc="bumped when the selected study's trials change")
    studies_version = param.Integer(default=0, doc="bumped when the list of studies changes")
    error = param.String(default="", doc="last error reading the store")
    models_version = param.Integer(default=0, doc="bumped when a model is offered (models)")

    def __init__(self, store_paths: dict[str, str], **params):
        self.store_paths = dict(store_paths)
        #: trained models beside the studies' trials, as trial records (``StudyStore.trial``
        #: keys): the final models of ``satseg auto`` runs; shown in the Results tab
        self.models: dict[str, dict] = {}
        self._stores: dict[str, object] = {}
        self.trials = pd.DataFrame()
        self.searched: list[str] = []  # parameters the study's spaces search (not fixed ones)
        self.log_params: set[str] = set()  # searched on a log scale (log axes in the plots)
        self.studies = pd.DataFrame()
        self._digest = ""
        super().__init__(**params)
        self.param.store.objects = list(self.store_paths)
        if self.store_paths:
            self.store = next(iter(self.store_paths))

    def add_store(self, label: str, path: str) -> None:
        """Offer one more store in the store select (e.g. a ``satseg auto`` run's search)."""
        if self.store_paths.get(label) == path:
            return
        self.store_paths[label] = path
        self._stores.pop(label, None)
        self.param.store.objects = list(self.store_paths)
        if self.store is None:
            self.store = label

    def offer_model(self, label: str, info: dict) -> None:
        """Offer one more trained model (a trial record) under ``label``."""
        if self.models.get(label) == info:
            return
        self.models[label] = info
        self.models_version += 1

    # ----------------------------------------------------------------- access
    def store_obj(self, label: str | None = None):
        """The opened ``StudyStore`` of ``label`` (default: the selected one), or None."""
        label = label or self.store
        if label is None:
            return None
        if label not in self._stores:
            path = self.store_paths[label]
            if not Path(path).exists():
                return None  # not created yet: a search launched from the page creates it
            self._stores[label] = open_store(path)
        return self._stores[label]

    def ensure_store(self):
        """The selected store, created on disk if it does not exist yet."""
        if self.store not in self._stores:
            self._stores[self.store] = open_store(self.store_paths[self.store])
        return self._stores[self.store]

    def trial(self, trial_id) -> dict:
        """``StudyStore.trial`` of the selected study."""
        return self.store_obj().trial(self.study, trial_id)

    # ----------------------------------------------------------------- polling
    @param.depends("store", watch=True)
    def _on_store(self) -> None:
        self.poll(force=True)

    @param.depends("study", watch=True)
    def _on_study(self) -> None:
        self._digest = ""
        self.poll()

    def poll(self, force: bool = False) -> None:
        """Re-read the list of studies and the selected study's trials; bump versions on change."""
        try:
            store = self.store_obj()
            studies = store.list_studies() if store is not None else pd.DataFrame()
        except Exception as exc:  # noqa: BLE001 - shown in the page
            self.error = f"cannot read store {self.store!r}: {readable_error(exc)}"
            return
        col = study_column(studies) if len(studies) else None
        names = [str(s) for s in studies[col]] if col else []
        if force or names != list(self.param.study.objects):
            self.studies = studies
            self.param.study.objects = names
            self.studies_version += 1
            if self.study not in names:
                self.study = names[-1] if names else None
                return  # _on_study polled the trials
        if self.study is None:
            if len(self.trials):
                self.trials = pd.DataFrame()
                self.searched = []
                self.version += 1
            return
        try:
            trials = store.trials(self.study)
        except Exception as exc:  # noqa: BLE001
            self.error = f"cannot read trials of {self.study!r}: {readable_error(exc)}"
            return
        self.error = ""
        digest = hashlib.sha1(
            pd.util.hash_pandas_object(trials.astype(str), index=False).values.tobytes()
        ).hexdigest() if len(trials) else "empty"
        if digest != self._digest:
            self._digest = digest
            self.trials = trials
            self.searched = searched_params(store, self.study)
            self.log_params = log_params(store, self.study)
            self.version += 1
