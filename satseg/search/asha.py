"""Asynchronous successive halving (ASHA) over the trials that TPE proposes (as in BOHB).

Successive halving (Jamieson & Talwalkar 2016; Hyperband, Li et al., JMLR 2018) trains many
configurations on a small budget and continues only the best ``1/eta`` of them on ``eta`` times
the budget, rung after rung. Its asynchronous form, ASHA (Li et al., "A System for Massively
Parallel Hyperparameter Tuning", MLSys 2020, Algorithm 2), never waits for a rung to fill: a
worker that frees up looks from the top rung down for a trial that lies in the top ``1/eta`` of
its rung and was not promoted yet, and promotes it; when there is none it starts a new
configuration at the bottom rung. BOHB (Falkner et al., ICML 2018) draws those new configurations
from a TPE-like model; here they come from hyperopt's TPE, told each trial's result at the highest
rung it reached (satseg.search.runner does the telling).

Rung ``k`` trains to ``min_budget * eta**k`` (epochs or steps, the objective decides), and a
promoted trial continues from its checkpoint at rung ``k`` to the budget of rung ``k + 1``: the
lower rungs' work is never repeated. This module is pure bookkeeping (no dask, no store) so that
the promotion rule is tested in milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from satseg.errors import ConfigError


@dataclass(frozen=True)
class Job:
    """What a free worker should run next: a ``new`` trial at rung 0, or the ``promote``-d trial
    ``trial_id`` continued to ``rung`` (its budget ``budget``, from ``from_budget``)."""

    kind: str  # "new" | "promote"
    rung: int
    budget: float | None
    trial_id: int | None = None
    from_budget: float = 0.0


def n_rungs(min_budget: float, max_budget: float, eta: int) -> int:
    """Rungs between ``min_budget`` and ``max_budget`` (both included when they lie a power of
    ``eta`` apart): ``floor(log_eta(max / min)) + 1``."""
    # the small epsilon keeps 1 * 3**2 == 9 exact against float rounding of the logarithm
    return int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9)) + 1


@dataclass
class ASHA:
    """The rung ladder and promotion rule of one study (see the module doc).

    Args:
        min_budget: budget of rung 0 (> 0).
        max_budget: the largest budget (>= min_budget); the top rung is the largest
            ``min_budget * eta**k`` not above it.
        eta: reduction factor (>= 2): the top ``1/eta`` of a rung go on, with ``eta`` x budget.
        maximize: True when a higher objective is better (Jaccard).
        protected: trials promoted at every rung whatever their rank there (the space's
            ``initial_points``: known-good configurations). Why: on a CPU budget rung 0 is a
            few dozen steps, and its ranking measures how fast a network starts, not where it
            ends; the plain U-Net recipe ranked last there on the Dubai tiles (0.07 after 40
            steps) and was cut, although it trains best in minutes (docs/search.md).
    """

    min_budget: float = 1.0
    max_budget: float = 9.0
    eta: int = 3
    maximize: bool = True
    # results[k][trial_id] = objective at rung k (None: failed there, never promoted)
    results: list[dict[int, float | None]] = field(default_factory=list)
    promoted: list[set[int]] = field(default_factory=list)
    running: dict[int, int] = field(default_factory=dict)  # trial_id -> rung it runs at
    protected: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not (isinstance(self.eta, int) and self.eta >= 2):
            raise ConfigError(f"ASHA eta = {self.eta!r}: must be an integer >= 2 (3 is usual)")
        if not self.min_budget > 0:
            raise ConfigError(f"ASHA min_budget = {self.min_budget!r}: must be > 0")
        if not self.max_budget >= self.min_budget:
            raise ConfigError(f"ASHA max_budget = {self.max_budget!r}: must be >= min_budget "
                              f"({self.min_budget})")
        k = n_rungs(self.min_budget, self.max_budget, self.eta)
        self.results = self.results or [{} for _ in range(k)]
        self.promoted = self.promoted or [set() for _ in range(k)]

    # ------------------------------------------------------------------ the ladder
    @property
    def top(self) -> int:
        """Index of the top rung."""
        return len(self.results) - 1

    def budget(self, rung: int) -> float:
        """Budget of ``rung`` (an int when the budgets are whole numbers)."""
        b = self.min_budget * self.eta ** rung
        return int(round(b)) if float(b).is_integer() else b

    # ------------------------------------------------------------------ bookkeeping
    def start(self, trial_id: int, rung: int) -> None:
        """Trial ``trial_id`` was started at ``rung`` (new, or promoted to it)."""
        if rung > 0:
            self.promoted[rung - 1].add(trial_id)
        self.running[trial_id] = rung

    def report(self, trial_id: int, rung: int, objective: float | None) -> None:
        """The trial's result at ``rung`` (None or NaN: it failed there)."""
        self.running.pop(trial_id, None)
        if objective is not None and not math.isfinite(float(objective)):
            objective = None
        self.results[rung][trial_id] = None if objective is None else float(objective)

    def abandon(self, trial_id: int) -> None:
        """The trial stopped without a result at the rung it ran (study stopped, budget): it
        stays at its last finished rung and is not promoted again from there."""
        rung = self.running.pop(trial_id, None)
        if rung is not None and rung > 0:
            self.promoted[rung - 1].add(trial_id)

    def add_finished(self, trial_id: int, rung: int, objective: float | None,
                     promoted: bool = False) -> None:
        """A trial from an earlier run of the study (resume): its results up to ``rung``."""
        for k in range(rung):
            self.results[k].setdefault(trial_id, objective)
            self.promoted[k].add(trial_id)
        self.results[rung][trial_id] = objective
        if promoted and rung < self.top:
            self.promoted[rung].add(trial_id)

    def rung_of(self, trial_id: int) -> int | None:
        """The highest rung the trial finished (None: none yet)."""
        done = [k for k, r in enumerate(self.results) if trial_id in r]
        return max(done) if done else None

    # ------------------------------------------------------------------ the rule
    def _key(self, item: tuple[int, float | None]) -> tuple[bool, float, int]:
        tid, obj = item
        ok = obj is not None
        val = (obj if self.maximize else -obj) if obj is not None else -math.inf
        return (ok, val, -tid)  # ties: the older trial first

    def promotable(self, rung: int) -> list[int]:
        """Trials in the top ``floor(n / eta)`` of ``rung`` (n = results there, failed ones
        counted as the worst) that succeeded and were not promoted yet, best first; the
        :attr:`protected` ones that succeeded come before them, whatever their rank."""
        if rung >= self.top:
            return []
        res = self.results[rung]
        n_top = len(res) // self.eta
        ranked = sorted(res.items(), key=self._key, reverse=True)
        first = [tid for tid, _ in ranked if tid in self.protected]
        order = first + [tid for tid, _ in ranked[:n_top] if tid not in self.protected]
        return [tid for tid in order
                if res[tid] is not None and tid not in self.promoted[rung]]

    def next_job(self, allow_new: bool = True) -> Job | None:
        """ASHA's ``get_job``: the best promotion, looking from the top rung down; else a new
        trial at rung 0 (None when ``allow_new`` is False and nothing can be promoted)."""
        for k in range(self.top - 1, -1, -1):
            cands = self.promotable(k)
            if cands:
                return Job("promote", k + 1, self.budget(k + 1), cands[0], self.budget(k))
        if allow_new:
            return Job("new", 0, self.budget(0))
        return None

    def best(self) -> tuple[int, int, float] | None:
        """``(trial_id, rung, objective)`` of the best result at the highest rung that has one."""
        for k in range(self.top, -1, -1):
            ok = [(t, o) for t, o in self.results[k].items() if o is not None]
            if ok:
                tid, obj = max(ok, key=self._key)
                assert obj is not None
                return tid, k, obj
        return None


def choose_job(asha: ASHA | None, clock: Any, allow_new: bool = True) -> Job | None:
    """The next job that fits the time left on ``clock`` (a :class:`BudgetClock`).

    With ``asha``: its promotions from the top rung down, then a new trial at rung 0, skipping
    any whose estimated duration does not fit. Without (``--fidelity none``): a new trial of
    the full budget (``rung`` 0, ``budget`` None: the objective's own). None: nothing fits."""
    if asha is None:
        return Job("new", 0, None) if allow_new and clock.fits(0) else None
    for k in range(asha.top - 1, -1, -1):
        for tid in asha.promotable(k):
            added = asha.budget(k + 1) - asha.budget(k)
            if clock.fits(k + 1, added):
                return Job("promote", k + 1, asha.budget(k + 1), tid, asha.budget(k))
            break  # the best candidate of this rung does not fit: no other one will
    if allow_new and clock.fits(0, asha.budget(0)):
        return Job("new", 0, asha.budget(0))
    return None
