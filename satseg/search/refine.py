"""Space refinement: where to widen or narrow a space after some trials.

From the finished trials of a study: a numeric parameter whose best value sits within ``edge``
(10 %) of a bound is probably limited by that bound (and so do half of the top trials, within twice that): suggest widening it by half the range, on
the log scale for log ranges, as far as the training config allows); a range whose top trials
(the best ``top`` share, at least 3) cover under half of it can be narrowed around them (with
a 10 % margin); choice options that no top trial uses, though tried at least twice, can be
dropped. ``apply`` turns chosen suggestions into a new space; a study continues in it with
``run_search(..., resume=True, space=new)``, its history kept (trials outside stay visible,
those inside inform TPE).

No advice at all before :data:`MIN_FINISHED` (10) trials have finished ``ok``: with fewer, where
the best trial sits says more about the random draws than about the space (after 2 trials "the
best value is at a bound" is true of half the parameters).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from satseg.errors import SpaceError
from satseg.search.space import SearchSpace, load_space, option_index

#: Finished (``ok``) trials a study needs before any refinement is suggested.
MIN_FINISHED = 10


@dataclass
class Refinement:
    """Suggestions (dicts: param, kind, message, and the new low/high or options) and the
    space with the applied ones (the input space when nothing was applied)."""

    suggestions: list[dict[str, Any]]
    space: SearchSpace
    applied: list[dict[str, Any]] = field(default_factory=list)

    def to_yaml(self) -> str:
        return self.space.to_yaml()


def _rows(trials: Any) -> list[dict[str, Any]]:
    if trials is None:
        return []
    if hasattr(trials, "to_dict"):  # DataFrame
        return trials.to_dict("records")
    return [({**r["params"], **r} if "params" in r else dict(r)) for r in trials]


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _scale(p) -> tuple:
    log = "log" in p.type
    f = (lambda v: math.log(v)) if log else (lambda v: float(v))
    g = (lambda u: math.exp(u)) if log else (lambda u: u)
    return f, g


def _round(p, v: float) -> float:
    if p.is_integer:
        return float(int(round(v)))
    return float(f"{v:.4g}")


def _valid(space: SearchSpace, name: str, spec: dict[str, Any], check: bool) -> bool:
    doc = space.to_dict()
    doc["params"][name] = spec
    try:
        load_space(doc, check_fields=check)
        return True
    except SpaceError:
        return False


def suggest(space: SearchSpace, rows: list[dict[str, Any]], *, direction: str = "maximize",
            top: float = 0.2, edge: float = 0.1, min_trials: int = MIN_FINISHED,
            check_fields: bool = True) -> list[dict[str, Any]]:
    """The suggestions of the module doc for ``space`` from trial rows."""
    ok = [r for r in rows if _finite(r.get("objective")) and r.get("status", "ok") == "ok"]
    if not ok or len(ok) < min_trials:
        return []
    sign = 1 if direction == "maximize" else -1
    ok.sort(key=lambda r: -sign * r["objective"])
    k = max(3, int(math.ceil(top * len(ok))))
    best, tops = ok[0], ok[:k]
    out: list[dict[str, Any]] = []
    for name, p in space.params.items():
        used = [r for r in ok if name in r and r[name] is not None
                and not (isinstance(r[name], float) and math.isnan(r[name]))]
        if not used or name not in best:
            continue
        if p.type == "choice":
            top_idx = {option_index(p.options, r[name]) for r in tops if name in r}
            tried = [option_index(p.options, r[name]) for r in used]
            drop = [o for i, o in enumerate(p.options) if i not in top_idx and tried.count(i) >= 2]
            keep = [o for o in p.options if o not in drop]
            if drop and keep and len(ok) >= min_trials:
                out.append({"param": name, "kind": "drop_options", "options": keep,
                            "dropped": drop, "message": f"{name}: options {drop} were tried "
                            f"but none is among the best {k} trials; drop them"})
            continue
        f, g = _scale(p)
        lo, hi = f(p.low), f(p.high)
        span = hi - lo
        u = (f(best[name]) - lo) / span if span > 0 else 0.5
        spec = dict(p.spec)
        us = [(f(r[name]) - lo) / span for r in tops if _finite(r.get(name))] if span > 0 else []
        near_lo = u <= edge and sum(v <= 2 * edge for v in us) >= len(us) / 2
        near_hi = u >= 1 - edge and sum(v >= 1 - 2 * edge for v in us) >= len(us) / 2
        for side, near in (("low", near_lo), ("high", near_hi)):
            if not near:
                continue
            for frac in (0.5, 0.25, 0.1):
                new = lo - frac * span if side == "low" else hi + frac * span
                val = g(new)
                if side == "low" and p.low is not None and p.low >= 0 and "log" not in p.type:
                    val = max(0.0, val)
                val = _round(p, val)
                if val == getattr(p, side):
                    break
                cand = {**spec, side: int(val) if p.is_integer else val}
                if _valid(space, name, cand, check_fields):
                    out.append({"param": name, "kind": f"widen_{side}", side: cand[side],
                                "message": f"{name}: the best value {best[name]:.4g} sits near "
                                f"the {side} bound {getattr(p, side):g}; widen it to "
                                f"{cand[side]:g}"})
                    break
            else:
                out.append({"param": name, "kind": "at_limit", "message": f"{name}: the best "
                            f"value sits at the {side} bound {getattr(p, side):g}, which the "
                            "training config does not allow to widen"})
        if len(ok) >= min_trials and edge < u < 1 - edge:
            vals = [f(r[name]) for r in tops if _finite(r.get(name))]
            a, b = min(vals) - 0.1 * span, max(vals) + 0.1 * span
            a, b = max(a, lo), min(b, hi)
            if b - a < 0.5 * span:
                new_lo, new_hi = _round(p, g(a)), _round(p, g(b))
                if new_lo < new_hi:
                    cand = {**spec, "low": new_lo, "high": new_hi}
                    if p.is_integer:
                        cand.update(low=int(new_lo), high=int(new_hi))
                    if _valid(space, name, cand, check_fields):
                        out.append({"param": name, "kind": "narrow", "low": cand["low"],
                                    "high": cand["high"], "message": f"{name}: the best {k} "
                                    f"trials lie in [{new_lo:g}, {new_hi:g}] of "
                                    f"[{p.low:g}, {p.high:g}]; narrow the range"})
    return out


def apply(space: SearchSpace, items: list[dict[str, Any]], *,
          check_fields: bool = True) -> SearchSpace:
    """A new space with the suggestions ``items`` applied (others untouched)."""
    doc = copy.deepcopy(space.to_dict())
    for it in items:
        name = it.get("param")
        if name not in space.params:
            raise SpaceError(f"refinement names parameter {name!r}, which the space does not "
                             f"search; searched: {list(space.params)}")
        spec = doc["params"][name]
        for key in ("low", "high", "options"):
            if key in it:
                spec[key] = it[key]
    return load_space(doc, check_fields=check_fields)


def refine_space(space: Any, trials: Any = None, *, apply: Any = None,
                 direction: str = "maximize", top: float = 0.2, edge: float = 0.1,
                 min_trials: int = MIN_FINISHED, check_fields: bool = True) -> Refinement:
    """Suggestions for ``space`` from ``trials`` (``StudyStore.trials`` DataFrame or row dicts);
    ``apply``: True for all of them, or a list of suggestion dicts to apply."""
    space = load_space(space, check_fields=check_fields)
    items = suggest(space, _rows(trials), direction=direction, top=top, edge=edge,
                    min_trials=min_trials, check_fields=check_fields) if trials is not None else []
    chosen = items if apply is True else list(apply or [])
    chosen = [c for c in chosen if c.get("kind") != "at_limit"]
    new = _apply(space, chosen, check_fields=check_fields) if chosen else space
    return Refinement(suggestions=items, space=new, applied=chosen)


_apply = apply
