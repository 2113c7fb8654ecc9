"""TrainConfig: one validated YAML/JSON document for a training run (pure Python, no TensorFlow).

The file has four sections; every key is optional (defaults below), unknown keys raise
``ConfigError``::

    model:      # ModelConfig fields (satseg.models); bands and classes come from the data
      input_size: 128
      crop_margin: 8
      depth: 4
      base_filters: 16
    training:   # see TrainingParams
      mode: auto                # auto | softmax | multiclass | one_vs_all (see TrainingParams)
      epochs: 5
      ...
    data:       # see DataParams
      classes: null             # null = every class of the data set
      indices: []               # e.g. [ndvi, ndwi] (satseg.bands.add_indices)
      ...
    augment:    # see satseg.data.AugmentConfig
      d4: true
      ...

docs/training.md holds the table of every field with its range.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satseg.data.augment import AugmentConfig
from satseg.errors import ConfigError
from satseg.io.yamlfile import as_number

#: auto: softmax when every labelled pixel has exactly one class (colour/code masks), else
#: multiclass; softmax: one softmax over the classes; multiclass: one sigmoid per class (classes
#: may overlap: DSTL, GeoJSON); one_vs_all: one single-class network per class.
MODES = ("auto", "softmax", "multiclass", "one_vs_all")
OPTIMIZERS = ("adam", "nadam", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "cosine_time", "exponential", "step", "plateau")
SPLIT_BY = ("group", "image")
FINAL_VAL = ("whole", "crops")
#: which epoch's model a run keeps as model.keras: the best on validation, or the last one (a
#: final fit on every image, validation images included, whose schedule ends at the deadline)
KEEP = ("best", "last")
LOSS_NAMES = ("bce", "bce_jaccard", "soft_jaccard", "dice", "focal", "cce", "cce_jaccard")


@dataclass(frozen=True, kw_only=True)
class TrainingParams:
    """The ``training`` section."""

    mode: str = "auto"
    epochs: int = 5
    steps_per_epoch: int = 100
    batch_size: int = 12
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    momentum: float = 0.9  # sgd (Nesterov momentum) and rmsprop
    schedule: str = "cosine"
    min_learning_rate: float = 2e-5  # cosine floor and lower bound of every schedule
    decay_rate: float = 0.5  # step/exponential: factor per decay_epochs
    decay_epochs: float = 2.0
    plateau_patience: int = 2
    plateau_factor: float = 0.5
    loss: str = "bce_jaccard"
    class_weights: tuple[float, ...] | None = None
    early_stopping_patience: int = 0  # epochs without val improvement; 0 = off
    keep: str = "best"  # best: the epoch with the best validation Jaccard | last: the last epoch
    time_limit_minutes: float | None = None
    threshold: float = 0.5
    seed: int = 0
    workers: int = 2  # parallel batch builders in tf.data


@dataclass(frozen=True, kw_only=True)
class DataParams:
    """The ``data`` section."""

    classes: tuple[str, ...] | None = None
    indices: tuple[str, ...] = ()
    class_balance: float = 0.3  # 0 = uniform patches, 1 = every patch centred on a class pixel
    val_fraction: float = 0.2
    split_by: str = "group"
    val_ids: tuple[str, ...] | None = None
    val_crop_size: int | None = None  # None = validate on whole images
    val_crops_per_image: int = 4
    cache_dir: str | None = None  # prepared-data cache (satseg.data.cache); None = no cache
    # the validation images also join the training images (a final fit on every image; the
    # validation scores then measure fit, not generalisation: pair with training.keep: last)
    train_on_val: bool = False
    final_val: str = "whole"  # the run's final score: whole validation images | crops (the
    # best epoch's score on the validation crops: no extra pass, for short search trials)


_RANGES: dict[str, tuple[float, float]] = {
    "epochs": (1, 100000),
    "steps_per_epoch": (1, 1000000),
    "batch_size": (1, 4096),
    "learning_rate": (1e-8, 10.0),
    "momentum": (0.0, 0.9999),
    "min_learning_rate": (0.0, 1.0),
    "decay_rate": (1e-6, 1.0),
    "decay_epochs": (1e-3, 1e6),
    "plateau_patience": (1, 1000),
    "plateau_factor": (1e-4, 0.9999),
    "early_stopping_patience": (0, 100000),
    "time_limit_minutes": (1e-3, 1e7),
    "threshold": (1e-6, 1.0 - 1e-6),
    "seed": (0, 2**31 - 1),
    "workers": (1, 64),
    "class_balance": (0.0, 1.0),
    "val_fraction": (1e-3, 0.999),
    "val_crop_size": (16, 100000),
    "val_crops_per_image": (1, 1000),
    "zoom": (0.0, 0.5),
    "elastic_alpha": (0.0, 64.0),
    "elastic_sigma": (1.0, 64.0),
    "gain": (0.0, 0.9),
    "offset": (0.0, 5.0),
}
_CHOICES = {
    "mode": MODES,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "split_by": SPLIT_BY,
    "loss": LOSS_NAMES,
    "final_val": FINAL_VAL,
    "keep": KEEP,
}
_INTS = {
    "epochs",
    "steps_per_epoch",
    "batch_size",
    "plateau_patience",
    "early_stopping_patience",
    "seed",
    "workers",
    "val_crop_size",
    "val_crops_per_image",
}


def _fail(section: str, name: str, value: Any, rule: str) -> ConfigError:
    return ConfigError(f"config field '{section}.{name}' = {value!r}: {rule}")


def _check_value(section: str, name: str, value: Any, default: Any) -> Any:
    if value is None:
        if default is None:
            return None
        raise _fail(section, name, value, "must not be null")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _fail(section, name, value, "must be true or false")
        return value
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise _fail(section, name, value, f"must be one of {list(_CHOICES[name])}")
        return value
    if name in ("classes", "indices", "val_ids"):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _fail(section, name, value, "must be a list of names")
        if name != "indices" and not value:
            raise _fail(section, name, value, "must not be empty (use null for the default)")
        return tuple(value)
    if name == "cache_dir":
        if not isinstance(value, (str, Path)) or not str(value):
            raise _fail(section, name, value, "must be a folder path (or null for no cache)")
        return str(value)
    if name == "class_weights":
        if isinstance(value, (list, tuple)):
            value = [as_number(v) for v in value]
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value
        ):
            raise _fail(section, name, value, "must be a list of non-negative numbers")
        return tuple(float(v) for v in value)
    if name in _RANGES:
        value = as_number(value)  # "1e-3" from JSON, a quoted YAML value or an old store
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise _fail(section, name, value, "must be a number")
        if name in _INTS:
            if isinstance(value, float) and not value.is_integer():
                raise _fail(section, name, value, "must be an integer")
            value = int(value)
        else:
            value = float(value)
        lo, hi = _RANGES[name]
        if not lo <= value <= hi:
            raise _fail(section, name, value, f"must be in [{lo:g}, {hi:g}]")
        return value
    return value


def _section(cls: type, section: str, data: Any) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"config section '{section}' must be a mapping, got {type(data).__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown field(s) {unknown} in config section '{section}'; valid: {sorted(fields)}"
        )
    kwargs = {}
    defaults = cls()
    for name, value in data.items():
        kwargs[name] = _check_value(section, name, value, getattr(defaults, name))
    return cls(**kwargs)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A whole training configuration: model, training, data and augment sections.

    ``model`` is a dict of ModelConfig fields without ``bands``/``classes`` (filled from the data
    at training time; if given they must match the data).
    """

    model: dict[str, Any] = field(default_factory=dict)
    training: TrainingParams = field(default_factory=TrainingParams)
    data: DataParams = field(default_factory=DataParams)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    SECTIONS = ("model", "training", "data", "augment")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TrainConfig:
        """Validated config from the nested mapping (see the module docstring)."""
        data = data or {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"a training config must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.SECTIONS))
        if unknown:
            raise ConfigError(
                f"unknown config section(s) {unknown}; valid sections: {list(cls.SECTIONS)} "
                "(model fields go under 'model:', optimiser settings under 'training:')"
            )
        model = dict(data.get("model") or {})
        from satseg.models.config import ModelConfig

        probe = {"bands": 3, "classes": 1, **model}
        ModelConfig.from_dict(probe)  # raises ConfigError naming the field
        training = _section(TrainingParams, "training", data.get("training"))
        cw = training.class_weights
        if cw is not None and sum(cw) <= 0:
            raise _fail("training", "class_weights", list(cw), "need at least one weight > 0")
        return cls(
            model=model,
            training=training,
            data=_section(DataParams, "data", data.get("data")),
            augment=_section(AugmentConfig, "augment", data.get("augment")),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a YAML file (``ConfigError`` for a missing or malformed file)."""
        from satseg.io.yamlfile import load_yaml_file

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"training config {p} does not exist; give a YAML file")
        data = load_yaml_file(p, what="training config", error=ConfigError)
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc}") from exc

    @classmethod
    def default(cls, name: str = "default") -> TrainConfig:
        """A bundled config: ``default`` (CPU, minutes) or ``full`` (GPU, real work)."""
        if name not in ("default", "full"):
            raise ConfigError(f"bundled training config {name!r}: choose 'default' or 'full'")
        return cls.from_yaml(Path(__file__).resolve().parents[1] / "configs" / f"train_{name}.yaml")

    def to_dict(self) -> dict[str, Any]:
        """The nested plain dict (lists, not tuples); ``from_dict`` reverses it."""
        out: dict[str, Any] = {"model": dict(self.model)}
        for name in ("training", "data", "augment"):
            sec = getattr(self, name)
            out[name] = {f.name: _plain(getattr(sec, f.name)) for f in dataclasses.fields(sec)}
        return out

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def updated(self, overrides: Mapping[str, Any]) -> TrainConfig:
        """A new config with ``{"section.field": value}`` overrides (validated), e.g.
        ``cfg.updated({"model.depth": 3, "training.learning_rate": 1e-3})``."""
        d = self.to_dict()
        for key, value in overrides.items():
            section, _, name = key.partition(".")
            if section not in self.SECTIONS or not name:
                raise ConfigError(
                    f"override key {key!r} must be 'section.field' with a section in "
                    f"{list(self.SECTIONS)}"
                )
            d[section][name] = value
        return TrainConfig.from_dict(d)

    def model_config(self, bands: int, classes: int) -> Any:
        """The ModelConfig for ``bands`` input channels and ``classes`` outputs."""
        from satseg.models.config import ModelConfig

        for key, actual in (("bands", bands), ("classes", classes)):
            given = self.model.get(key)
            if given is not None and int(given) != actual:
                raise ConfigError(
                    f"config field 'model.{key}' = {given} but the data gives {actual}; "
                    f"remove model.{key} (it is taken from the data)"
                )
        return ModelConfig.from_dict({**self.model, "bands": bands, "classes": classes})
