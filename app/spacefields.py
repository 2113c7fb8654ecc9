"""Search-space fields as the Hyperspace tab edits them, and their YAML form.

The widgets edit a list of :class:`Field`; the YAML editor edits the space document. Both go
through ``satseg.search.load_space`` for validation, so the page never accepts a space the search
would reject. YAML is read with ``yaml.safe_load`` only; nothing typed in the page is evaluated.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from satseg.errors import SpaceError


@dataclass(kw_only=True)
class Field:
    """One dimension of the space: a numeric range, a set of choices, or a fixed value."""

    name: str
    kind: str  # "float" | "int" | "choice" | "fixed"
    low: float | None = None
    high: float | None = None
    log: bool = False
    q: float | None = None
    options: list[Any] = field(default_factory=list)   # every option offered (choice)
    selected: list[Any] = field(default_factory=list)  # options kept in the space (choice)
    value: Any = None  # the fixed value (fixed, or a disabled field)
    enabled: bool = True
    bounds: tuple[float, float] | None = None  # limits of the slider (numeric)


def parse_yaml(text: str) -> dict[str, Any]:
    """The YAML text as a mapping (``yaml.safe_load``); SpaceError with line and column."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpaceError(f"the YAML is not valid{where}: {problem}; fix the text and try again") from exc
    if not isinstance(doc, dict):
        raise SpaceError(
            f"the search space must be a YAML mapping of parameters, got {type(doc).__name__}"
        )
    return doc


def dump_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


def _slider_bounds(low: float, high: float, log: bool) -> tuple[float, float]:
    """Slider limits a little wider than the range, so it can grow."""
    if log and low > 0:
        return low / 10.0, high * 10.0
    span = (high - low) or 1.0
    return low - span, high + span


def clone(fields: list[Field]) -> list[Field]:
    return copy.deepcopy(fields)


def check_field(f: Field) -> str:
    """A message for an invalid field, or ``""``."""
    if not f.enabled:
        return ""
    if f.kind in ("float", "int"):
        if f.low is None or f.high is None or not (math.isfinite(f.low) and math.isfinite(f.high)):
            return "needs a finite low and high"
        if f.low >= f.high:
            return f"low ({f.low:g}) must be below high ({f.high:g})"
        if f.log and f.low <= 0:
            return f"a log scale needs low > 0, got {f.low:g}"
    if f.kind == "choice" and not f.selected:
        return "keep at least one choice (or disable the field)"
    return ""
