"""The Hyperspace tab's link to ``satseg.search`` (docs/ARCHITECTURE.md, "Search"; docs/search.md).

Everything the tab asks of the search goes through this module: the bundled spaces
(``load_space(None | "quick" | ...)``), validation with ``load_space``, launching ``run_search``
(one study) or ``run_per_class`` (one study per class, ``NAME/<class>``, the names
``satseg study combine NAME`` reads) in a background job, pause/resume/stop through the study
store (``StudyStore.request_pause/request_resume/request_stop``), and refinement advice
(``refine_space``) on the selected study's latest space.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from app.jobs import Job
from app.spacefields import Field, dict_from_fields, dump_yaml, fields_from_dict
from satseg.errors import SpaceError, StoreError

log = logging.getLogger("satseg.app.search")

#: Study states in which a search may still be running (or about to start its loop).
ACTIVE = ("created", "running", "paused", "stopping")


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_").lower() or "class"


def class_study(name: str, cls: str) -> str:
    """The study of one class in a per-class search (as ``satseg.search.run_per_class`` names it)."""
    return f"{name}/{cls}"


def _search():
    try:
        import satseg.search as search
    except ImportError:
        search = None
    if search is None or not hasattr(search, "load_space"):
        raise SpaceError(
            "satseg.search (load_space, run_search, StudyStore) is not available in this "
            "installation; the Hyperspace tab needs it"
        )
    return search


def bundled_spaces() -> list[str]:
    """Names of the search spaces that ship with satseg (``default``, ``quick``, then the rest)."""
    try:
        from satseg.search.space import BUNDLED_SPACES
    except ImportError:
        return ["default"]
    first = {"default": 0, "quick": 1}
    return sorted(BUNDLED_SPACES, key=lambda n: (first.get(n, 2), n))


def _bundled_source(name: str | None):
    """What ``load_space`` is given for a bundled space: None (default) or its file."""
    if name in (None, "", "default"):
        return None
    try:
        from satseg.search.space import BUNDLED_SPACES
    except ImportError:
        return name
    if name not in BUNDLED_SPACES:
        raise SpaceError(f"no bundled search space {name!r}; bundled: {', '.join(BUNDLED_SPACES)}")
    return str(BUNDLED_SPACES[name])  # the file, never a same-named file in the server's folder


def space_yaml(name: str | None = None) -> str:
    """A bundled space (``None``/``"default"``, ``"quick"``, ...) as YAML for the editor."""
    return dump_yaml(_space_dict(_search().load_space(_bundled_source(name))))


def default_space_yaml() -> str:
    """The search's default space as YAML."""
    return space_yaml(None)


def _space_dict(space: Any) -> dict[str, Any]:
    if isinstance(space, dict):
        return space
    for attr in ("to_dict", "as_dict"):
        if hasattr(space, attr):
            return getattr(space, attr)()
    raise SpaceError(f"cannot read the search space {type(space).__name__} as a mapping")


def fields_from_space(doc: dict[str, Any]) -> list[Field]:
    """Fields of a space document, after ``load_space`` accepted it."""
    load(doc)
    return fields_from_dict(doc)


#: Top-level keys of a space document that are not parameters; the editor's widgets do not
#: show them, and a document rebuilt from the widgets keeps them (a space's ``initial_points``
#: were dropped when a search was started from the dashboard).
SPACE_EXTRAS = ("initial_points", "description")


def space_extras(doc: dict[str, Any]) -> dict[str, Any]:
    """The :data:`SPACE_EXTRAS` entries of a space document."""
    return {k: doc[k] for k in SPACE_EXTRAS if k in doc and "params" in doc}


