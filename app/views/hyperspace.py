"""Hyperspace tab: the search space as widgets and YAML kept in sync, and study control (start,
pause, resume, stop on local dask or a scheduler), with refinement advice from the search."""

from __future__ import annotations

import logging
from typing import Any

import param

from app import search_api
from app.catalog import Catalog
from app.jobs import Job, readable_error
from app.spacefields import Field, check_field, clone, dump_yaml, parse_yaml
from app.studies import StudyState

log = logging.getLogger("satseg.app.hyperspace")
CLASS_MODES = ["all classes in one study", "one study per class"]


class HyperspaceView(param.Parameterized):
    """State of the Hyperspace tab."""

    studies = param.ClassSelector(class_=StudyState, doc="the selected store and study")
    yaml_text = param.String(default="", doc="the search space as YAML (the last valid version)")
    yaml_error = param.String(default="", doc="why the last YAML edit was refused")
    field_errors = param.Dict(default={}, doc="validation message per parameter")
    fields_version = param.Integer(default=0, doc="bumped when the set of fields changes")
    dataset = param.Selector(objects=[], doc="data set the study trains on")
    class_mode = param.Selector(objects=CLASS_MODES, default=CLASS_MODES[0],
                                doc="one study on all classes, or one study per class")
    classes = param.ListSelector(default=[], objects=[], doc="classes searched")
    study_name = param.String(default="study", doc="name of the study (per class: name-<class>)")
    n_trials = param.Integer(default=8, bounds=(1, 100_000), doc="trials to run (in total, per study)")
    parallelism = param.Integer(default=1, bounds=(1, 256), doc="trials running at once")
    cluster = param.Selector(objects=["local", "scheduler"], default="local",
                             doc="a local dask cluster, or an existing scheduler")
    scheduler = param.String(default="tcp://127.0.0.1:8786", doc="dask scheduler address")
    status = param.String(default="idle", doc="search state shown in the page")
    workers = param.String(default="", doc="dask workers and running trials")
    advice = param.List(default=[], doc="refinement advice from the search (list of dicts)")
    message = param.String(default="", doc="last action's result")
    error = param.String(default="", doc="last error, shown in the page")

    def __init__(self, studies: StudyState, catalog: Catalog, **params):
        self.catalog = catalog
        self.fields: list[Field] = []
        self.job: Job | None = None
        self.controller: Any = None
        super().__init__(studies=studies, **params)
        self.param.dataset.objects = catalog.names()
        if catalog.names():
            self.dataset = catalog.names()[0]
        try:
            self.set_yaml(search_api.default_space_yaml(), record=False)
        except Exception as exc:  # noqa: BLE001
            self.error = f"cannot load the default search space: {readable_error(exc)}"

    # ---------------------------------------------------------------- space editing
    def set_yaml(self, text: str, record: bool = True) -> bool:
        """Apply an edited YAML text. A bad text changes nothing and sets :attr:`yaml_error`."""
        try:
            doc = parse_yaml(text)
            fields = search_api.fields_from_space(doc)
            search_api.validate(fields)
        except Exception as exc:  # noqa: BLE001 - shown next to the editor
            self.yaml_error = readable_error(exc)
            return False
        self.yaml_error = ""
        names_changed = [f.name for f in fields] != [f.name for f in self.fields]
        self.fields = fields
        self.field_errors = {}
        with param.parameterized.batch_call_watchers(self):
            self.yaml_text = text
            self.fields_version += 1 if (names_changed or record) else 0
        return True

    def update_field(self, name: str, **changes: Any) -> bool:
        """Change one field from its widgets; on success the YAML follows, else the message is
        shown next to the field and the space keeps its last valid state."""
        fields = clone(self.fields)
        target = next((f for f in fields if f.name == name), None)
        if target is None:
            self.error = f"unknown parameter {name!r}"
            return False
        for k, v in changes.items():
            setattr(target, k, v)
        msg = check_field(target)
        if not msg:
            try:
                search_api.validate(fields)
            except Exception as exc:  # noqa: BLE001
                msg = readable_error(exc)
        errors = dict(self.field_errors)
        if msg:
            errors[name] = msg
            self.field_errors = errors
            return False
        errors.pop(name, None)
        self.fields = fields
        self.field_errors = errors
        self.yaml_text = dump_yaml(search_api.space_from_fields(fields))
        self.yaml_error = ""
        return True

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    # ---------------------------------------------------------------- study control
    @param.depends("dataset", watch=True)
    def _on_dataset(self) -> None:
        try:
            names = [c.name for c in self.catalog.dataset(self.dataset).classes]
        except Exception as exc:  # noqa: BLE001
            self.error = readable_error(exc)
            return
        self.param.classes.objects = names
        self.classes = list(names)

    def plan(self) -> list[tuple[str, list[str]]]:
        """``(study name, classes)`` of each study to run."""
        if not self.classes:
            return []
        if self.class_mode == CLASS_MODES[0]:
            return [(self.study_name, list(self.classes))]
        return [(f"{self.study_name}-{search_api.slug(c)}", [c]) for c in self.classes]

    def start(self, resume: bool = False) -> Job | None:
        """Start (or continue) the planned studies in a background thread."""
        if self.job is not None and not self.job.done:
            self.error = "a search is already running: pause or stop it first"
            return None
        if self.yaml_error or self.field_errors:
            self.error = "fix the search space first (see the messages next to it)"
            return None
        plan = self.plan()
        if not plan:
            self.error = "choose at least one class"
            return None
        store = self.studies.ensure_store()
        space = search_api.space_from_fields(self.fields)
        self.controller = search_api.SearchController(
            store=store, store_path=self.studies.store_paths[self.studies.store], data=self.catalog.paths[self.dataset],
            space=space, plan=plan, n_trials=self.n_trials, parallelism=self.parallelism,
            scheduler=self.scheduler if self.cluster == "scheduler" else None, resume=resume,
        )
        self.job = Job("search", self.controller.run).start()
        self.error, self.status = "", f"running {', '.join(p[0] for p in plan)}"
        self.message = f"started {len(plan)} stud{'y' if len(plan) == 1 else 'ies'} of {self.n_trials} trials"
        return self.job

    def pause(self) -> None:
        self._control("pause")

    def resume(self) -> None:
        if self.job is None or self.job.done:
            self.start(resume=True)
        else:
            self._control("resume")

    def stop(self) -> None:
        self._control("stop")

    def _control(self, action: str) -> None:
        if self.controller is None:
            self.error = f"no search to {action}: start one first"
            return
        try:
            getattr(self.controller, action)()
            self.message = f"{action} requested"
        except Exception as exc:  # noqa: BLE001
            self.error = f"{action} failed: {readable_error(exc)}"

    def poll(self) -> None:
        """Copy the search's state into the page (session thread)."""
        if self.job is None:
            return
        if self.job.done:
            if self.job.status == "failed":
                self.error = f"the search failed: {self.job.error}"
                self.status = "failed"
            else:
                self.status = f"finished ({self.job.status})"
            self.workers = ""
            return
        if self.controller is not None:
            self.status = self.controller.state()
            self.workers = self.controller.describe_workers()

    # ---------------------------------------------------------------- refinement
    def refresh_advice(self) -> None:
        """Ask the search for refinement advice on the selected study."""
        try:
            self.advice = search_api.advice(self.studies, search_api.space_from_fields(self.fields))
            self.message = f"{len(self.advice)} suggestion(s)" if self.advice else "no refinement suggested"
        except Exception as exc:  # noqa: BLE001
            self.error = f"no advice: {readable_error(exc)}"

    def apply_advice(self, continue_study: bool = True) -> None:
        """Apply the advice to the space and (by default) continue the study with it."""
        if not self.advice:
            self.error = "no advice to apply: ask for advice first"
            return
        try:
            new = search_api.apply_advice(search_api.space_from_fields(self.fields), self.advice)
        except Exception as exc:  # noqa: BLE001
            self.error = f"cannot apply the advice: {readable_error(exc)}"
            return
        if self.set_yaml(dump_yaml(new)):
            self.advice = []
            self.message = "advice applied to the space"
            if continue_study and self.studies.study:
                self.study_name = self.studies.study
                self.start(resume=True)
