"""The Hyperspace tab's link to ``satseg.search`` (docs/ARCHITECTURE.md, "Search").

Everything the tab asks of the search goes through this module: the default space, validation
with ``load_space``, launching ``run_search`` in a background thread, pause/resume/stop through
the study store, and refinement advice (``refine_space``).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from app.jobs import Job
from app.spacefields import Field, dict_from_fields, dump_yaml, fields_from_dict
from satseg.errors import SpaceError

log = logging.getLogger("satseg.app.search")


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_").lower() or "class"


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


def default_space_yaml() -> str:
    """The search's default space as YAML."""
    search = _search()
    space = search.load_space(None) if _accepts_none(search.load_space) else search.default_space()
    return dump_yaml(_space_dict(space))


def _accepts_none(fn) -> bool:
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0].default is None


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


def space_from_fields(fields: list[Field]) -> dict[str, Any]:
    return dict_from_fields(fields)


def load(doc: dict[str, Any]):
    """``satseg.search.load_space`` of a document (SpaceError when the search rejects it)."""
    return _search().load_space(doc)


def validate(fields: list[Field]) -> None:
    load(dict_from_fields(fields))


class SearchController:
    """Runs the planned studies one after the other (``run_search``) and controls them through
    the store (pause, resume, stop)."""

    def __init__(self, *, store, store_path: str, data: str, space: dict, plan, n_trials: int,
                 parallelism: int, scheduler: str | None, resume: bool):
        self.store, self.store_path, self.data = store, store_path, data
        self.space, self.plan = space, list(plan)
        self.n_trials, self.parallelism, self.scheduler = n_trials, parallelism, scheduler
        self.resume_existing = resume
        self.current: str | None = None
        self._stopped = threading.Event()

    def run(self, job: Job) -> list[Any]:
        search = _search()
        results = []
        for i, (study, classes) in enumerate(self.plan):
            if self._stopped.is_set() or job.cancelled:
                break
            self.current = study
            job.report(i / len(self.plan), f"study {study}")
            results.append(search.run_search(
                load(self.space), data=self.data, store=self.store, study=study, classes=classes,
                n_trials=self.n_trials, parallelism=self.parallelism, scheduler=self.scheduler,
                resume=True,
            ))
        return results

    def _studies(self) -> list[str]:
        return [s for s, _ in self.plan]

    def pause(self) -> None:
        for s in self._studies():
            self.store.request_pause(s)

    def resume(self) -> None:
        for s in self._studies():
            self.store.request_resume(s)

    def stop(self) -> None:
        self._stopped.set()
        for s in self._studies():
            self.store.request_stop(s)

    def state(self) -> str:
        if self.current is None:
            return "starting"
        try:
            return f"{self.current}: {self.store.study_state(self.current)}"
        except Exception:  # noqa: BLE001
            return f"{self.current}: running"

    def describe_workers(self) -> str:
        try:
            df = self.store.trials(self.current) if self.current else None
        except Exception:  # noqa: BLE001
            return ""
        if df is None or df.empty or "status" not in df:
            return "no trial yet"
        running = df[df["status"] == "running"]
        ids = ", ".join(str(t) for t in running.get("trial_id", []))
        return f"{len(running)} running trial(s){': ' + ids if ids else ''}; {len(df)} in the study"


def advice(studies, space: dict) -> list[dict]:
    """Refinement advice for the selected study: a list of ``{param, message, ...}`` dicts."""
    search = _search()
    if studies.study is None:
        raise SpaceError("select a study (sidebar) to get advice from its trials")
    result = search.refine_space(load(space), studies.trials)
    items = getattr(result, "suggestions", result)
    return [s if isinstance(s, dict) else getattr(s, "__dict__", {"message": str(s)}) for s in items]


def apply_advice(space: dict, items: list[dict]) -> dict:
    search = _search()
    new = search.refine_space(load(space), None, apply=items)
    return _space_dict(getattr(new, "space", new))
