"""The budget clock: durations, estimates, the deadline (fake clock, milliseconds)."""

from __future__ import annotations

import math

import pytest

from satseg.errors import ConfigError
from satseg.search.budget import BudgetClock, format_duration, parse_duration


@pytest.mark.parametrize("text,secs", [("30m", 1800), ("90s", 90), ("2h", 7200),
                                       ("1h30m", 5400), ("1.5h", 5400), ("45", 45),
                                       (" 2m 30s ", 150), (120, 120)])
def test_parse(text, secs):
    assert parse_duration(text) == secs


@pytest.mark.parametrize("text", ["", "abc", "30x", "m30", "30m1h", "1m1m", "0s", "-5m", "1e3"])
def test_parse_bad(text):
    with pytest.raises(ConfigError, match="--budget"):
        parse_duration(text)


def test_format():
    assert format_duration(5400) == "1h30m"
    assert format_duration(95) == "1m35s"
    assert format_duration(0) == "0s"


class Fake:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_clock_deadline_and_estimates():
    t = Fake()
    c = BudgetClock(60, clock=t)
    assert c.left() == 60 and c.fits(0)  # nothing measured: the first job starts
    c.record(0, 20.0, added_budget=1)
    t.t += 20
    assert c.estimate(0) == 20 and c.fits(0)
    t.t += 25  # 15 s left: a 20 s job does not fit
    assert not c.fits(0)
    # rung 1 adds 2 units: estimated from rung 0's rate, 40 s
    assert c.estimate(1, added_budget=2) == 40
    c.record(1, 30.0, added_budget=2)
    assert c.estimate(1, added_budget=2) == 30
    assert not c.expired()
    t.t += 15
    assert c.expired() and c.left() == 0 and not c.fits(0)


def test_clock_uses_slowest_recent_and_margin():
    t = Fake()
    c = BudgetClock(100, margin=10, clock=t)
    for s in (5, 30, 10):
        c.record(0, s)
    assert c.estimate(0) == 30
    t.t += 60  # 40 left, 30 usable after the margin
    assert c.fits(0)
    t.t += 1
    assert not c.fits(0)
    t.t += 29.5  # 9.5 left < margin
    assert c.expired()


def test_unlimited_and_first_guess():
    c = BudgetClock(None)
    assert c.left() == math.inf and c.fits(3) and not c.expired()
    t = Fake()
    g = BudgetClock(30, first_guess=45, clock=t)
    assert not g.fits(0)  # the guess says one job would not fit


# ---------------------------------------------------------------------- in the runner (dask)
def _space(sleep):
    return {"params": {"x": {"type": "uniform", "low": 0.1, "high": 1}, "sleep": sleep}}


def test_budget_stops_running_trials_and_keeps_them(plain):
    """Trials far longer than the budget: stopped at the deadline, kept with their best epoch,
    the study finished by its budget within seconds."""
    import time

    from satseg.search import StudyStore, run_search
    from tests.search import asha_objectives as ao

    kw = {k: v for k, v in plain.items() if k != "space"}
    t0 = time.monotonic()
    res = run_search(objective=ao.slow, study="b", n_trials=50, space=_space(60.0), budget=4.0,
                     **kw)
    took = time.monotonic() - t0
    store = StudyStore(plain["store"])
    df = store.trials("b")
    assert res.state == "finished" and took < 4.0 + 12.0
    assert store.study("b")["settings"]["ended_by"] == "budget"
    assert len(df) == 2 and set(df["status"]) == {"ok"}  # partial trials kept, none lost
    assert df["error"].str.contains("budget").all()
    assert (df["objective"] > 0).all()
    assert all(len(store.trial("b", t)["history"]) >= 3 for t in df["trial_id"])


def test_no_trial_starts_that_cannot_finish(plain):
    """1.5 s trials, a 5 s budget, 2 workers: after the first pair (and maybe a second) the
    estimate no longer fits; the study ends by budget with only whole trials, none stopped."""
    from satseg.search import StudyStore, run_search
    from tests.search import asha_objectives as ao

    kw = {k: v for k, v in plain.items() if k != "space"}
    res = run_search(objective=ao.slow, study="n", n_trials=50, space=_space(1.5), budget=5.0,
                     **kw)
    store = StudyStore(plain["store"])
    df = store.trials("n")
    assert res.state == "finished" and store.study("n")["settings"]["ended_by"] == "budget"
    assert 2 <= len(df) <= 6 and set(df["status"]) == {"ok"}
    assert not df["error"].fillna("").str.contains("budget").any()
