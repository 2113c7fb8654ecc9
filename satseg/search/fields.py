"""Checks a search space against satseg's training config (``TrainConfig`` sections and fields).

Every parameter must be ``section.field`` of a training config (``model.depth``,
``training.learning_rate``, ``augment.zoom`` ...). Each bound, option and fixed value is tried on
the default config (with the space's fixed values and the parameter's ``when`` condition set), so
an out-of-range value is reported when the space is loaded, not after hours of failed trials.
Combinations of several searched values (``input_size`` vs ``depth``) are checked per trial: an
invalid combination is recorded as a failed trial.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from satseg.errors import ConfigError, SpaceError


def known_fields() -> dict[str, list[str]]:
    """``{section: [field, ...]}`` that a space may search (model bands/classes come from data)."""
    from satseg.data.augment import AugmentConfig
    from satseg.models.config import ModelConfig
    from satseg.training.config import DataParams, TrainingParams

    model = [f.name for f in dataclasses.fields(ModelConfig) if f.name not in ("bands", "classes")]
    return {
        "model": model,
        "training": [f.name for f in dataclasses.fields(TrainingParams)],
        "data": [f.name for f in dataclasses.fields(DataParams)],
        "augment": [f.name for f in dataclasses.fields(AugmentConfig)],
    }


def nested(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"model.depth": 3}`` -> ``{"model": {"depth": 3}}`` (integral floats made int where the
    default is an int, so configs read naturally)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = value
    return out


def check_space_fields(space: Any) -> None:
    """SpaceError for an unknown ``section.field`` or a value the training config rejects."""
    from satseg.training.config import TrainConfig

    fields = known_fields()
    for name in [*space.params, *space.fixed]:
        section, _, fld = name.partition(".")
        if section not in fields:
            raise SpaceError(
                f"search space parameter {name!r}: unknown section {section!r}; names are "
                f"'section.field' with a section in {list(fields)} (e.g. training.learning_rate)"
            )
        if fld not in fields[section]:
            raise SpaceError(
                f"search space parameter {name!r}: unknown field {fld!r} of section "
                f"{section!r}; valid: {fields[section]}"
            )
    base = dict(space.fixed)

    def probe(name: str, value: Any, extra: dict[str, Any]) -> None:
        try:
            TrainConfig.from_dict(nested({**base, **extra, name: value}))
        except ConfigError as exc:
            raise SpaceError(f"search space parameter {name!r}: value {value!r} is not a valid "
                             f"training setting ({exc}); change its range or options") from exc

    if base:
        try:
            TrainConfig.from_dict(nested(base))
        except ConfigError as exc:
            raise SpaceError(f"the fixed values of the search space are not a valid training "
                             f"config: {exc}") from exc
    for name, p in space.params.items():
        cond: dict[str, Any] = {}
        cur = p
        while cur.when is not None:
            cond[cur.when[0]] = cur.when[1][0]
            cur = space.params[cur.when[0]]
        values = list(p.options) if p.type == "choice" else [p.low, p.high]
        if p.is_integer:
            values = [int(round(v)) for v in values]
        for v in values:
            probe(name, v, cond)
