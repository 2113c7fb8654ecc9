"""Search spaces written in YAML, validated, and converted to hyperopt expressions.

A space document maps dotted parameter names to a spec (``params:`` may wrap the mapping)::

    params:
      training.learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-2}
      model.depth: {type: int, low: 3, high: 4}
      model.base_filters: {type: quniform, low: 8, high: 24, q: 4}
      model.block: {type: choice, options: [plain, residual, dense]}
      model.growth_rate: {type: int, low: 4, high: 16, when: {model.block: dense}}
      training.epochs: 2                      # a plain value: fixed, not searched

Types: ``uniform``/``loguniform`` (floats), ``quniform``/``qloguniform`` (multiples of ``q``),
``int`` (integers, every value equally likely), ``choice`` (``options``). ``when: {PARENT: VALUE
or [VALUES]}`` makes a parameter conditional on a ``choice`` parameter: it is sampled only in
those branches (hyperopt nests it under ``hp.choice``). ``_disabled`` (written by the dashboard)
holds specs that are switched off; ``offered`` on a choice lists options the dashboard offers.

Documents are read with :func:`satseg.io.yamlfile.load_yaml` (a SafeLoader with YAML 1.2 floats)
only; nothing in them is evaluated as code.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satseg.errors import SpaceError

NUMERIC = ("uniform", "loguniform", "quniform", "qloguniform", "int")
TYPES = (*NUMERIC, "choice")
_KEYS = {"type", "low", "high", "q", "options", "offered", "when", "doc"}
DEFAULT_SPACE = Path(__file__).resolve().parents[1] / "configs" / "space_default.yaml"
#: Spaces that ship with satseg, by name: ``--space quick`` works without a file.
BUNDLED_SPACES = {
    "default": DEFAULT_SPACE,
    "quick": DEFAULT_SPACE.with_name("space_quick.yaml"),
    "gpu": DEFAULT_SPACE.with_name("space_gpu.yaml"),
}


def default_space_for_device() -> str:
    """``"gpu"`` when TensorFlow sees a GPU, else ``"default"`` (satseg.training.device)."""
    from satseg.training.device import default_space_for_device as pick

    return pick()


@dataclass(frozen=True)
class Param:
    """One searched parameter: a numeric range or a set of choices, maybe conditional."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    q: float | None = None
    options: tuple[Any, ...] = ()
    when: tuple[str, tuple[Any, ...]] | None = None  # (parent, parent values)
    spec: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def lo(self) -> float:
        """``low`` of a numeric parameter (always set: checked when the space is read)."""
        assert self.low is not None, self.name
        return self.low

    @property
    def hi(self) -> float:
        """``high`` of a numeric parameter (always set: checked when the space is read)."""
        assert self.high is not None, self.name
        return self.high

    @property
    def is_integer(self) -> bool:
        """True when every value is an integer (``int``, or integral ``q`` and bounds)."""
        if self.type == "int":
            return True
        if self.type in ("quniform", "qloguniform"):
            return all(float(v).is_integer() for v in (self.q or 1.0, self.lo, self.hi))
        return False

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in this parameter's range or options."""
        if self.type == "choice":
            return option_index(self.options, value) is not None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        tol = 1e-9 * max(1.0, abs(self.hi))
        return self.lo - tol <= float(value) <= self.hi + tol


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def option_index(options: tuple[Any, ...], value: Any) -> int | None:
    """Index of ``value`` among ``options`` (lists and tuples, 2 and 2.0 compare equal)."""
    target = _norm(value)
    for i, opt in enumerate(options):
        if _norm(opt) == target and type(_norm(opt)) is type(target):
            return i
    return None


def _fail(name: str, rule: str) -> SpaceError:
    return SpaceError(f"search space parameter {name!r}: {rule}")


def _number(name: str, spec: Mapping[str, Any], key: str) -> float:
    v = spec.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _fail(name, f"'{key}' must be a finite number, got {v!r}")
    return float(v)