def space_from_fields(fields: list[Field], extras: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """The space document of the editor's ``fields``, with ``extras`` (:func:`space_extras`)."""
    return {**dict_from_fields(fields), **(extras or {})}


def load(doc: Any):
    """``satseg.search.load_space`` of a document (SpaceError when the search rejects it)."""
    return _search().load_space(doc)


def validate(fields: list[Field], extras: dict[str, Any] | None = None) -> None:
    load(space_from_fields(fields, extras))


def existing_trials(store, studies: list[str]) -> dict[str, int]:
    """``{study: number of trials}`` of the planned studies that already have trials."""
    out = {}
    for s in studies:
        if store.has_study(s):
            n = len(store.trial_rows(s))
            if n:
                out[s] = n
    return out


def finished_ok(store, study: str | None) -> int:
    """Trials of a study that finished ``ok`` (0 without a store or study)."""
    if store is None or not study or not store.has_study(study):
        return 0
    return sum(r["status"] == "ok" for r in store.trial_rows(study))


def advice_minimum() -> int:
    """Finished trials a study needs before refinement advice (``satseg.search.refine``)."""
    from satseg.search.refine import MIN_FINISHED

    return MIN_FINISHED


def finished_trials(store, study: str) -> int:
    """Trials of a study that count toward its budget (ok, fail, pruned)."""
    return sum(r["status"] in ("ok", "fail", "pruned") for r in store.trial_rows(study))


class SearchController:
    """Runs one study (``run_search``) or one per class (``run_per_class``) in a background job
    and controls it through the store (pause, resume, stop).

    A request is also remembered and applied again from :meth:`enforce` (the page's periodic
    refresh): ``run_search`` sets its study ``running`` once its dask cluster is up, which would
    otherwise undo a pause or stop clicked while the cluster was starting, and a per-class search
    starts studies that did not exist when the button was clicked.
    """

    def __init__(self, *, store, store_path: str, data: str, space: dict, study: str,
                 classes: list[str] | None, per_class: bool = False, n_trials: int,
                 parallelism: int, scheduler: str | None, resume: bool,
                 extra: dict[str, Any] | None = None):
        self.store, self.store_path, self.data = store, store_path, data
        self.space, self.study, self.per_class = space, study, per_class
        self.classes = list(classes) if classes else None
        self.n_trials, self.parallelism, self.scheduler = n_trials, parallelism, scheduler
        self.resume_existing = resume
        self.extra = dict(extra or {})  # more SearchSettings (tests: a plain objective)
        self.info: dict[str, Any] = {}  # run_search's last progress report
        self.results: list[Any] = []
        self.wanted: str | None = None  # "paused" | "stopping" | None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the job
    def studies(self) -> list[str]:
        if self.per_class:
            return [class_study(self.study, c) for c in self.classes or []]
        return [self.study]

    def settings(self):
        search = _search()
        return search.SearchSettings(
            study=self.study, store=self.store_path, space=self.space, data=self.data,
            classes=tuple(self.classes) if self.classes else None, n_trials=self.n_trials,
            parallelism=self.parallelism, scheduler=self.scheduler, resume=self.resume_existing,
            **self.extra)

    def run(self, job: Job) -> list[Any]:
        search = _search()
        settings = self.settings()
        names = self.studies()

        def progress(info: dict) -> None:
            self.info = dict(info)
            done, total = info.get("done", 0), max(int(info.get("total") or 1), 1)
            i = names.index(info["study"]) if info.get("study") in names else 0
            job.report((i + min(done, total) / total) / max(len(names), 1),
                       f"{info.get('study')}: {done}/{total} trials, {info.get('running', 0)} "
                       f"running, {info.get('state', '')}")
            self.enforce()

        if self.per_class:
            out = search.run_per_class(settings, self.classes, progress=progress)
            self.results = list(out.values())
        else:
            self.results = [search.run_search(settings, progress=progress)]
        return self.results

    # ------------------------------------------------------------------ control
    def current(self) -> str | None:
        """The planned study that is running (or paused, starting), else None."""
        info_study = self.info.get("study")
        for s in self.studies():
            try:
                if self.store.has_study(s) and self.store.study_state(s) in ACTIVE:
                    return s
            except StoreError:
                continue
        return info_study if info_study in self.studies() else None

    def pause(self) -> None:
        with self._lock:
            self.wanted = "paused"
        self.enforce()

    def resume(self) -> None:
        with self._lock:
            self.wanted = None
        s = self.current()
        if s is not None and self.store.study_state(s) == "paused":
            self.store.request_resume(s)

    def stop(self) -> None:
        with self._lock:
            self.wanted = "stopping"
        self.enforce()

    def enforce(self) -> None:
        """Write the requested state again where the running study lost it (see the class)."""
        with self._lock:
            wanted = self.wanted
        if wanted is None:
            return
        s = self.current()
        if s is None:
            return
        try:
            state = self.store.study_state(s)
            if wanted == "stopping" and state in ("created", "running", "paused"):
                self.store.request_stop(s)
            elif wanted == "paused" and state in ("created", "running"):
                self.store.request_pause(s)
        except StoreError:  # the study ended between the two reads: nothing left to enforce
            pass

    # ------------------------------------------------------------------ display
    def state(self) -> str:
        s = self.current()
        if s is None:
            return "starting (dask cluster, validation images)" if not self.results else "ending"
        try:
            state = self.store.study_state(s)
        except Exception:  # noqa: BLE001
            state = "running"
        info = self.info if self.info.get("study") == s else {}
        done = f", {info['done']}/{info['total']} trials done" if "done" in info else ""
        best = f", best {info['best']:.4f}" if info.get("best") is not None else ""
        return f"{s}: {state}{done}{best}"

    def describe_workers(self) -> str:
        s = self.current()
        try:
            df = self.store.trials(s) if s else None
        except Exception:  # noqa: BLE001
            return ""
        if df is None or df.empty or "status" not in df:
            return "no trial yet"
        running = df[df["status"].isin(["running", "queued", "stopping"])]
        ids = ", ".join(str(t) for t in running.get("trial_id", []))
        return f"{len(running)} running trial(s){': ' + ids if ids else ''}; {len(df)} in the study"

    def outcome(self) -> str:
        """The end states of the studies the job ran (after the job ended)."""
        return ", ".join(f"{r.study}: {r.state} ({r.n_ok} ok"
                         f"{f', best {r.best_objective:.4f}' if r.best_objective is not None else ''})"
                         for r in self.results)


def _study_space(store, study: str):
    """The latest space of a study (the one its trials were drawn from) and whether its names
    are checked against satseg's training config (False for plain objectives)."""
    check = store.study(study)["settings"].get("check_fields", True)
    return store.space(study), bool(check)


def advice(store, study: str | None) -> list[dict]:
    """Refinement advice on a study's trials and latest space: a list of
    ``{param, kind, message, low/high/options}`` dicts (``satseg.search.refine_space``)."""
    search = _search()
    if store is None or study is None:
        raise SpaceError("select a study (sidebar) to get advice from its trials")
    direction = store.study(study)["direction"]
    space, check = _study_space(store, study)
    result = search.refine_space(space, store.trials(study), direction=direction,
                                 check_fields=check)
    return [dict(s) for s in result.suggestions]


def apply_advice(store, study: str, items: list[dict]) -> dict:
    """The study's latest space with the advice ``items`` applied, as a document."""
    search = _search()
    space, check = _study_space(store, study)
    new = search.refine_space(space, None, apply=list(items), check_fields=check)
    return _space_dict(new.space)
