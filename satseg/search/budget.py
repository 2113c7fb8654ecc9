"""The study's time budget: ``parse_duration`` and the ``BudgetClock``.

``satseg search --budget 30m`` (and ``satseg auto``) gives the whole search a wall-clock budget.
The clock answers the runner's two questions:

- may a job start? Only when its estimated duration fits in the time left. Estimates come from the
  measured durations of earlier jobs at the same rung (the slowest of the last few, so a noisy
  machine does not make us optimistic); with none measured at a rung yet, from the rung below
  scaled by the added budget; with nothing measured at all, from ``first_guess`` (None: the first
  job always starts, as nothing is known).
- is the deadline reached? Then running trials are asked to stop and keep their best epoch.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from satseg.errors import ConfigError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text: str | float | int, option: str = "--budget") -> float:
    """Seconds in ``30m``, ``90s``, ``2h``, ``1h30m``, ``1.5h`` (or a plain number of seconds).

    Raises ConfigError naming ``option`` for anything else, or a budget that is not positive."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        secs = float(text)
    else:
        s = str(text).strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", s):
            secs = float(s)
        elif s and re.fullmatch(r"(?:\d+(?:\.\d+)?[hms])+", s):
            units = [u for _, u in _PART.findall(s)]
            if len(set(units)) != len(units) or units != sorted(units, key="hms".index):
                raise ConfigError(f"{option} {text!r}: give each unit once, largest first "
                                  "(e.g. 1h30m)")
            secs = sum(float(n) * _UNITS[u] for n, u in _PART.findall(s))
        else:
            raise ConfigError(f"{option} {text!r} is not a duration; write e.g. 90s, 30m, 2h "
                              "or 1h30m")
    if not (math.isfinite(secs) and secs > 0):
        raise ConfigError(f"{option} {text!r}: the budget must be a positive duration")
    return secs


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1h30m``; ``95`` -> ``1m35s``."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec or not s else "")
    return out or "0s"


@dataclass
class BudgetClock:
    """A wall-clock budget of ``seconds`` from ``start`` (``time.monotonic`` by default).

    Args:
        seconds: the budget (None: unlimited; every question answers yes/no deadline).
        margin: seconds kept free at the end (a stop takes a few seconds to take effect).
        first_guess: assumed duration of a job before any was measured (None: unknown).
        clock: the time source (tests pass a fake one).
    """

    seconds: float | None
    margin: float = 0.0
    first_guess: float | None = None
    clock: Callable[[], float] = time.monotonic
    start: float | None = None
    durations: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    ended: bool = False

    def __post_init__(self) -> None:
        if self.start is None:
            self.start = self.clock()

    @property
    def deadline(self) -> float | None:
        assert self.start is not None
        return None if self.seconds is None else self.start + self.seconds

    def elapsed(self) -> float:
        assert self.start is not None
        return self.clock() - self.start

    def left(self) -> float:
        """Seconds left (inf without a budget)."""
        return math.inf if self.seconds is None else self.seconds - self.elapsed()

    def expired(self) -> bool:
        """True once the deadline (less the margin) has passed."""
        if self.seconds is not None and self.left() <= self.margin:
            self.ended = True
        return self.ended

    def record(self, rung: int, seconds: float, added_budget: float = 1.0) -> None:
        """A job at ``rung`` that added ``added_budget`` (epochs/steps) took ``seconds``."""
        if seconds is not None and math.isfinite(seconds) and seconds >= 0:
            self.durations.setdefault(rung, []).append((float(seconds), float(added_budget)))

    def estimate(self, rung: int, added_budget: float = 1.0) -> float | None:
        """Expected seconds of a job at ``rung`` adding ``added_budget``; None when unknown."""
        seen = self.durations.get(rung)
        if seen:
            return max(s for s, _ in seen[-5:])
        lower = [k for k in self.durations if k < rung]
        if lower:
            k = max(lower)
            # seconds per unit of budget at the nearest rung below, times the budget to add
            rate = max(s / max(b, 1e-9) for s, b in self.durations[k][-5:])
            return rate * added_budget
        return self.first_guess

    def fits(self, rung: int = 0, added_budget: float = 1.0) -> bool:
        """May a job (rung, added budget) start now: does its estimate fit in the time left?"""
        if self.seconds is None:
            return True
        if self.expired():
            return False
        est = self.estimate(rung, added_budget)
        return est is None or est <= self.left() - self.margin
