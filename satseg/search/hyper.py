"""The ask/tell bridge to hyperopt: one in-memory ``Trials`` that mirrors the study store.

hyperopt's algorithms are functions ``algo(new_ids, domain, trials, seed) -> docs``. We ask for
one suggestion at a time (``tpe.suggest`` returns one document per call after its start-up
trials anyway), insert it as *running* (hyperopt treats running trials as infinitely bad and
counts them toward the start-up trials, as in ``fmin``'s asynchronous mode), and tell the
result by updating the stored document (``insert_trial_docs`` stores a deep copy: the returned
documents must not be edited). Each suggestion is seeded from ``(study seed, trial id)``, so a
study replays identically from the same history.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np

from satseg.errors import ConfigError

log = logging.getLogger("satseg.search.hyper")


def get_algo(name: str, startup_trials: int = 5):
    """hyperopt's suggest function for ``tpe``, ``random`` or ``atpe``."""
    if name == "random":
        from hyperopt import rand

        return rand.suggest
    if name == "tpe":
        from hyperopt import tpe

        return functools.partial(tpe.suggest, n_startup_jobs=max(1, startup_trials))
    if name == "atpe":
        try:
            import lightgbm  # noqa: F401
            from hyperopt import atpe
        except ImportError as exc:
            raise ConfigError(
                "algo 'atpe' (adaptive TPE) needs the lightgbm package, which is not installed: "
                "`pip install 'satseg[atpe]'` (or lightgbm), or use --algo tpe") from exc
        return atpe.suggest
    raise ConfigError(f"unknown search algorithm {name!r}; use tpe, random or atpe")


def _noop(_: Any) -> float:
    return 0.0


class HyperoptState:
    """hyperopt's Trials + Domain for one space, fed from the store."""

    def __init__(self, space: Any, algo: str = "tpe", startup_trials: int = 5, seed: int = 0,
                 direction: str = "maximize"):
        from hyperopt import Domain, Trials

        self.space = space
        self.expr = space.to_hyperopt() if hasattr(space, "to_hyperopt") else space
        self.domain = Domain(_noop, self.expr)
        self.trials = Trials()
        self.algo = get_algo(algo, startup_trials)
        self.algo_name = algo
        self.seed = int(seed)
        self.sign = -1.0 if direction == "maximize" else 1.0

    def _doc(self, tid: int) -> dict[str, Any] | None:
        for doc in self.trials._dynamic_trials:
            if doc["tid"] == tid:
                return doc
        return None

    def ask(self, tid: int) -> tuple[dict[str, Any], dict[str, list]]:
        """Suggest trial ``tid``: ``(flat params, hyperopt vals)``; it is now *running*."""
        from hyperopt import JOB_STATE_RUNNING

        seed = int(np.random.default_rng([self.seed, int(tid)]).integers(2**31 - 1))
        self.trials.refresh()
        docs = self.algo([tid], self.domain, self._history(), seed)
        if not docs:
            raise ConfigError("the search algorithm made no suggestion (space exhausted?)")
        self.trials.insert_trial_docs(docs[:1])
        from hyperopt.utils import coarse_utcnow

        doc = self._doc(tid)
        if doc is None:  # insert_trial_docs stores a copy; it must be there now
            raise RuntimeError(f"hyperopt lost the suggested trial {tid}")
        doc["state"] = JOB_STATE_RUNNING
        doc["book_time"] = doc["refresh_time"] = coarse_utcnow()
        self.trials.refresh()
        vals = {k: list(v) for k, v in doc["misc"]["vals"].items()}
        return self.flat(vals), vals

    def ask_point(self, tid: int, vals: dict[str, list]) -> tuple[dict[str, Any], dict[str, list]]:
        """Like :meth:`ask`, for a given point (a space's ``initial_points``): ``(flat params,
        vals)``; it is now *running*, and :meth:`tell` records its result."""
        from hyperopt import JOB_STATE_RUNNING

        vals = {k: list(v) for k, v in vals.items()}
        self._insert(tid, vals, JOB_STATE_RUNNING, {"status": "new"})
        return self.flat(vals), vals

    def _insert(self, tid: int, vals: dict[str, list], state: int, result: dict[str, Any]) -> None:
        """A trial document for ``vals`` in state ``state`` (not proposed by the algorithm)."""
        from hyperopt.utils import coarse_utcnow

        misc = {"tid": tid, "cmd": ("domain_attachment", "FMinIter_Domain"), "workdir": None,
                "idxs": {k: ([tid] if v else []) for k, v in vals.items()},
                "vals": {k: list(v) for k, v in vals.items()}}
        docs = self.trials.new_trial_docs([tid], [None], [result], [misc])
        for d in docs:
            d["state"] = state
            d["book_time"] = d["refresh_time"] = coarse_utcnow()
        self.trials.insert_trial_docs(docs)
        self.trials.refresh()

    def _history(self):
        """What the algorithm sees: every trial (TPE: running ones count as pending, as in
        fmin's asynchronous mode), or only finished ones for ATPE, which reads every trial's
        loss."""
        if self.algo_name != "atpe":
            return self.trials
        from hyperopt import JOB_STATE_DONE, Trials

        view = Trials()
        view._dynamic_trials = [d for d in self.trials._dynamic_trials
                                if d["state"] == JOB_STATE_DONE]
        view.refresh()
        return view

    def flat(self, vals: dict[str, list]) -> dict[str, Any]:
        if hasattr(self.space, "params_from_vals"):
            return self.space.params_from_vals(vals)
        from hyperopt import space_eval

        return space_eval(self.expr, {k: v[0] for k, v in vals.items() if v})

    def tell(self, tid: int, objective: float | None, ok: bool = True) -> None:
        """Record the result of a trial this state suggested (or :meth:`add` ed)."""
        from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR, STATUS_FAIL, STATUS_OK
        from hyperopt.utils import coarse_utcnow

        doc = self._doc(tid)
        if doc is None:
            return
        if ok and objective is not None:
            doc["state"] = JOB_STATE_DONE
            doc["result"] = {"status": STATUS_OK, "loss": self.sign * float(objective)}
        else:  # failed trials leave hyperopt's view (as in fmin)
            doc["state"] = JOB_STATE_ERROR
            doc["result"] = {"status": STATUS_FAIL}
        doc["refresh_time"] = coarse_utcnow()
        self.trials.refresh()

    def drop(self, tid: int) -> None:
        """Forget a suggested trial that never ran (stopped, lost)."""
        self.tell(tid, None, ok=False)

    def add(self, tid: int, vals: dict[str, list], objective: float) -> None:
        """Add a finished trial from the store (resume, refined space)."""
        from hyperopt import JOB_STATE_DONE, STATUS_OK

        self._insert(tid, vals, JOB_STATE_DONE,
                     {"status": STATUS_OK, "loss": self.sign * float(objective)})

    def __len__(self) -> int:
        return len(self.trials.trials)
