"""``SearchSettings``: everything one search (one study) needs, validated, JSON-able."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from satseg.errors import ConfigError

ALGOS = ("tpe", "random", "atpe")


@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    """Settings of :func:`satseg.search.run_search`.

    Attributes:
        study: study name in the store (``NAME/<class>`` for per-class studies).
        store: study store file (SQLite).
        space: space file, YAML text, mapping or SearchSpace; None = the bundled default (or,
            on resume, the study's latest space).
        data: data set for the satseg objective (``"sample"`` or a folder).
        objective: a picklable callable ``fn(params)`` / ``fn(params, ctx)``; None = train a
            satseg model and return its validation Jaccard (:class:`SatsegObjective`).
        n_trials: finished trials (ok, failed, pruned) the study should have in the end.
        parallelism: trials running at once (one per dask worker).
        scheduler: address of a running dask scheduler (``tcp://`` or ``tls://``); None = the
            DASK_SCHEDULER_ADDRESS variable, else a local cluster of ``parallelism`` workers.
        tls: ``{"ca": ..., "cert": ..., "key": ...}`` files for a ``tls://`` scheduler (else
            dask's ``distributed.comm.tls`` config / environment applies).
        algo: ``tpe`` (default), ``random`` or ``atpe`` (needs lightgbm).
        startup_trials: random trials before TPE models the results.
        seed: the study's seed: the same seed and results give the same suggestions.
        direction: ``maximize`` (Jaccard) or ``minimize``.
        time_limit: seconds per trial (asked to stop, killed after a grace when isolated).
        stop_grace: seconds a trial gets to stop after being asked (then killed when isolated,
            abandoned otherwise).
        retries: times a trial is re-run after its worker died, before it is recorded failed.
        early_stop: end the study after this many finished trials without improvement.
        prune: stop hopeless trials early (median rule on the per-epoch history).
        prune_warmup: epochs a trial always gets before it can be pruned.
        prune_min_trials: finished trials needed at an epoch before the rule applies.
        prune_metric: history column compared (higher is better).
        isolate: run each trial in a fresh subprocess of the worker (default: yes for the
            satseg objective, which frees TensorFlow's memory after every trial).
        classes: classes the satseg objective trains on (None = all).
        val_ids: validation images of the study (None = chosen once, stored, reused).
        exclude_ids: images the search never loads (a held-out test set).
        runs_dir: where the driver writes trial run folders (shipped from the workers): a
            folder or an fsspec URL; default ``<store folder>/<store stem>.runs``. Each study
            gets ``<slug>-<uid>/`` in it (see satseg.search.artifacts).
        keep_runs: ``all`` run folders, or only the ``best`` one.
        trial_threads: CPU threads per trial (TF/OMP variables in isolated trials); None = all.
        resume: continue an existing study (its finished trials inform TPE).
        check_fields: check parameter names against satseg's training config.
        fidelity: ``none`` (every trial trains its full configuration) or ``asha`` (successive
            halving: rungs of ``min_budget * eta**k`` epochs, the top ``1/eta`` of a rung
            continue from their checkpoint; see satseg.search.asha).
        min_budget, max_budget, eta: the ASHA rungs (budget unit: epochs for the satseg
            objective; a plain objective reads ``ctx.budget``).
        budget: wall-clock seconds for the whole search (None: no limit): no trial starts that
            cannot finish in time; at the deadline running trials stop and keep their best
            epoch; the study ends ``finished`` with ``settings.ended_by = 'budget'``.
    """

    study: str = "study"
    store: str = "satseg-study.db"
    space: Any = None
    data: str = "sample"
    objective: Any = None
    n_trials: int = 20
    parallelism: int = 1
    scheduler: str | None = None
    tls: dict[str, str] | None = None
    algo: str = "tpe"
    startup_trials: int = 5
    seed: int = 0
    direction: str = "maximize"
    time_limit: float | None = None
    stop_grace: float = 30.0
    retries: int = 1
    early_stop: int | None = None
    prune: bool = False
    prune_warmup: int = 1
    prune_min_trials: int = 4
    prune_metric: str = "val_jaccard"
    isolate: bool | None = None
    classes: tuple[str, ...] | None = None
    val_ids: tuple[str, ...] | None = None
    exclude_ids: tuple[str, ...] = ()
    runs_dir: str | None = None
    keep_runs: str = "all"
    trial_threads: int | None = None
    resume: bool = False
    check_fields: bool | None = None
    fidelity: str = "none"
    min_budget: float = 1.0
    max_budget: float = 9.0
    eta: int = 3
    budget: float | None = None

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> ConfigError:
            return ConfigError(f"search setting {name} = {getattr(self, name)!r}: {rule}")

        if self.algo not in ALGOS:
            raise bad("algo", f"must be one of {list(ALGOS)}")
        if self.direction not in ("maximize", "minimize"):
            raise bad("direction", "must be 'maximize' or 'minimize'")
        for name in ("n_trials", "parallelism"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "must be an integer >= 1")
        for name in ("retries", "startup_trials", "prune_warmup", "prune_min_trials"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise bad(name, "must be an integer >= 0")
        if self.time_limit is not None and not self.time_limit > 0:
            raise bad("time_limit", "must be a positive number of seconds (or None)")
        if not self.stop_grace > 0:
            raise bad("stop_grace", "must be a positive number of seconds")
        if self.early_stop is not None and self.early_stop < 1:
            raise bad("early_stop", "must be >= 1 trial (or None)")
        if self.keep_runs not in ("all", "best"):
            raise bad("keep_runs", "must be 'all' or 'best'")
        if self.fidelity not in ("none", "asha"):
            raise bad("fidelity", "must be 'none' or 'asha'")
        if self.budget is not None and not self.budget > 0:
            raise bad("budget", "must be a positive number of seconds (or None)")
        if not self.study or not isinstance(self.study, str):
            raise bad("study", "must be a non-empty name")
        for name in ("classes", "val_ids", "exclude_ids"):
            v = getattr(self, name)
            if isinstance(v, (list, str)):
                object.__setattr__(self, name, tuple([v] if isinstance(v, str) else v))
            v = getattr(self, name)
            if v is not None and (not isinstance(v, tuple) or not all(
                    isinstance(i, str) and i.strip() for i in v)):
                raise bad(name, "must be a list of non-empty names (image ids or classes); "
                          "they are checked against the data set before the study starts")

    @property
    def uses_satseg(self) -> bool:
        return self.objective is None

    def replace(self, **changes: Any) -> SearchSettings:
        return dataclasses.replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        """JSON-able settings for the store (objective by name, space left out)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("space", "objective", "resume", "store")}
        out["objective"] = (None if self.objective is None else
                            getattr(self.objective, "__qualname__", type(self.objective).__name__))
        out["check_fields"] = self.check_fields if self.check_fields is not None else (
            self.objective is None)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}