def _parse_param(name: str, spec: Mapping[str, Any]) -> Param:
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise _fail(name, f"unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise _fail(name, f"unknown distribution {kind!r}; use one of {list(TYPES)}, "
                          "or a plain value for a fixed parameter")
    when = None
    if "when" in spec:
        w = spec["when"]
        if not isinstance(w, Mapping) or len(w) != 1:
            raise _fail(name, f"'when' must map one choice parameter to its value(s), got {w!r}")
        parent, vals = next(iter(w.items()))
        vals = tuple(vals) if isinstance(vals, list) else (vals,)
        if not vals:
            raise _fail(name, "'when' lists no value of its parent")
        when = (str(parent), vals)
    if kind == "choice":
        opts = spec.get("options")
        if not isinstance(opts, list) or not opts:
            raise _fail(name, f"a choice needs a non-empty list 'options', got {opts!r}")
        if any(isinstance(o, Mapping) for o in opts):
            raise _fail(name, "choice options must be plain values or lists, not mappings")
        if len({repr(_norm(o)) for o in opts}) != len(opts):
            raise _fail(name, f"choice options repeat a value: {opts!r}")
        return Param(name, "choice", options=tuple(opts), when=when, spec=dict(spec))
    low, high = _number(name, spec, "low"), _number(name, spec, "high")
    if not low < high:
        raise _fail(name, f"empty range: low ({low:g}) must be below high ({high:g})")
    q = None
    if kind.startswith("q"):
        q = _number(name, spec, "q")
        if q <= 0:
            raise _fail(name, f"'q' must be positive, got {q:g}")
    elif "q" in spec:
        raise _fail(name, f"'q' only applies to quniform/qloguniform, not {kind}")
    if "log" in kind and low <= 0:
        raise _fail(name, f"a {kind} range needs low > 0, got {low:g}; use uniform instead")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise _fail(name, f"an int range needs integer bounds, got [{low:g}, {high:g}]")
    return Param(name, kind, low=low, high=high, q=q, when=when, spec=dict(spec))


