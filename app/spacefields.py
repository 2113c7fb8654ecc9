"""Search-space fields as the Hyperspace tab edits them, and their YAML form.

The widgets edit a list of :class:`Field`; the YAML editor edits the space document. Both go
through ``satseg.search.load_space`` for validation, so the page never accepts a space the search
would reject. YAML is read with ``satseg.io.yamlfile.load_yaml`` (safe) only; nothing typed in
the page is evaluated.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from satseg.errors import SpaceError
from satseg.io.yamlfile import load_yaml


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
    when: dict[str, Any] | None = None  # condition on a choice (satseg.search), kept as is


def parse_yaml(text: str) -> dict[str, Any]:
    """The YAML text as a mapping (``load_yaml``); SpaceError with line and column."""
    try:
        doc = load_yaml(text)  # satseg's one YAML reader: 1e-3 is a float
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


class _Dumper(yaml.SafeDumper):
    """Mappings one key a line, lists on one line: short lines that fit the page's editor."""


_Dumper.add_representer(
    list, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))
_Dumper.add_representer(
    tuple, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))


def dump_yaml(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


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


# ---------------------------------------------------------------------------- dict <-> fields
# The space document maps a dotted parameter name (``training.learning_rate``) to a spec:
#   {type: uniform|loguniform, low, high}   a float range (log scale for loguniform)
#   {type: int|quniform|qloguniform, low, high[, q]}   an integer/quantised range
#   {type: choice, options: [...]}          a set of choices
#   a plain value                           fixed (not searched)
# A disabled field keeps its spec under ``_disabled`` so it can be enabled again.

NUMERIC = {"uniform": ("float", False), "loguniform": ("float", True),
           "int": ("int", False), "quniform": ("int", False), "qloguniform": ("int", True)}


def fields_from_dict(doc: dict[str, Any]) -> list[Field]:
    """Fields of a space document (see above); SpaceError names the bad parameter."""
    out = []
    params = doc.get("params", doc)
    disabled = doc.get("_disabled", {}) if "params" in doc else {}
    for name, spec in list(params.items()) + [(k, v) for k, v in disabled.items()]:
        if name in ("_disabled",):
            continue
        enabled = name not in disabled
        if isinstance(spec, dict) and "type" in spec:
            kind = str(spec["type"])
            if kind in NUMERIC:
                typ, log = NUMERIC[kind]
                try:
                    low, high = float(spec["low"]), float(spec["high"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise SpaceError(f"parameter {name!r}: a {kind} range needs numeric low and high") from exc
                f = Field(name=name, kind=typ, low=low, high=high, log=log, q=spec.get("q"),
                          enabled=enabled, bounds=_slider_bounds(low, high, log),
                          when=spec.get("when"))
            elif kind == "choice":
                opts = spec.get("options")
                if not isinstance(opts, list) or not opts:
                    raise SpaceError(f"parameter {name!r}: a choice needs a non-empty list 'options'")
                f = Field(name=name, kind="choice", options=list(spec.get("offered", opts)),
                          selected=list(opts), enabled=enabled, when=spec.get("when"))
            else:
                raise SpaceError(
                    f"parameter {name!r}: unknown type {kind!r}; use one of "
                    f"{', '.join([*NUMERIC, 'choice'])} or a plain value"
                )
        else:
            f = Field(name=name, kind="fixed", value=spec, enabled=enabled)
        out.append(f)
    return out


def dict_from_fields(fields: list[Field]) -> dict[str, Any]:
    """The space document of ``fields`` (inverse of :func:`fields_from_dict`)."""
    params: dict[str, Any] = {}
    disabled: dict[str, Any] = {}
    for f in fields:
        if f.kind in ("float", "int"):
            typ = {("float", False): "uniform", ("float", True): "loguniform",
                   ("int", False): "quniform" if f.q else "int", ("int", True): "qloguniform"}[(f.kind, f.log)]
            spec: Any = {"type": typ, "low": _num(f.low, f.kind), "high": _num(f.high, f.kind)}
            if f.q:
                spec["q"] = f.q
        elif f.kind == "choice":
            spec = {"type": "choice", "options": list(f.selected)}
            if set(map(repr, f.options)) != set(map(repr, f.selected)):
                spec["offered"] = list(f.options)
        else:
            spec = f.value
        if f.when and isinstance(spec, dict):
            spec["when"] = f.when
        (params if f.enabled else disabled)[f.name] = spec
    doc: dict[str, Any] = {"params": params}
    if disabled:
        doc["_disabled"] = disabled
    return doc


def _num(v: float | None, kind: str) -> Any:
    if v is None:
        return None
    return int(round(v)) if kind == "int" else float(v)
