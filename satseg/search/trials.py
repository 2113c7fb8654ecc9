"""``DaskTrials``: run plain ``hyperopt.fmin`` on a dask cluster, as SparkTrials does on Spark.

::

    from hyperopt import fmin, hp, tpe
    from satseg.search import DaskTrials
    trials = DaskTrials(parallelism=4, scheduler="tcp://host:8786")   # or client=...
    best = fmin(objective, {"x": hp.uniform("x", -1, 1)}, algo=tpe.suggest, max_evals=100,
                trials=trials)

The pattern of ``hyperopt/spark.py``: an asynchronous Trials (``asynchronous = True``) whose
``fmin`` runs hyperopt's own ``FMinIter`` in asynchronous mode, queueing at most
``parallelism`` new trials, while a dispatcher thread submits every *new* trial document to
dask, marks it running, and writes the result (or the error) back into the stored document.
Errors, worker deaths (``KilledWorker``) and trials past ``trial_timeout`` become failed trials
(``JOB_STATE_ERROR`` with ``misc['error']``); ``timeout`` (the whole run), ``loss_threshold`` and
``early_stop_fn`` behave as in ``fmin``. The objective must be picklable (a top-level function).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from hyperopt import Trials, base

log = logging.getLogger("satseg.search.trials")


def _evaluate(domain: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The dask task: hyperopt's own evaluation of one point (``Domain.evaluate``)."""
    return domain.evaluate(spec, base.Ctrl(None))


class DaskTrials(Trials):
    """hyperopt Trials that evaluate on dask workers (see the module doc).

    Args:
        parallelism: trials running at once (default: the cluster's worker count).
        client: an existing ``distributed.Client``; else ``scheduler`` (address) or
            DASK_SCHEDULER_ADDRESS, else a local cluster of ``parallelism`` workers.
        trial_timeout: seconds after which a running trial is recorded as failed (dask cannot
            interrupt it: its worker stays busy until the objective returns).
        timeout: seconds for the whole ``fmin`` (running trials are cancelled).
        tls: TLS files for a ``tls://`` scheduler (see satseg.search.cluster).
    """

    asynchronous = True
    poll_interval_secs = 0.02

    def __init__(self, parallelism: int | None = None, *, client: Any = None,
                 scheduler: str | None = None, trial_timeout: float | None = None,
                 timeout: float | None = None, tls: dict[str, str] | None = None,
                 exp_key: str | None = None, refresh: bool = True):
        super().__init__(exp_key=exp_key, refresh=refresh)
        if parallelism is not None and parallelism < 1:
            raise ValueError(f"DaskTrials parallelism must be >= 1, got {parallelism}")
        self.parallelism = parallelism
        self.trial_timeout = trial_timeout
        self.timeout = timeout
        self._client, self._scheduler, self._tls = client, scheduler, tls
        self._fmin_cancelled = False
        self._fmin_cancelled_reason: str | None = None

    # hyperopt pickles Trials (trials_save_file): leave the client and thread out
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        return state

    def fmin(self, fn, space, algo, max_evals, timeout=None, loss_threshold=None,
             max_queue_len=None, rstate=None, verbose=False, pass_expr_memo_ctrl=None,
             catch_eval_exceptions=False, return_argmin=True, show_progressbar=True,
             early_stop_fn=None, trials_save_file=""):
        """Called by ``hyperopt.fmin(..., trials=DaskTrials(...))``; do not call directly."""
        import numpy as np
        from hyperopt import fmin as hyperopt_fmin  # noqa: F401 - for the docs link
        from hyperopt.fmin import FMinIter, space_eval

        from satseg.search.cluster import close, connect

        if pass_expr_memo_ctrl:
            raise ValueError("DaskTrials does not support pass_expr_memo_ctrl")
        cluster = None
        client = self._client
        if client is None:
            client, cluster = connect(self._scheduler, self.parallelism or 2, tls=self._tls)
        n_workers = len(client.scheduler_info().get("workers", {})) or 1
        parallelism = self.parallelism or n_workers
        self._fmin_cancelled, self._fmin_cancelled_reason = False, None
        domain = base.Domain(fn, space, pass_expr_memo_ctrl=None)
        rstate = rstate if rstate is not None else np.random.default_rng()
        dispatcher = _Dispatcher(self, client, domain, parallelism,
                                 timeout if timeout is not None else self.timeout, early_stop_fn)
        dispatcher.start()
        try:
            it = FMinIter(algo, domain, self, rstate=rstate, asynchronous=True,
                          max_queue_len=max_queue_len or parallelism,
                          poll_interval_secs=self.poll_interval_secs, max_evals=max_evals,
                          timeout=timeout if timeout is not None else self.timeout,
                          loss_threshold=loss_threshold, verbose=verbose,
                          show_progressbar=show_progressbar, early_stop_fn=None,
                          trials_save_file=trials_save_file)
            it.catch_eval_exceptions = catch_eval_exceptions
            it.exhaust()
        except KeyboardInterrupt:
            self._fmin_cancelled, self._fmin_cancelled_reason = True, "cancelled by user"
            raise
        finally:
            self._fmin_cancelled = True  # ends the dispatcher; queued trials are cancelled
            self._fmin_cancelled_reason = self._fmin_cancelled_reason or "fmin finished"
            dispatcher.join()
            if cluster is not None:
                close(client, cluster)
            self.refresh()
        if return_argmin:
            if len(self.trials) == 0:
                raise RuntimeError("no trial finished: cannot return the argmin")
            return self.argmin
        return space_eval(space, self.argmin) if len(self) else None