class SearchSpace:
    """A validated space: searched :class:`Param` s plus fixed values (see the module doc)."""

    def __init__(self, params: dict[str, Param], fixed: dict[str, Any],
                 disabled: dict[str, Any] | None = None, source: str | None = None,
                 initial_points: Any = None):
        self.params = params
        self.fixed = fixed
        self.disabled = dict(disabled or {})
        self.source = source
        self._children: dict[str | None, list[str]] = {}
        for p in params.values():
            self._children.setdefault(p.when[0] if p.when else None, []).append(p.name)
        self._check_conditions()
        self.initial_points = self._check_points(initial_points)

    def _check_points(self, points: Any) -> list[dict[str, Any]]:
        """``initial_points``: configurations the study tries first, before the algorithm's own
        proposals (a known-good configuration, as hyperopt's ``points_to_evaluate``). Each is a
        mapping of searched parameters to values inside the space; fixed values may be left
        out."""
        if points is None:
            return []
        if not isinstance(points, (list, tuple)):
            raise SpaceError("'initial_points' must be a list of mappings {parameter: value}")
        out = []
        for k, point in enumerate(points, 1):
            if not isinstance(point, Mapping) or not point:
                raise SpaceError(f"initial point {k} must be a mapping {{parameter: value}}, "
                                 f"got {point!r}")
            unknown = sorted(n for n in point if n not in self.params and n not in self.fixed)
            if unknown:
                raise SpaceError(f"initial point {k} names {unknown}, which the space neither "
                                 "searches nor fixes; drop them or add them to 'params'")
            full = {**copy.deepcopy(self.fixed), **copy.deepcopy(dict(point))}
            if self.vals_from_params(full) is None:
                bad = [n for n, v in point.items()
                       if n in self.params and not self.params[n].contains(v)]
                bad += [n for n, v in point.items()
                        if n in self.fixed and _norm(v) != _norm(self.fixed[n])]
                missing = self._missing(full)
                why = (f"values outside the space for {bad}" if bad else
                       f"no value for {missing}" if missing else "it lies outside the space")
                raise SpaceError(f"initial point {k}: {why}; give every searched parameter "
                                 "a value its range or options allow")
            out.append(dict(point))
        return out

    def _missing(self, params: Mapping[str, Any]) -> list[str]:
        """Searched parameters active for ``params`` (their conditions hold) without a value."""
        out = []
        for name, p in self.params.items():
            if name in params:
                continue
            if p.when is None or _norm(params.get(p.when[0])) in [_norm(v) for v in p.when[1]]:
                out.append(name)
        return out

    def initial_vals(self, index: int) -> dict[str, list] | None:
        """hyperopt ``vals`` of initial point ``index`` (None past the last one)."""
        if index >= len(self.initial_points):
            return None
        return self.vals_from_params({**copy.deepcopy(self.fixed), **self.initial_points[index]})

    # ------------------------------------------------------------------ validation
    def _check_conditions(self) -> None:
        for p in self.params.values():
            if p.when is None:
                continue
            parent, vals = p.when
            if parent in self.fixed:
                raise _fail(p.name, f"'when' refers to {parent!r}, which is fixed; make it a "
                                    "choice or drop the condition")
            if parent not in self.params or self.params[parent].type != "choice":
                raise _fail(p.name, f"'when' must refer to a choice parameter of the space, "
                                    f"got {parent!r}")
            bad = [v for v in vals if option_index(self.params[parent].options, v) is None]
            if bad:
                raise _fail(p.name, f"'when' values {bad} are not options of {parent!r} "
                                    f"{list(self.params[parent].options)}")
            seen: set[str] = {p.name}
            cur: str | None = parent
            while cur is not None:
                if cur in seen:
                    raise _fail(p.name, "its 'when' conditions form a cycle")
                seen.add(cur)
                w = self.params[cur].when
                cur = w[0] if w else None

    # ------------------------------------------------------------------ documents
    def to_dict(self) -> dict[str, Any]:
        """The space document (``load_space(space.to_dict())`` gives an equal space)."""
        params: dict[str, Any] = {}
        for name, p in self.params.items():
            params[name] = copy.deepcopy(p.spec)
        for name, v in self.fixed.items():
            params[name] = copy.deepcopy(v)
        doc: dict[str, Any] = {"params": params}
        if self.disabled:
            doc["_disabled"] = copy.deepcopy(self.disabled)
        if self.initial_points:
            doc["initial_points"] = copy.deepcopy(self.initial_points)
        return doc

    def to_yaml(self) -> str:
        """The space document as YAML text."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"SearchSpace({len(self.params)} searched, {len(self.fixed)} fixed)"

    # ------------------------------------------------------------------ hyperopt
    def _branches(self, name: str) -> list[list[str]]:
        """For a choice parameter: the children active in each option's branch."""
        p = self.params[name]
        kids = self._children.get(name, [])
        return [[k for k in kids
                 if option_index((self.params[k].when or ("", ()))[1], opt) is not None]
                for opt in p.options]

    def _label(self, name: str, parent_label: str | None, option: Any) -> str:
        """The hyperopt label: the name, qualified by its branch when the name occurs in more
        than one branch (hyperopt labels must be unique)."""
        p = self.params[name]
        if p.when is None:
            return name
        parent = p.when[0]
        n_branches = sum(name in b for b in self._branches(parent))
        if n_branches == 1 and parent_label == parent:
            return name
        return f"{name}[{parent_label}={_norm(option)!r}]"

    def _leaf(self, p: Param, label: str) -> Any:
        from hyperopt import hp
        from hyperopt.pyll import scope

        if p.type == "uniform":
            return hp.uniform(label, p.low, p.high)
        if p.type == "loguniform":
            return hp.loguniform(label, math.log(p.lo), math.log(p.hi))
        if p.type == "quniform":
            e = hp.quniform(label, p.low, p.high, p.q)
        elif p.type == "qloguniform":
            e = hp.qloguniform(label, math.log(p.lo), math.log(p.hi), p.q)
        elif p.type == "int":  # every integer equally likely, bounds included
            return scope.int(hp.quniform(label, p.lo - 0.4999, p.hi + 0.4999, 1))
        else:
            return hp.choice(label, list(p.options))
        return scope.int(e) if p.is_integer else e

    def _expr(self, names: list[str], parent_label: str | None, option: Any) -> dict[str, Any]:
        from hyperopt import hp

        out: dict[str, Any] = {}
        for name in names:
            p = self.params[name]
            label = self._label(name, parent_label, option)
            if p.type == "choice" and self._children.get(name):
                out[name] = hp.choice(label, [
                    {"__value__": opt, **self._expr(kids, label, opt)}
                    for opt, kids in zip(p.options, self._branches(name), strict=True)
                ])
            else:
                out[name] = self._leaf(p, label)
        return out

    def to_hyperopt(self) -> dict[str, Any]:
        """The hyperopt expression: a (nested) dict; :meth:`flatten` turns a sample flat."""
        return self._expr(self._children.get(None, []), None, None)

    @staticmethod
    def _flat(sample: Mapping[str, Any], out: dict[str, Any]) -> None:
        for k, v in sample.items():
            if isinstance(v, Mapping) and "__value__" in v:
                out[k] = v["__value__"]
                SearchSpace._flat({kk: vv for kk, vv in v.items() if kk != "__value__"}, out)
            else:
                out[k] = v

    def flatten(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """Flat ``{name: value}`` of a hyperopt sample, fixed values included; lists for tuples."""
        out: dict[str, Any] = {}
        self._flat(sample, out)
        flat = {**copy.deepcopy(self.fixed), **out}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in flat.items()}

    def params_from_vals(self, vals: Mapping[str, Any]) -> dict[str, Any]:
        """Flat parameters of hyperopt's ``misc['vals']`` (choice indices resolved)."""
        from hyperopt import space_eval

        point = {k: (v[0] if isinstance(v, (list, tuple)) else v) for k, v in vals.items()
                 if not isinstance(v, (list, tuple)) or len(v)}
        return self.flatten(space_eval(self.to_hyperopt(), point))

    def vals_from_params(self, params: Mapping[str, Any]) -> dict[str, list] | None:
        """hyperopt ``misc['vals']`` for flat ``params``, or None if they lie outside the space
        (a value out of range, an option not offered, a fixed value that differs)."""
        for name, v in self.fixed.items():
            if name in params and _norm(params[name]) != _norm(v):
                return None
        vals: dict[str, list] = {label: [] for label in self.labels()}
        ok = self._encode(self._children.get(None, []), None, None, params, vals)
        return vals if ok else None

    def _encode(self, names, parent_label, option, params, vals) -> bool:
        for name in names:
            p = self.params[name]
            if name not in params or not p.contains(params[name]):
                return False
            label = self._label(name, parent_label, option)
            if p.type == "choice":
                idx = option_index(p.options, params[name])
                assert idx is not None  # p.contains() checked it above
                vals[label] = [idx]
                if self._children.get(name):
                    kids = self._branches(name)[idx]
                    if not self._encode(kids, label, p.options[idx], params, vals):
                        return False
            else:
                vals[label] = [float(params[name])]
        return True

    def labels(self) -> list[str]:
        """Every hyperopt label of the space (conditional ones once per branch)."""
        out: list[str] = []

        def walk(names, parent_label, option):
            for name in names:
                label = self._label(name, parent_label, option)
                out.append(label)
                p = self.params[name]
                if p.type == "choice" and self._children.get(name):
                    for opt, kids in zip(p.options, self._branches(name), strict=True):
                        walk(kids, label, opt)

        walk(self._children.get(None, []), None, None)
        return list(dict.fromkeys(out))

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Whether a flat parameter set lies inside this space."""
        return self.vals_from_params(params) is not None


def _read(doc: Any) -> tuple[Any, str | None]:
    import yaml

    from satseg.io.yamlfile import load_yaml, yaml_error_text  # YAML 1.2: 1e-3 is a number

    if isinstance(doc, (str, Path)) and not (isinstance(doc, str) and "\n" in doc):
        p = Path(doc)
        if not p.is_file() and str(doc) in BUNDLED_SPACES:
            p = BUNDLED_SPACES[str(doc)]
        if not p.is_file():
            raise SpaceError(f"search space file {p} does not exist; give a YAML file or a "
                             f"bundled space name ({', '.join(BUNDLED_SPACES)})")
        try:
            return load_yaml(p.read_text(encoding="utf-8")), str(p)
        except yaml.YAMLError as exc:
            raise SpaceError(f"search space file {p} is not valid YAML: "
                             f"{yaml_error_text(exc)}; fix the syntax there") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpaceError(f"search space file {p} cannot be read as text ({exc}); give a "
                             "YAML file") from None
    if isinstance(doc, str):
        try:
            return load_yaml(doc), None
        except yaml.YAMLError as exc:
            raise SpaceError(f"the search space text is not valid YAML: "
                             f"{yaml_error_text(exc)}") from None
    return doc, None


def load_space(doc: Any = None, *, check_fields: bool = True) -> SearchSpace:
    """A validated :class:`SearchSpace` from a YAML path, YAML text, a mapping, or None (the
    bundled default space). ``check_fields`` checks names and values against satseg's training
    config (``section.field``); turn it off for spaces of other objectives.

    Raises SpaceError naming the parameter, the rule and the fix.
    """
    if isinstance(doc, SearchSpace):
        return doc
    doc, source = _read(DEFAULT_SPACE if doc is None else doc)
    if not isinstance(doc, Mapping):
        raise SpaceError(f"the search space must be a mapping of parameters, got "
                         f"{type(doc).__name__}")
    extra = (sorted(set(doc) - {"params", "_disabled", "description", "initial_points"})
             if "params" in doc else [])
    if extra:
        raise SpaceError(f"unknown top-level key(s) {extra} in the search space; put parameters "
                         "under 'params:'")
    raw = doc.get("params", doc) if "params" in doc else {
        k: v for k, v in doc.items() if k not in ("_disabled", "description")}
    if not isinstance(raw, Mapping) or not raw:
        raise SpaceError("the search space has no parameters; add some under 'params:'")
    params: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    for name, spec in raw.items():
        if not isinstance(name, str) or not name:
            raise SpaceError(f"search space parameter names must be text, got {name!r}")
        if isinstance(spec, Mapping) and "type" in spec:
            params[name] = _parse_param(name, spec)
        elif isinstance(spec, Mapping):
            raise _fail(name, "a mapping needs 'type' (uniform, loguniform, quniform, "
                              "qloguniform, int, choice); quote it as a fixed value otherwise")
        else:
            fixed[name] = spec
    space = SearchSpace(params, fixed, doc.get("_disabled") if "params" in doc else None, source,
                        initial_points=doc.get("initial_points") if "params" in doc else None)
    if check_fields:
        from satseg.search.fields import check_space_fields

        check_space_fields(space)
    return space


def default_space() -> SearchSpace:
    """The bundled default space (satseg/configs/space_default.yaml)."""
    return load_space(None)
