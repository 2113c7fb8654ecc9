"""Hyperspace tab: the search space as widgets and YAML kept in sync, and study control (start,
pause, resume, stop on local dask or a scheduler), with refinement advice from the search."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import param

from app import auto_api, search_api
from app.catalog import Catalog
from app.jobs import Job, readable_error
from app.spacefields import Field, check_field, clone, dump_yaml, parse_yaml
from app.studies import StudyState
from satseg.errors import ConfigError

log = logging.getLogger("satseg.app.hyperspace")
CLASS_MODES = ["all classes in one study", "one study per class"]
#: Trial statuses that count towards a study's planned number of trials (as the runner counts).
DONE_STATUSES = ("ok", "fail", "pruned")
#: What a study state means for someone reading the page.
STATE_NOTES = {
    "created": "created, no trial started yet",
    "interrupted": "interrupted (its search process ended without finishing; Resume continues it)",
    "stopping": "stopping (running trials are asked to stop)",
    "paused": "paused (nothing new starts; Resume goes on)",
}


def study_summary(store: Any, study: str | None, trials: Any) -> str:
    """``study: state, n done / n planned trials (k running), best x`` of a study, read through
    ``StudyStore`` (any search, this page's or ``satseg search`` in a terminal)."""
    if store is None or not study:
        return "no study selected"
    rec = store.study(study)
    state = str(rec.get("state"))
    planned = (rec.get("settings") or {}).get("n_trials")
    counts = trials["status"].astype(str).value_counts() if "status" in getattr(trials, "columns", ()) \
        else {}
    done = sum(int(counts.get(s, 0)) for s in DONE_STATUSES)
    running = int(counts.get("running", 0)) + int(counts.get("stopping", 0))
    parts = [f"{done} / {planned} trials done" if planned else f"{done} trials done"]
    if running:
        parts.append(f"{running} running")
    ok = trials[trials["status"].astype(str) == "ok"] if len(counts) else None
    if ok is not None and len(ok) and "objective" in ok:
        higher = rec.get("direction", "maximize") == "maximize"
        best = ok["objective"].max() if higher else ok["objective"].min()
        parts.append(f"best {float(best):.4f}")
    return f"{study}: {STATE_NOTES.get(state, state)}, {', '.join(parts)}"


class HyperspaceView(param.Parameterized):
    """State of the Hyperspace tab."""

    studies: StudyState = param.ClassSelector(class_=StudyState,  # type: ignore[assignment]
                                              doc="the selected store and study")
    start_from: Any = param.Selector(objects=["default"], default="default",
                                doc="bundled search space loaded into the editor (default: the "
                                    "whole U-Net family; quick: small nets, ~20 s a trial)")
    yaml_text = param.String(default="", doc="the search space as YAML (the last valid version)")
    yaml_error = param.String(default="", doc="why the last YAML edit was refused")
    field_errors = param.Dict(default={}, doc="validation message per parameter")
    fields_version = param.Integer(default=0, doc="bumped when the set of fields changes")
    dataset: Any = param.Selector(objects=[], doc="data set the study trains on")
    class_mode: Any = param.Selector(objects=CLASS_MODES, default=CLASS_MODES[0],
                                doc="one study on all classes, or one study per class")
    classes = param.ListSelector(default=[], objects=[], doc="classes searched")
    study_name = param.String(default="study", doc="name of the study (per class: name/<class>)")
    n_trials = param.Integer(default=8, bounds=(1, 100_000), doc="trials to run (in total, per study)")
    parallelism = param.Integer(default=1, bounds=(1, 256), doc="trials running at once")
    cluster: Any = param.Selector(objects=["local", "scheduler"], default="local",
                             doc="a local dask cluster, or an existing scheduler")
    scheduler = param.String(default="tcp://127.0.0.1:8786", doc="dask scheduler address")
    status = param.String(default="", doc="state of the search started from this page (if any)")
    study_status = param.String(default="no study selected",
                                doc="the selected study's state and progress, from the store")
    workers = param.String(default="", doc="dask workers and running trials")
    advice = param.List(default=[], doc="refinement advice from the search (list of dicts)")
    message = param.String(default="", doc="last action's result")
    error = param.String(default="", doc="last error, shown in the page")
    auto_name = param.String(default="auto", doc="run folder of `satseg auto` (under auto_root)")
    auto_budget = param.String(default="30m", doc="wall-clock budget of `satseg auto`: 3m, 30m, 2h")
    auto_status = param.String(default="", doc="the named `satseg auto` run's state and stages")
    auto_log = param.String(default="", doc="the last lines of its log")
    auto_report = param.String(default="", doc="its report.md once finished")

    def __init__(self, studies: StudyState, catalog: Catalog, auto_root: Path | None = None,
                 **params):
        self.catalog = catalog
        #: where runs of `satseg auto` started here go (None: the feature is off)
        self.auto_root = Path(auto_root) if auto_root is not None else None
        self.fields: list[Field] = []
        self.space_extras: dict[str, Any] = {}
        self.job: Job | None = None
        self.controller: Any = None
        #: More ``SearchSettings`` for every search started here (tests: a plain objective).
        self.search_settings: dict[str, Any] = {}
        super().__init__(studies=studies, **params)
        self.param.dataset.objects = catalog.names()
        if catalog.names():
            self.dataset = catalog.names()[0]
        self.param.start_from.objects = search_api.bundled_spaces()
        try:
            self.set_yaml(search_api.default_space_yaml(), record=False)
        except Exception as exc:  # noqa: BLE001
            self.error = f"cannot load the default search space: {readable_error(exc)}"
        self.poll_study()
        self.poll_auto()

    @param.depends("start_from", watch=True)
    def _on_start_from(self) -> None:
        """Load the chosen bundled space into the editor and the widgets."""
        try:
            text = search_api.space_yaml(self.start_from)
        except Exception as exc:  # noqa: BLE001
            self.error = f"cannot load the search space {self.start_from!r}: {readable_error(exc)}"
            return
        if self.set_yaml(text):
            self.error = ""
            self.message = f"loaded the bundled space {self.start_from!r}"

    # ---------------------------------------------------------------- space editing
    def set_yaml(self, text: str, record: bool = True) -> bool:
        """Apply an edited YAML text. A bad text changes nothing and sets :attr:`yaml_error`."""
        try:
            doc = parse_yaml(text)
            fields = search_api.fields_from_space(doc)
            extras = search_api.space_extras(doc)
            search_api.validate(fields, extras)
        except Exception as exc:  # noqa: BLE001 - shown next to the editor
            self.yaml_error = readable_error(exc)
            return False
        self.yaml_error = ""
        names_changed = [f.name for f in fields] != [f.name for f in self.fields]
        self.fields = fields
        self.space_extras = extras
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
                search_api.validate(fields, self.space_extras)
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
        self.yaml_text = dump_yaml(self.space_doc())
        self.yaml_error = ""
        return True

    def space_doc(self) -> dict[str, Any]:
        """The space as edited: the widgets' parameters and the YAML's other top-level entries
        (``initial_points``, ``description``)."""
        return search_api.space_from_fields(self.fields, self.space_extras)

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
        return [(search_api.class_study(self.study_name, c), [c]) for c in self.classes]

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.done

    def start(self, resume: bool = False) -> Job | None:
        """Start (``resume``: continue) the planned studies in a background thread."""
        if self.running:
            self.error = "a search is already running: pause or stop it first"
            return None
        if self.yaml_error or self.field_errors:
            self.error = "fix the search space first (see the messages next to it)"
            return None
        plan = self.plan()
        if not plan:
            self.error = "choose at least one class"
            return None
        if not self.study_name.strip():
            self.error = "give the study a name"
            return None
        try:
            store = self.studies.ensure_store()
            if not resume:
                taken = search_api.existing_trials(store, [p[0] for p in plan])
                if taken:
                    name, n = next(iter(taken.items()))
                    self.error = (f"study {name!r} already has {n} trial(s): press Resume to "
                                  "continue it, or choose another study name")
                    return None
        except Exception as exc:  # noqa: BLE001
            self.error = f"cannot open the study store: {readable_error(exc)}"
            return None
        per_class = self.class_mode != CLASS_MODES[0]
        return self._launch(search_api.SearchController(
            store=store, store_path=self.studies.store_paths[self.studies.store],
            data=self.catalog.paths[self.dataset], space=self.space_doc(),
            study=self.study_name, classes=list(self.classes), per_class=per_class,
            n_trials=self.n_trials, parallelism=self.parallelism,
            scheduler=self.scheduler if self.cluster == "scheduler" else None, resume=resume,
            extra=self.search_settings,
        ), "continued" if resume else "started")

    def _launch(self, controller, verb: str) -> Job:
        self.controller = controller
        self.job = Job("search", controller.run).start()
        names = controller.studies()
        self.error, self.status = "", f"starting {', '.join(names)}"
        self.message = (f"{verb} {len(names)} stud{'y' if len(names) == 1 else 'ies'} "
                        f"of {controller.n_trials} trials")
        return self.job

    def pause(self) -> None:
        self._control("pause")

    def resume(self) -> Job | None:
        """Let a paused search go on; without a running search, continue the planned studies
        (to :attr:`n_trials` finished trials each)."""
        if not self.running:
            return self.start(resume=True)
        self._control("resume")
        return self.job

    def stop(self) -> None:
        self._control("stop")

    def _control(self, action: str) -> None:
        if not self.running:
            self.error = f"no search is running to {action}"
            return
        try:
            getattr(self.controller, action)()
            self.message = f"{action} requested"
            self.error = ""
        except Exception as exc:  # noqa: BLE001
            self.error = f"{action} failed: {readable_error(exc)}"

    def poll(self) -> None:
        """Copy the selected study's state and the page's search state into the page (session
        thread)."""
        self.poll_study()
        self.poll_auto()
        if self.job is None:
            return
        if self.job.done:
            if self.status.startswith(("finished", "failed")):
                return
            if self.job.status == "failed":
                self.error = f"the search failed: {self.job.error}"
                self.status = "failed"
            else:
                outcome = self.controller.outcome() if self.controller is not None else ""
                self.status = f"finished: {outcome}" if outcome else f"finished ({self.job.status})"
            self.workers = ""
            return
        if self.controller is not None:
            try:
                self.controller.enforce()
                self.status = self.controller.state()
                self.workers = self.controller.describe_workers()
            except Exception as exc:  # noqa: BLE001
                self.error = f"cannot read the search state: {readable_error(exc)}"

    @param.depends("studies.version", "studies.study", watch=True)
    def poll_study(self) -> None:
        """:attr:`study_status` of the selected study (its state can change without a trial
        changing: pause, resume, stop, interrupted)."""
        try:
            self.study_status = study_summary(self.studies.store_obj(), self.studies.study,
                                              self.studies.trials)
        except Exception as exc:  # noqa: BLE001 - a study deleted meanwhile, an older store
            self.study_status = f"{self.studies.study}: cannot read its state ({readable_error(exc)})"

    # ---------------------------------------------------------------- refinement
    def refresh_advice(self) -> None:
        """Ask the search for refinement advice on the selected study (its trials and space)."""
        try:
            self.advice = search_api.advice(self.studies.store_obj(), self.studies.study)
        except Exception as exc:  # noqa: BLE001
            self.advice = []
            self.error = f"no advice: {readable_error(exc)}"
            return
        self.error = ""
        if self.advice:
            self.message = f"{len(self.advice)} suggestion(s) for {self.studies.study}"
            return
        n_ok = search_api.finished_ok(self.studies.store_obj(), self.studies.study)
        minimum = search_api.advice_minimum()
        self.message = (f"no refinement suggested for {self.studies.study}: advice needs at least "
                        f"{minimum} finished trials, it has {n_ok}" if n_ok < minimum else
                        f"no refinement suggested for {self.studies.study}: no parameter's best "
                        "trials crowd a bound or a small part of its range")

    def apply_advice(self, continue_study: bool = True) -> Job | None:
        """Apply the advice to the study's space, show it in the editor and (by default)
        continue the study in it (a new space version of the same study)."""
        if not self.advice:
            self.error = "no advice to apply: ask for advice first"
            return None
        if self.running:
            self.error = "a search is running: stop it before continuing in a refined space"
            return None
        study, store = self.studies.study, self.studies.store_obj()
        try:
            new = search_api.apply_advice(store, study, self.advice)
        except Exception as exc:  # noqa: BLE001
            self.error = f"cannot apply the advice: {readable_error(exc)}"
            return None
        if not self.set_yaml(dump_yaml(new)):
            self.error = f"the refined space was refused: {self.yaml_error}"
            return None
        self.advice = []
        self.message = f"advice applied to the space of {study}"
        if not continue_study:
            return None
        rec = store.study(study)
        settings = rec.get("settings") or {}
        self.study_name = study
        # The same study goes on (``n_trials`` more): its data, classes and validation images are
        # those stored with it.
        return self._launch(search_api.SearchController(
            store=store, store_path=self.studies.store_paths[self.studies.store],
            data=rec.get("data") or self.catalog.paths[self.dataset], space=new, study=study,
            classes=None, per_class=False,
            n_trials=search_api.finished_trials(store, study) + self.n_trials,
            parallelism=int(settings.get("parallelism") or self.parallelism),
            scheduler=self.scheduler if self.cluster == "scheduler" else None, resume=True,
            extra=self.search_settings,
        ), "continued")

    # ---------------------------------------------------------------- satseg auto
    def _auto_run(self) -> auto_api.AutoRun:
        if self.auto_root is None:
            raise ConfigError("this server has no folder for `satseg auto` runs (start it with "
                              "a --store path)")
        return auto_api.run_for(self.auto_root / auto_api.check_name(self.auto_name))

    def start_auto(self, resume: bool = False) -> auto_api.AutoRun | None:
        """Run ``satseg auto`` on the selected data set with the edited space (``resume``:
        continue the named run, its data set, budget and space as it began)."""
        try:
            run = self._auto_run()
            auto_api.check_budget(self.auto_budget)
            if not resume and (self.yaml_error or self.field_errors):
                raise ConfigError("fix the search space first (see the messages next to it)")
            if self.dataset is None:
                raise ConfigError("no data set to run on: start the server with --data")
            state = auto_api.read_state(run.out)
            data = state.get("data") or self.catalog.paths[self.dataset]
            run.start(data, self.auto_budget, None if resume else self.space_doc(),
                      resume=resume)
        except Exception as exc:  # noqa: BLE001 - shown in the page
            self.error = f"satseg auto: {readable_error(exc)}"
            return None
        self.error = ""
        self.message = (f"satseg auto {'continued' if resume else 'started'} in {run.out} "
                        f"(log: {run.log_path.name})")
        self.studies.add_store(self._auto_store_label(run), str(run.store_path))
        self.poll_auto()
        return run

    def stop_auto(self) -> None:
        """Ctrl-C for the named run: what is done stays, Resume goes on."""
        try:
            run = self._auto_run()
        except Exception as exc:  # noqa: BLE001
            self.error = f"satseg auto: {readable_error(exc)}"
            return
        if not run.running:
            self.error = f"satseg auto: the run {run.out.name!r} is not running"
            return
        run.stop()
        self.error, self.message = "", f"stop requested for {run.out.name}"
        self.poll_auto()

    @staticmethod
    def _auto_store_label(run: auto_api.AutoRun) -> str:
        return f"auto: {run.out.name}"

    @param.depends("auto_name", watch=True)
    def poll_auto(self) -> None:
        """State, log tail and report of the named run; the runs found on disk are offered in
        the store select (their searches' trials in the Trials and Results tabs), and the final
        models of the finished ones in the Results tab (as ``auto run NAME``)."""
        if self.auto_root is None:
            self.auto_status = "no folder for `satseg auto` runs on this server"
            return
        for name in auto_api.known_runs(self.auto_root):
            run = auto_api.run_for(self.auto_root / name)
            if run.store_path.is_file():
                self.studies.add_store(self._auto_store_label(run), str(run.store_path))
            run.repeat_stop()
            if not run.running:
                model = run.model_info()
                if model:
                    self.studies.offer_model(f"auto run {name}", model)
        try:
            run = self._auto_run()
        except Exception as exc:  # noqa: BLE001
            self.auto_status = readable_error(exc)
            return
        self.auto_status = run.summary()
        self.auto_log = run.log_tail()
        self.auto_report = run.report()
