"""Refinement advice waits for enough finished trials (satseg.search.refine.MIN_FINISHED)."""

from __future__ import annotations

from satseg.search import load_space, refine_space
from satseg.search.refine import MIN_FINISHED

SPACE = {"params": {"w": {"type": "uniform", "low": 0.0, "high": 10.0}}}


def _rows(n: int, failed: int = 0) -> list[dict]:
    # the best trials crowd the high bound: advice to widen once there are enough of them
    out = [{"trial_id": i, "status": "ok", "w": 9.0 + i / (4 * n), "objective": 9.0 + i / (4 * n)}
           for i in range(n)]
    out += [{"trial_id": n + i, "status": "fail", "w": 1.0, "objective": None} for i in range(failed)]
    return out


def test_no_advice_below_the_minimum_of_finished_trials():
    space = load_space(SPACE, check_fields=False)
    assert MIN_FINISHED >= 10
    assert refine_space(space, _rows(2), check_fields=False).suggestions == []
    # failed trials do not count towards the minimum
    assert refine_space(space, _rows(MIN_FINISHED - 1, failed=5), check_fields=False).suggestions == []
    kinds = [s["kind"] for s in refine_space(space, _rows(MIN_FINISHED), check_fields=False).suggestions]
    assert kinds == ["widen_high"]
