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