class _Dispatcher(threading.Thread):
    """Submits new trial documents to dask and writes results back (SparkTrials' dispatcher)."""

    def __init__(self, trials: DaskTrials, client: Any, domain: Any, parallelism: int,
                 timeout: float | None, early_stop_fn: Any = None):
        super().__init__(name="satseg-dask-trials", daemon=True)
        self.early_stop_fn = early_stop_fn
        self.early_stop_args: list[Any] = []
        self.trials, self.client, self.domain = trials, client, domain
        self.parallelism, self.timeout = parallelism, timeout
        self.running: dict[int, tuple[Any, dict, float]] = {}
        self.t0 = time.monotonic()

    def run(self) -> None:
        from distributed import wait

        domain_future = self.client.scatter(self.domain, broadcast=True, hash=False)
        tr = self.trials
        while True:
            if self.timeout is not None and time.monotonic() - self.t0 > self.timeout:
                tr._fmin_cancelled, tr._fmin_cancelled_reason = True, "fmin run timeout"
            self._collect()
            if tr._fmin_cancelled and not self._has_new():
                break
            if tr._fmin_cancelled:
                self._cancel_new()
                continue
            for doc in list(tr._dynamic_trials):
                if len(self.running) >= self.parallelism:
                    break
                if doc["state"] == base.JOB_STATE_NEW:
                    self._submit(doc, domain_future)
            futures = [f for f, _, _ in self.running.values()]
            if futures:
                try:
                    wait(futures, timeout=0.02, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    pass
            else:
                time.sleep(0.01)
        for fut, doc, _ in list(self.running.values()):
            fut.cancel()
            self._fail(doc, "cancelled", tr._fmin_cancelled_reason or "cancelled")
        self.running.clear()
        tr.refresh()

    def _has_new(self) -> bool:
        return bool(self.running) or any(
            d["state"] == base.JOB_STATE_NEW for d in self.trials._dynamic_trials)

    def _cancel_new(self) -> None:
        for doc in self.trials._dynamic_trials:
            if doc["state"] == base.JOB_STATE_NEW:
                doc["state"] = base.JOB_STATE_CANCEL
        if not self.running:
            return
        for tid, (fut, doc, _) in list(self.running.items()):
            fut.cancel()
            self._fail(doc, "cancelled", self.trials._fmin_cancelled_reason or "cancelled",
                       state=base.JOB_STATE_CANCEL)
            del self.running[tid]
        self.trials.refresh()

    def _submit(self, doc: dict, domain_future: Any) -> None:
        from hyperopt.utils import coarse_utcnow

        spec = base.spec_from_misc(doc["misc"])
        doc["state"] = base.JOB_STATE_RUNNING
        doc["book_time"] = doc["refresh_time"] = coarse_utcnow()
        fut = self.client.submit(_evaluate, domain_future, spec, pure=False)
        self.running[doc["tid"]] = (fut, doc, time.monotonic())

    def _fail(self, doc: dict, kind: str, msg: str, state: int = base.JOB_STATE_ERROR) -> None:
        from hyperopt.utils import coarse_utcnow

        doc["state"] = state
        doc["misc"]["error"] = (kind, msg)
        doc["result"] = {"status": base.STATUS_FAIL, "error": msg}
        doc["refresh_time"] = coarse_utcnow()

    def _collect(self) -> None:
        from hyperopt.utils import coarse_utcnow

        changed = False
        for tid, (fut, doc, t_start) in list(self.running.items()):
            if fut.status == "finished":
                doc["result"] = fut.result()
                doc["state"] = base.JOB_STATE_DONE
                doc["refresh_time"] = coarse_utcnow()
            elif fut.status in ("error", "cancelled"):
                exc = fut.exception() if fut.status == "error" else None
                self._fail(doc, type(exc).__name__ if exc else "cancelled", str(exc))
            elif (self.trials.trial_timeout is not None
                  and time.monotonic() - t_start > self.trials.trial_timeout):
                fut.cancel()
                self._fail(doc, "timeout", f"trial exceeded {self.trials.trial_timeout:g} s")
            else:
                continue
            del self.running[tid]
            changed = True
        if changed:
            self.trials.refresh()
            self._early_stop()

    def _early_stop(self) -> None:
        """hyperopt's early_stop_fn on the finished trials only (as SparkTrials does it in its
        dispatcher: in fmin's loop the last trial may still be running)."""
        if self.early_stop_fn is None or self.trials._fmin_cancelled:
            return
        view = Trials()
        view._dynamic_trials = [d for d in self.trials._dynamic_trials
                                if d["state"] == base.JOB_STATE_DONE]
        view.refresh()
        if not view.trials:
            return
        stop, self.early_stop_args = self.early_stop_fn(view, *self.early_stop_args)
        if stop:
            log.info("early stop: cancelling the remaining trials")
            self.trials._fmin_cancelled = True
            self.trials._fmin_cancelled_reason = "early stopping condition"
