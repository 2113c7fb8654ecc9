"""``run_search``: the asynchronous ask/tell loop that keeps N trials running on dask.

The driver asks hyperopt for one suggestion whenever a worker slot is free, submits the trial
(:func:`satseg.search.worker.execute_trial`), and tells hyperopt each result as soon as its
future completes; every step is written to the study store first, so a killed driver loses no
finished trial (``resume`` rebuilds hyperopt's history from the store). Worker messages (trial
started, epoch rows) arrive as dask events; the study state in the store is read twice a
second: ``paused`` starts nothing new, ``stopping`` asks running trials to stop and ends.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from satseg.search.asha import ASHA, Job, choose_job
from satseg.search.budget import BudgetClock
from satseg.search.hyper import HyperoptState
from satseg.search.pruning import MedianPruner
from satseg.search.settings import SearchSettings
from satseg.search.setup import prepare_study
from satseg.search.store import StudyStore
from satseg.search.worker import TrialTask, execute_trial

log = logging.getLogger("satseg.search.runner")
STATE_POLL_S = 0.5


@dataclass
class SearchResult:
    """What :func:`run_search` returns."""

    study: str
    state: str
    n_ok: int
    n_failed: int
    n_pruned: int
    best: dict[str, Any] | None
    store: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def best_objective(self) -> float | None:
        return None if self.best is None else self.best.get("objective")


@dataclass
class _Running:
    future: Any
    params: dict[str, Any]
    stop_event: str
    submitted: float
    started: float | None = None
    attempts: int = 0
    stop_sent: bool = False
    job: Job | None = None  # rung and budget of this run of the trial (fidelity/budget)


@contextlib.contextmanager
def _no_interrupts():
    """Ignore SIGINT for the duration (main thread only; elsewhere signals cannot arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _settings_from(arg: Any, kw: dict[str, Any]) -> SearchSettings:
    """Accept ``run_search(settings)``, ``run_search(space, study=..., store=StudyStore, ...)``."""
    aliases = {"max_evals": "n_trials", "parallel": "parallelism", "timeout": "time_limit"}
    kw = {aliases.get(k, k): v for k, v in kw.items()}
    if isinstance(kw.get("store"), StudyStore):
        kw["store"] = str(kw["store"].path)
    if isinstance(arg, SearchSettings):
        return arg.replace(**kw) if kw else arg
    if arg is not None:
        kw["space"] = arg
    return SearchSettings(**kw)


def run_search(settings: Any = None, *, progress: Any = False, **kw: Any) -> SearchResult:
    """Run (or resume) one study to ``n_trials`` finished trials; blocks until done, stopped
    or early-stopped. ``settings``: a :class:`SearchSettings`, or a space with keyword
    settings. ``progress``: True for a terminal bar, or a callable given a status dict."""
    s = _settings_from(settings, kw)
    return _Driver(s, progress).run()


class _Driver:
    def __init__(self, s: SearchSettings, progress: Any):
        self.s = s
        self.progress = progress
        self.events: queue.Queue = queue.Queue()
        self.running: dict[int, _Running] = {}
        self.pruned: set[int] = set()
        self.pruner = MedianPruner(s.prune_metric, s.prune_warmup, s.prune_min_trials,
                                   s.direction == "maximize")
        self.finished_here: set[int] = set()
        self.sign = 1.0 if s.direction == "maximize" else -1.0
        # the best objective so far, at the highest rung reached (StudyStore.best_trial's order:
        # objectives of different ASHA budgets are not comparable)
        self.best: float | None = None
        self.best_rung = -1
        self.since_best = 0
        self.bar = None

    # ------------------------------------------------------------------ setup
    def run(self) -> SearchResult:
        try:
            return self._run()
        except BaseException as exc:
            # Failed before its loop (no dask scheduler, ...): say so rather than leave the
            # study "created" (it would read interrupted); a later run starts it afresh.
            if hasattr(self, "store") and self.store.study(self.s.study)["stored_state"] == \
                    "created":
                self.store.set_study_state(
                    self.s.study, "stopped" if isinstance(exc, KeyboardInterrupt) else "failed")
            raise
        finally:  # prepare_study made this process the study's driver (a renewed lease)
            if hasattr(self, "store"):
                self.store.release_driver(self.s.study)

    def _run(self) -> SearchResult:
        from satseg.search.cluster import close, connect, scheduler_address, security
        from satseg.search.hyper import get_algo

        get_algo(self.s.algo)  # a missing package or bad address fails before the study exists
        security(scheduler_address(self.s.scheduler), self.s.tls)
        self.store, self.space, self.version, self.objective, s = prepare_study(self.s)
        self.s = s
        self.hyper = HyperoptState(self.space, s.algo, s.startup_trials, s.seed, s.direction)
        self._init_fidelity()
        self._load_history()
        self.topic = f"satseg-{uuid.uuid4().hex[:12]}"
        before = self.store.study_state(s.study)
        client, cluster = connect(s.scheduler, s.parallelism, tls=s.tls)
        self.client = client
        state = "failed"
        try:
            client.subscribe_topic(self.topic, lambda ev: self.events.put(ev[1]))
            # A pause or stop asked for while the cluster started (seconds) is kept; a state
            # left from an earlier run (paused, stopped, finished) is not.
            now = self.store.study_state(s.study)
            if now == before or now not in ("paused", "stopping"):
                self.store.set_study_state(s.study, "running")
            self._open_bar()
            state = self._loop()
        except KeyboardInterrupt:
            # Record first, then talk to dask: a second Ctrl-C (or the demo's own SIGINT after
            # the terminal's) must not cut the bookkeeping short and leave the study "running".
            with _no_interrupts():
                self.store.set_study_state(s.study, "stopped")
                self._abandon("the search was interrupted (Ctrl-C)")
                self._restore_promoted()
            raise
        except BaseException:
            self._abandon("the search driver failed")
            self.store.set_study_state(s.study, "failed")
            raise
        finally:
            if self.bar is not None:
                self._update_bar(getattr(self, "done", 0), state)
                self.bar.close()
            self._settle_events()
            try:
                client.unsubscribe_topic(self.topic)
            except Exception:  # noqa: BLE001
                pass
            close(client, cluster)
        self._restore_promoted()
        if state == "finished" and self.s.keep_runs == "best" and self.asha is not None:
            self._keep_only_best()
        self.store.set_study_state(s.study, state)
        if state == "finished":  # why it ended: a study finished by its budget says so
            rec = self.store.study(s.study)["settings"]
            self.store.update_study(s.study, settings={**rec, "ended_by": self.ended_by})
        return self._result(state)

    # ------------------------------------------------------------------ fidelity + budget
    def _init_fidelity(self) -> None:
        """ASHA's rungs (``fidelity='asha'``) and the study's budget clock (see asha.py,
        budget.py); with neither, the loop behaves as before."""
        s = self.s
        # the space's initial points are trials 0..n-1 (see _submit) and go to the top rung
        n_initial = len(getattr(self.space, "initial_points", None) or [])
        self.asha = (ASHA(s.min_budget, s.max_budget, s.eta, s.direction == "maximize",
                          protected=set(range(n_initial)))
                     if s.fidelity == "asha" else None)
        # a stop takes a few seconds to take effect: keep them free at the end
        self.clock = BudgetClock(s.budget, margin=min(10.0, 0.02 * s.budget) if s.budget else 0)
        self.budget_stopped: set[int] = set()
        self.budget_stop_at: float | None = None
        self._replaced: dict[int, str | None] = {}
        self.ended_by = "trials"
        self.budget_refused = False

    def _restore_promoted(self) -> None:
        """ASHA: a promoted trial that ended without a result at its new rung (stopped,
        abandoned, its driver gone) keeps the result of the rung it had finished."""
        if self.asha is None:
            return
        for r in self.store.trial_rows(self.s.study):
            if (r["status"] in ("queued", "running", "stopping", "stopped", "lost")
                    and r.get("rung") and r["objective"] is not None
                    and r["trial_id"] not in getattr(self, "running", {})):
                k = int(r["rung"]) - 1
                self.store.update_trial(
                    self.s.study, r["trial_id"], status="ok", rung=k, budget=self.asha.budget(k),
                    error=f"its continuation to rung {k + 1} did not finish; kept its rung {k} "
                          "result")

    def _budget_stop(self) -> None:
        """The deadline: ask every running trial to stop; they keep their best epoch."""
        if self.budget_stop_at is None:
            self.budget_stop_at = time.monotonic()
            self.ended_by = "budget"
            log.info("study %s: its budget of %.0f s is spent; stopping %d running trial(s)",
                     self.s.study, self.s.budget or 0, len(self.running))
        for tid in list(self.running):
            self.budget_stopped.add(tid)
            self._send_stop(tid)

    def _fill(self, done: int) -> bool:
        """Start jobs while workers are free; False when none can start (all trials done, or
        none fits in the time left and nothing can be promoted)."""
        s = self.s
        while len(self.running) < s.parallelism:
            if self.asha is None:
                allow_new = done + len(self.running) < s.n_trials
            else:  # ASHA: n_trials counts configurations; promotions go on after them
                allow_new = self.store.next_trial_id(s.study) < s.n_trials
            job = choose_job(self.asha, self.clock, allow_new)
            if job is None:
                # a new trial was allowed but did not fit: the budget, not the trial count, ends
                # the study (decided here, where the estimate was made, not re-estimated later)
                self.budget_refused = allow_new and self.clock.seconds is not None
                return False
            self._submit(job)
            done = self.done
        return True

    def _load_history(self) -> None:
        """Finished trials of the store: into hyperopt (when inside the space) and the
        pruning reference curves."""
        n_in, n_out = 0, 0
        self._restore_promoted()
        for r in self.store.trial_rows(self.s.study):
            if r["status"] in ("running", "queued", "stopping"):
                self.store.update_trial(self.s.study, r["trial_id"], status="lost",
                                        error="the search driver stopped while it ran")
                continue
            if r["status"] not in ("ok", "pruned") or r["objective"] is None:
                continue
            vals = self.space.vals_from_params(r["params"])
            if vals is None:
                n_out += 1
            else:
                self.hyper.add(r["trial_id"], vals, r["objective"])
                n_in += 1
            if r["status"] == "ok":
                self._note_best(r["objective"], int(r.get("rung") or 0))
            if self.asha is not None and r.get("rung") is not None:
                self.asha.add_finished(r["trial_id"], min(int(r["rung"]), self.asha.top),
                                       r["objective"])
        if self.s.prune:
            for r in self.store.trial_rows(self.s.study):
                if r["status"] == "ok":
                    hist = self.store.trial(self.s.study, r["trial_id"])["history"]
                    self.pruner.add(r["trial_id"], hist)
        if n_in or n_out:
            log.info("study %s: %d finished trial(s) inform the search, %d lie outside the "
                     "current space", self.s.study, n_in, n_out)

    # ------------------------------------------------------------------ the loop
    def _counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.store.trial_rows(self.s.study):
            out[r["status"]] = out.get(r["status"], 0) + 1
        return out

    def _n_done(self) -> int:
        c = self._counts()
        return c.get("ok", 0) + c.get("fail", 0) + c.get("pruned", 0)

    def _loop(self) -> str:
        from distributed import wait

        s = self.s
        self.done = self._n_done()
        next_state_check, state, ended = 0.0, "running", None
        while True:
            now = time.monotonic()
            if now >= next_state_check:
                state = self.store.study_state(s.study)
                next_state_check = now + STATE_POLL_S
                if state in ("stopping", "stopped", "finished", "failed"):
                    self._stop_all()  # (ended by someone else: `study stop` took it for gone)
                    return "stopped"
                for tid in self.store.trial_ids(s.study, "stopping"):
                    self._send_stop(tid)
            self._drain_events()
            self._collect()
            self._check_time_limits()
            done = self.done
            if ended is None and s.early_stop and self.since_best >= s.early_stop:
                ended = "finished"
                log.info("study %s: no improvement in %d trials; stopping early", s.study,
                         s.early_stop)
            if self.clock.expired():
                self._budget_stop()
                ended = "finished"
                grace = s.stop_grace + 5.0
                if self.running and time.monotonic() - (self.budget_stop_at or 0) > grace:
                    self._abandon("stopped by the study budget and did not stop in time")
            exhausted = False
            if ended is None and state != "paused":
                exhausted = not self._fill(done)
                done = self.done
            if not self.running and (ended or exhausted or (self.asha is None
                                                            and done >= s.n_trials)):
                if exhausted and self.budget_refused:
                    self.ended_by = "budget"  # nothing fits in the time left
                return "finished"
            self._update_bar(done, state)
            futures = [r.future for r in self.running.values()]
            if futures:
                try:
                    wait(futures, timeout=0.25, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    pass
            else:
                time.sleep(0.25)

    def _submit(self, job: Job | None = None) -> None:
        s = self.s
        job = job or Job("new", 0, None)
        fidelity: dict[str, Any] = {}
        if job.kind == "promote":
            assert job.trial_id is not None and self.asha is not None
            tid = job.trial_id
            params = self.store.trial_rows(s.study, tid)[0]["params"]
            fidelity = {"resume": self._resume_bundle(tid)}
            self.store.update_trial(s.study, tid, status="queued", rung=job.rung,
                                    budget=job.budget, error=None)
        else:
            tid = self.store.next_trial_id(s.study)
            # the space's initial points are the study's first trials (a known-good
            # configuration gets measured whatever the algorithm's start-up draws)
            point = self.space.initial_vals(tid) if hasattr(self.space, "initial_vals") else None
            params, vals = self.hyper.ask_point(tid, point) if point else self.hyper.ask(tid)
            self.store.add_trial(s.study, tid, params, vals=vals, space_version=self.version)
            if self.asha is not None:
                self.store.update_trial(s.study, tid, rung=0, budget=job.budget)
        if self.asha is not None:
            self.asha.start(tid, job.rung)
            fidelity.update(rung=job.rung, budget=job.budget, from_budget=job.from_budget,
                            keep_checkpoint=job.rung < self.asha.top)
        time_limit = s.time_limit
        if self.clock.seconds is not None:  # a trial stops itself at the study's deadline
            left = max(1.0, self.clock.left() - self.clock.margin)
            time_limit = min(time_limit, left) if time_limit else left
        isolate = s.isolate if s.isolate is not None else s.uses_satseg
        env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
        if s.trial_threads:
            n = str(s.trial_threads)
            env.update(OMP_NUM_THREADS=n, TF_NUM_INTRAOP_THREADS=n, TF_NUM_INTEROP_THREADS="1")
        stop_event = f"{self.topic}-stop-{tid}"
        task = TrialTask(study=s.study, trial_id=tid, params=params, objective=self.objective,
                         topic=self.topic, stop_event=stop_event, time_limit=time_limit,
                         isolate=isolate, stop_grace=s.stop_grace, env=env, fidelity=fidelity)
        key = f"satseg-trial-{self.topic}-{tid}" + (f"-r{job.rung}" if job.rung else "")
        fut = self.client.submit(execute_trial, task, key=key, pure=False)
        self.running[tid] = _Running(fut, params, stop_event, time.monotonic(), job=job)
        log.info("study %s: trial %d submitted%s", s.study, tid,
                 f" (rung {job.rung}, budget {job.budget})" if self.asha is not None else "")

    def _resume_bundle(self, tid: int) -> Any:
        """The promoted trial's run folder with its checkpoints, packed for its worker (None
        when it kept none: the trial then trains its rung from scratch)."""
        try:
            from satseg.search.artifacts import pack_run, trial_run_dir

            return pack_run(trial_run_dir(self.store, self.s.study, tid), checkpoints=True)
        except Exception as exc:  # noqa: BLE001 - the trial restarts instead of resuming
            log.warning("trial %d: no checkpoint to continue from (%s); it restarts", tid, exc)
            return None

    # ------------------------------------------------------------------ messages
    def _settle_events(self, quiet_s: float = 0.3, most_s: float = 1.5) -> None:
        """Before the driver stops listening: store the epoch rows still on their way. A
        trial's last row travels through the scheduler's topic apart from its result and can
        arrive after it; the search ended first and that row was lost (1 run in ~20 under
        load). Waits until no message came for ``quiet_s`` (``most_s`` at the most)."""
        end = time.monotonic() + most_s
        quiet_until = time.monotonic() + quiet_s
        while time.monotonic() < min(end, quiet_until):
            if not self.events.empty():
                self._drain_events()
                quiet_until = time.monotonic() + quiet_s
            time.sleep(0.02)
        self._drain_events()

    def _drain_events(self) -> None:
        while True:
            try:
                msg = self.events.get_nowait()
            except queue.Empty:
                return
            tid = msg.get("trial_id")
            run = self.running.get(tid)
            if run is None:
                if msg.get("kind") == "epoch" and tid in self.finished_here:
                    self._late_epoch(tid, msg.get("row") or {})
                continue
            if msg.get("kind") == "start":
                run.attempts += 1
                run.started = time.monotonic()
                fields = {"status": "stopping" if run.stop_sent else "running",
                          "worker": msg.get("worker"),
                          "started": msg.get("started"), "retries": run.attempts - 1}
                self.store.update_trial(self.s.study, tid, **fields)
                if run.attempts > 1:
                    log.warning("trial %d restarted on %s (its worker died); attempt %d", tid,
                                msg.get("worker"), run.attempts)
                if run.attempts - 1 > self.s.retries:
                    run.future.cancel()
                    self._record(tid, {"status": "fail", "error": f"its worker died "
                                       f"{run.attempts - 1} time(s); retries exhausted"})
            elif msg.get("kind") == "epoch":
                row = msg.get("row") or {}
                self.store.add_history(self.s.study, tid, row)
                self._maybe_prune(tid, row)

    def _late_epoch(self, tid: int, row: dict) -> None:
        """An epoch row that arrived after its trial's result (events and results travel
        separately): store it unless the result's own history holds it already."""
        hist = self.store.trial(self.s.study, tid)["history"]
        key = (row.get("unit"), row.get("epoch"))
        if all((r.get("unit"), r.get("epoch")) != key for r in hist):
            self.store.add_history(self.s.study, tid, row)
            if tid in self.pruner.curves:
                self.pruner.add(tid, [*hist, row])

    def _maybe_prune(self, tid: int, row: dict) -> None:
        if not self.s.prune or tid in self.pruned:
            return
        prune, med, n = self.pruner.should_prune(row)
        if prune:
            log.info("trial %d pruned at epoch %s: %s %.4f vs median %.4f of %d trials", tid,
                     row.get("epoch"), self.s.prune_metric, row[self.s.prune_metric], med, n)
            self.pruned.add(tid)
            self._send_stop(tid)

    def _send_stop(self, tid: int) -> None:
        from distributed import Event

        run = self.running.get(tid)
        if run is not None and not run.stop_sent:
            Event(run.stop_event, client=self.client).set()
            run.stop_sent = True

    # ------------------------------------------------------------------ results
    def _collect(self) -> None:
        for tid, run in list(self.running.items()):
            fut = run.future
            if fut.status == "finished":
                self._record(tid, fut.result())
            elif fut.status in ("error", "cancelled"):
                exc = fut.exception() if fut.status == "error" else None
                name = type(exc).__name__ if exc is not None else "cancelled"
                why = ("its worker died too often (KilledWorker)" if name == "KilledWorker"
                       else f"{name}: {exc}")
                self._record(tid, {"status": "fail", "error": why})

    def _check_time_limits(self) -> None:
        """In-process trials cannot be killed: past their limit plus a grace, give up on them
        (recorded failed; the worker stays busy until the objective returns)."""
        tl = self.s.time_limit
        if not tl:
            return
        isolated = self.s.isolate if self.s.isolate is not None else self.s.uses_satseg
        grace = self.s.stop_grace * (2.0 if isolated else 1.0) + 1.0
        for tid, run in list(self.running.items()):
            if run.started is not None and time.monotonic() - run.started > tl + grace:
                run.future.cancel()
                self._record(tid, {"status": "fail", "error": f"time limit {tl:g} s exceeded and "
                                   "the objective did not stop"})

    def _record(self, tid: int, out: dict[str, Any]) -> None:
        run = self.running.pop(tid, None)
        self.finished_here.add(tid)
        status, reason = out.get("status", "fail"), out.get("stop_reason")
        obj = out.get("objective")
        error = out.get("error")
        status, obj, error, reason = self._fidelity_outcome(tid, run, out, status, obj, error,
                                                            reason)
        if reason == "budget":
            pass
        elif reason == "requested":
            status = "pruned" if tid in self.pruned else "stopped"
        elif reason == "time_limit" and status == "ok":
            error = error or "stopped at its time limit"
        elif reason == "time_limit":
            error = f"time limit reached before a result ({error})"
        if status == "pruned" and obj is None:
            status = "fail"
        retries = max(0, (run.attempts if run else 1) - 1)
        if status in ("ok", "fail", "pruned"):
            self.done = getattr(self, "done", 0) + 1
        artifacts, error = self._write_artifacts(tid, out, status, obj, error)
        self.store.finish_trial(
            self.s.study, tid, status=status, objective=obj if status != "fail" else None,
            history=out.get("history"), per_class=out.get("per_class"),
            artifacts=artifacts, error=error, duration=out.get("duration"),
            worker=out.get("worker"), started=out.get("started"), finished=out.get("finished"),
            retries=retries)
        self._drop_replaced(tid)
        if status in ("ok", "pruned"):
            self.hyper.tell(tid, obj, ok=True)
        else:
            self.hyper.drop(tid)
        if status == "ok":
            if self.s.prune:
                self.pruner.add(tid, self.store.trial(self.s.study, tid)["history"])
            # the rung recorded (a promotion that failed keeps its lower rung's result)
            rung = self.store.trial(self.s.study, tid).get("rung")
            improved = self._note_best(obj, int(rung or 0))
            self._keep_runs(tid, out, improved)
        elif status in ("fail", "pruned"):
            self.since_best += 1
        log.info("study %s: trial %d %s%s", self.s.study, tid, status,
                 f" objective {obj:.4f}" if obj is not None else f" ({error})")

    def _fidelity_outcome(self, tid: int, run: _Running | None, out: dict[str, Any],
                          status: str, obj: Any, error: str | None, reason: str | None
                          ) -> tuple[str, Any, str | None, str | None]:
        """Budget and ASHA bookkeeping of a finished job; ``(status, objective, error,
        reason)`` to record. A trial stopped by the budget keeps its best epoch (``ok``); a
        promoted trial that failed or stopped without a result keeps its lower rung's."""
        job = run.job if run is not None else None
        by_budget = tid in self.budget_stopped or (reason == "time_limit"
                                                   and self.clock.expired())
        if by_budget:
            reason = "budget"
            status = "ok" if obj is not None else "stopped"
            error = "stopped by the study budget; kept with its best epoch" if obj is not None \
                else "stopped by the study budget before a result"
        rung = job.rung if job is not None else 0
        prev = self.asha.results[rung - 1].get(tid) if self.asha is not None and rung else None
        if rung and (obj is None or status not in ("ok", "pruned")) and prev is not None:
            assert self.asha is not None
            what = "stopped" if by_budget or reason else "failed"
            error = f"continuing to rung {rung} {what} ({error}); kept its rung {rung - 1} result"
            status, obj = "ok", prev
            for k in ("bundle", "history", "per_class"):
                out.pop(k, None)
            self.store.update_trial(self.s.study, tid, rung=rung - 1,
                                    budget=self.asha.budget(rung - 1))
            self.asha.abandon(tid)
            return status, obj, error, reason
        if self.asha is not None and job is not None:
            if by_budget or status not in ("ok", "pruned", "fail"):
                self.asha.abandon(tid)  # stopped: stays at its last finished rung
                if obj is not None:
                    self.asha.results[rung][tid] = float(obj)
            else:
                self.asha.report(tid, rung, obj if status != "fail" else None)
            if rung and out.get("bundle") is not None:  # its new folder replaces the old one
                self._replaced[tid] = self.store.trial(self.s.study, tid)["artifacts"].get(
                    "run_dir")
        if (job is not None and status == "ok" and not by_budget
                and out.get("duration") is not None):
            added = (job.budget - job.from_budget) if job.budget is not None else 1.0
            self.clock.record(rung, float(out["duration"]), added)
        return status, obj, error, reason

    def _drop_replaced(self, tid: int) -> None:
        """After a promoted trial's new run folder is recorded, remove its previous one."""
        old = self._replaced.pop(tid, None)
        if old and not self.store.artifact_users(old):
            try:
                self._sink().remove(old)
            except Exception as exc:  # noqa: BLE001 - debris at worst, never a lost result
                log.warning("trial %d: its previous run folder %s stays (%s)", tid, old, exc)

    def _note_best(self, obj: float | None, rung: int = 0) -> bool:
        """Whether ``obj`` at ``rung`` is the study's new best: a higher rung wins, then the
        better objective (as :meth:`StudyStore.best_trial` chooses)."""
        if obj is None:
            return False
        if rung > self.best_rung or (rung == self.best_rung and (
                self.best is None or self.sign * obj > self.sign * self.best)):
            self.best, self.best_rung, self.since_best = obj, rung, 0
            return True
        self.since_best += 1
        return False

    def _prunes_runs_now(self) -> bool:
        """``keep_runs="best"`` keeps only the best run folder as trials finish, except under
        ASHA: a trial waiting at a lower rung may still be promoted and continue from its
        checkpoint, so every folder stays until the study has finished (:meth:`_keep_only_best`)."""
        return self.s.keep_runs == "best" and self.asha is None

    def _keep_only_best(self) -> None:
        """ASHA with ``keep_runs="best"``, once the study has finished: every run folder but the
        best trial's (at the highest rung, the one ``train-best`` starts from) is removed."""
        best = self.store.best_trial(self.s.study)
        if best is None:  # nothing to prefer: nothing is removed
            return
        for r in self.store.trial_rows(self.s.study):
            if r["trial_id"] != best["trial_id"]:
                self._drop_artifacts(int(r["trial_id"]))

    def _sink(self) -> Any:
        if getattr(self, "_run_sink", None) is None:
            from satseg.search.artifacts import RunSink

            self._run_sink = RunSink.for_study(self.store, self.s.study, self.s.runs_dir)
        return self._run_sink

    def _write_artifacts(self, tid: int, out: dict[str, Any], status: str, obj: Any,
                         error: str | None) -> tuple[dict[str, Any], str | None]:
        """Write the run folder the worker shipped (``bundle``) under the study's runs root;
        ``(artifacts to record, error)``. With ``keep_runs="best"`` only a new best is written.
        A write failure is noted in the error, never loses the trial's result."""
        bundle = out.pop("bundle", None)
        arts = dict(out.get("artifacts") or {})
        if bundle is None:
            return arts, error
        if self._prunes_runs_now() and not (
                status == "ok" and obj is not None
                and (self.best is None or self.sign * obj > self.sign * self.best)):
            return arts, error
        try:
            written, write_s = self._sink().write(
                tid, bundle, {"study": self.s.study, "duration": out.get("duration"),
                              "worker": out.get("worker"), "finished": out.get("finished"),
                              "received": time.time()})
        except Exception as exc:  # noqa: BLE001 - disk full, object store down: result stands
            log.error("trial %d: its run folder could not be written: %s", tid, exc)
            why = f"its run folder could not be written under {self._sink().base}: {exc}"
            return arts, f"{error}; {why}" if error else why
        arts.update(written)
        dur = out.get("duration") or 0.0
        log.info("trial %d: %d artifact file(s), %.2f MB, packed in %.3f s, written in %.3f s "
                 "(%.2f%% of the trial) to %s", tid, len(bundle.files), bundle.size / 1e6,
                 bundle.pack_s, write_s, 100 * (bundle.pack_s + write_s) / dur if dur else 0.0,
                 written["run_dir"])
        return arts, error

    def _keep_runs(self, tid: int, out: dict[str, Any], improved: bool) -> None:
        """``keep_runs="best"``: a new best removes the study's other run folders; a folder
        that another trial record (of any study in the store) also names is never removed."""
        if not self._prunes_runs_now():
            return
        doomed = [tid] if not improved else [
            r["trial_id"] for r in self.store.trial_rows(self.s.study) if r["trial_id"] != tid]
        for t in doomed:
            self._drop_artifacts(t)

    def _drop_artifacts(self, tid: int) -> None:
        """Remove trial ``tid``'s run folder and its record's artifacts (when no other trial
        record names the folder)."""
        run_dir = self.store.trial(self.s.study, tid)["artifacts"].get("run_dir")
        if run_dir and self._drop_run(tid, run_dir):
            self.store.delete_artifacts(self.s.study, tid)

    def _drop_run(self, tid: int, url: str) -> bool:
        from satseg.search.artifacts import is_local, local_path

        if self.store.artifact_users(url) != [(self.s.study, tid)]:
            return False
        if self._sink().owns(url):
            return bool(self._sink().remove(url))
        if is_local(url) and local_path(url).is_dir():  # a folder the objective wrote itself
            shutil.rmtree(local_path(url), ignore_errors=True)
            return True
        return False

    # ------------------------------------------------------------------ stopping
    def _stop_all(self) -> None:
        """Ask every running trial to stop; wait for them (``stop_grace`` plus a little)."""
        for tid in list(self.running):
            self._send_stop(tid)
        t_end = time.monotonic() + self.s.stop_grace + 5.0
        while self.running and time.monotonic() < t_end:
            self._drain_events()
            self._collect()
            time.sleep(0.1)
        self._abandon("the study was stopped")

    def _abandon(self, why: str) -> None:
        for tid, run in list(self.running.items()):
            self.running.pop(tid, None)
            self.store.update_trial(self.s.study, tid, status="stopped", error=why)
            try:
                self._send_stop(tid)
                run.future.cancel()
            except Exception:  # noqa: BLE001 - cluster may be gone already
                pass

    # ------------------------------------------------------------------ progress + result
    def _open_bar(self) -> None:
        if self.progress is True:
            from tqdm.auto import tqdm

            # with a time budget and no trial count the bar counts trials without a total
            total = None if self.s.budget and self.s.n_trials >= 100000 else self.s.n_trials
            self.bar = tqdm(total=total, initial=min(self._n_done(), self.s.n_trials),
                            desc=self.s.study, unit="trial")

    def _update_bar(self, done: int, state: str) -> None:
        info = {"study": self.s.study, "done": done, "running": len(self.running),
                "total": self.s.n_trials, "best": self.best, "state": state}
        key = (done, len(self.running), self.best, state)
        if key == getattr(self, "_last_info", None):
            return
        self._last_info = key
        if self.bar is not None:
            self.bar.n = min(done, self.s.n_trials)
            best = "-" if self.best is None else f"{self.best:.4f}"
            self.bar.set_postfix_str(f"running {len(self.running)}, best {best}, {state}",
                                     refresh=True)
        elif callable(self.progress):
            self.progress(info)

    def _result(self, state: str) -> SearchResult:
        c = self._counts()
        return SearchResult(study=self.s.study, state=state, n_ok=c.get("ok", 0),
                            n_failed=c.get("fail", 0), n_pruned=c.get("pruned", 0),
                            best=self.store.best_trial(self.s.study), store=str(self.store.path),
                            counts=c)
